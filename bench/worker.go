package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime/pprof"
	"strings"
	"syscall"
	"time"

	"github.com/plumb-dev/plumb/pipeline"
	"github.com/plumb-dev/plumb/store/pgstore"
)

// The backlog's Plumb workers are this binary run again with -worker:
// separate processes, as in production, so that one process and four are
// measured alike.

// workerProc is a worker process.
type workerProc struct {
	cmd   *exec.Cmd
	stdin io.WriteCloser
	lines chan string
}

func startWorkers(ctx context.Context, c config, n, conc int, label string) ([]*workerProc, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	var ws []*workerProc
	for i := range n {
		args := []string{"-worker", "-dsn", c.dsn, "-concurrency", itoa(conc), "-pool", itoa(c.plumbPool), "-id", fmt.Sprintf("w%d", i)}
		if c.verbose {
			args = append(args, "-v")
		}
		if c.profileDir != "" {
			args = append(args, "-cpuprofile", filepath.Join(c.profileDir, fmt.Sprintf("%s-w%d.pprof", label, i)))
		}
		cmd := exec.CommandContext(ctx, exe, args...)
		cmd.Stderr = os.Stderr
		stdin, err := cmd.StdinPipe()
		if err != nil {
			return nil, err
		}
		stdout, err := cmd.StdoutPipe()
		if err != nil {
			return nil, err
		}
		if err := cmd.Start(); err != nil {
			return nil, err
		}
		w := &workerProc{cmd: cmd, stdin: stdin, lines: make(chan string, 16)}
		go func() {
			sc := bufio.NewScanner(stdout)
			for sc.Scan() {
				w.lines <- sc.Text()
			}
			close(w.lines)
		}()
		ws = append(ws, w)
	}
	for _, w := range ws {
		if err := w.expect("ready", 30*time.Second); err != nil {
			stopWorkers(ws)
			return nil, err
		}
	}
	return ws, nil
}

func (w *workerProc) send(line string) error {
	_, err := io.WriteString(w.stdin, line+"\n")
	return err
}

// expect waits for a line that starts with prefix.
func (w *workerProc) expect(prefix string, limit time.Duration) error {
	t := time.NewTimer(limit)
	defer t.Stop()
	for {
		select {
		case line, ok := <-w.lines:
			if !ok {
				return fmt.Errorf("worker pid %d exited while waiting for %q", w.cmd.Process.Pid, prefix)
			}
			if strings.HasPrefix(line, prefix) {
				return nil
			}
		case <-t.C:
			return fmt.Errorf("worker pid %d: no %q within %s", w.cmd.Process.Pid, prefix, limit)
		}
	}
}

// stopWorkers shuts the workers down gracefully (SIGTERM) and waits; it
// may be called again.
func stopWorkers(ws []*workerProc) {
	for _, w := range ws {
		if w.cmd.ProcessState == nil {
			_ = w.cmd.Process.Signal(syscall.SIGTERM)
		}
	}
	for _, w := range ws {
		if w.cmd.ProcessState == nil {
			_ = w.cmd.Wait()
		}
	}
}

// workerMain is a worker process: it opens the store, says "ready", waits
// for "go" on stdin, then works until SIGTERM or until stdin closes.
func workerMain(args []string) int {
	fs := flag.NewFlagSet("worker", flag.ExitOnError)
	dsn := fs.String("dsn", "", "")
	conc := fs.Int("concurrency", 16, "")
	pool := fs.Int("pool", 8, "")
	id := fs.String("id", "w", "")
	cpuprofile := fs.String("cpuprofile", "", "")
	verbose := fs.Bool("v", false, "report the store's write batching at exit")
	_ = fs.Parse(args)

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	s, err := pgstore.Open(ctx, withParam(*dsn, "pool_max_conns", itoa(*pool)), pgstore.Config{Schema: plumbSchema, SkipMigrate: true})
	if err != nil {
		fmt.Fprintln(os.Stderr, "worker:", err)
		return 1
	}
	defer s.Close()
	wk, err := plumbPipe(s).Runtime().NewWorker(pipeline.WorkerConfig{ID: *id, Concurrency: *conc, Poll: 5 * time.Second, PruneEvery: -1})
	if err != nil {
		fmt.Fprintln(os.Stderr, "worker:", err)
		return 1
	}
	fmt.Println("ready")
	in := bufio.NewScanner(os.Stdin)
	if !in.Scan() || in.Text() != "go" {
		return 0
	}
	go func() { // the parent going away ends the worker
		for in.Scan() {
		}
		stop()
	}()
	if *cpuprofile != "" {
		f, err := os.Create(*cpuprofile)
		if err == nil {
			_ = pprof.StartCPUProfile(f)
			defer func() { pprof.StopCPUProfile(); _ = f.Close() }()
		}
	}
	if err := wk.Run(ctx); err != nil && !errors.Is(err, context.Canceled) {
		fmt.Fprintln(os.Stderr, "worker:", err)
		return 1
	}
	if *verbose {
		ws := s.WriteStats()
		fmt.Fprintf(os.Stderr, "worker %s: %d writes in %d commits (%.1f per commit), %d batches retried op by op; %d claims of %.1f runs\n",
			*id, ws.Ops, ws.Batches, float64(ws.Ops)/float64(max(ws.Batches, 1)), ws.Retried, ws.Claims, float64(ws.Claimed)/float64(max(ws.Claims, 1)))
	}
	return 0
}
