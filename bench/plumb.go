package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/plumb-dev/plumb/pipeline"
	"github.com/plumb-dev/plumb/step"
	"github.com/plumb-dev/plumb/store/pgstore"
)

// The Plumb workload: a pipeline of three trivial steps, each passing the
// item on; every step's output is checkpointed durably (the third one's
// checkpoint is written with the run's outcome, in the same write).

const (
	plumbSchema   = "bench_plumb"
	plumbPipeline = "bench"
)

// Item is the run input and every step's output (about 40 bytes of JSON).
type Item struct {
	N    int    `json:"n"`
	Note string `json:"note"`
}

// plumbPipe builds the pipeline; onStart, when set, is called as each run's
// first step starts.
func plumbPipe(s *pgstore.Store, onStart func(runID string)) *pipeline.Pipeline[Item, Item] {
	rt := pipeline.NewRuntime(pipeline.RuntimeConfig{Store: s, Logger: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))})
	first := func(ctx context.Context, it Item) (Item, error) {
		if onStart != nil {
			onStart(step.RunInfoFrom(ctx).RunID)
		}
		it.N++
		return it, nil
	}
	pass := func(_ context.Context, it Item) (Item, error) { it.N++; return it, nil }
	p := pipeline.New(rt, plumbPipeline, step.New("one", first, step.Config{}), pipeline.Policy{Outage: pipeline.NoOutage})
	p = pipeline.Then(p, step.New("two", pass, step.Config{}))
	return pipeline.Then(p, step.New("three", pass, step.Config{}))
}

// freshPlumb drops the benchmark schema and opens a store that creates it
// again, so that every measurement starts from empty tables.
func freshPlumb(ctx context.Context, dsn string) (*pgstore.Store, error) {
	if err := dropSchema(ctx, dsn, plumbSchema); err != nil {
		return nil, err
	}
	return pgstore.Open(ctx, withParam(dsn, "pool_max_conns", "16"), pgstore.Config{Schema: plumbSchema})
}

func dropSchema(ctx context.Context, dsn, schema string) error {
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	_, err = conn.Exec(ctx, "DROP SCHEMA IF EXISTS "+pgx.Identifier{schema}.Sanitize()+" CASCADE")
	return err
}

func analyze(ctx context.Context, dsn string, tables ...string) error {
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	for _, t := range tables {
		if _, err := conn.Exec(ctx, "VACUUM ANALYZE "+t); err != nil {
			return err
		}
	}
	return nil
}

// submitAll submits runs from..to-1 from 32 goroutines.
func submitAll(ctx context.Context, p *pipeline.Pipeline[Item, Item], n int) error {
	var next atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, 32)
	for range 32 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := next.Add(1)
				if i > int64(n) {
					return
				}
				if _, err := p.Submit(ctx, Item{N: int(i), Note: "a small payload"}, pipeline.SubmitOptions{}); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	return <-errs
}

// plumbThroughput runs c.plumbRuns runs through procs worker processes
// with total runs in flight between them. In backlog
// mode the runs are enqueued first (not timed) and the clock starts when
// the workers are told to go; in submit mode the workers wait idle and the
// parent submits the runs while they work. The clock stops at the last
// run's finish time as the store recorded it.
func plumbThroughput(ctx context.Context, c config, procs, total int, mode string) (result, error) {
	conc := c.plumbConcurrency
	if conc == 0 {
		conc = max(1, total/procs)
	}
	r := result{system: "Plumb", unit: "runs", n: c.plumbRuns, checkpoints: 3 * c.plumbRuns, inFlight: procs * conc, backlog: mode == "backlog",
		config: fmt.Sprintf("pgstore, %d worker proc × %d runs in flight, %s", procs, conc, mode)}
	s, err := freshPlumb(ctx, c.dsn)
	if err != nil {
		return r, err
	}
	defer s.Close()
	p := plumbPipe(s, nil)
	var submitTime time.Duration
	if mode == "backlog" {
		start := time.Now()
		if err := submitAll(ctx, p, c.plumbRuns); err != nil {
			return r, err
		}
		submitTime = time.Since(start)
		if err := analyze(ctx, c.dsn, plumbSchema+".runs", plumbSchema+".attempts"); err != nil {
			return r, err
		}
	}
	workers, err := startWorkers(ctx, c, procs, conc, false, fmt.Sprintf("%dp-%s", procs, mode))
	if err != nil {
		return r, err
	}
	defer stopWorkers(workers)
	t0, cpu0 := time.Now(), sampleCPU()
	for _, w := range workers {
		if err := w.send("go"); err != nil {
			return r, err
		}
	}
	if mode == "submit" {
		if err := submitAll(ctx, p, c.plumbRuns); err != nil {
			return r, err
		}
		submitTime = time.Since(t0)
	}
	end, err := waitPlumb(ctx, s, c.plumbRuns, 5*time.Minute)
	if err != nil {
		return r, err
	}
	use := since(cpu0)
	r.time = end.Sub(t0)
	stopWorkers(workers)
	for _, w := range workers {
		if ps := w.cmd.ProcessState; ps != nil {
			use.workers += ps.UserTime() + ps.SystemTime()
		}
	}
	r.note = fmt.Sprintf("submitted at %.0f runs/s", float64(c.plumbRuns)/submitTime.Seconds())
	r.cpu, r.cpuUnit = use.describe(r.n, r.unit), use.perUnit(r.n)
	return r, verifyPlumb(ctx, s, c.plumbRuns)
}

// waitPlumb waits until n runs have succeeded and returns the last one's
// finish time.
func waitPlumb(ctx context.Context, s *pgstore.Store, n int, limit time.Duration) (time.Time, error) {
	deadline := time.Now().Add(limit)
	q := "SELECT count(*), max(finished_at) FROM " + plumbSchema + ".runs WHERE status = 'succeeded'"
	for {
		var done int
		var last *time.Time
		if err := s.Pool().QueryRow(ctx, q).Scan(&done, &last); err != nil {
			return time.Time{}, err
		}
		if done >= n {
			return *last, nil
		}
		if time.Now().After(deadline) {
			return time.Time{}, fmt.Errorf("plumb: %d of %d runs succeeded after %s", done, n, limit)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// verifyPlumb checks that every run succeeded with a durable record of each
// of its three steps.
func verifyPlumb(ctx context.Context, s *pgstore.Store, n int) error {
	var runs, steps int
	err := s.Pool().QueryRow(ctx, "SELECT (SELECT count(*) FROM "+plumbSchema+".runs WHERE status = 'succeeded'), "+
		"(SELECT count(DISTINCT (run_id, idx)) FROM "+plumbSchema+".steps WHERE status = 'succeeded')").Scan(&runs, &steps)
	if err != nil {
		return err
	}
	if runs != n || steps != 3*n {
		return fmt.Errorf("plumb: %d runs succeeded with %d step records, want %d and %d", runs, steps, n, 3*n)
	}
	return nil
}

// plumbLatency submits runs one at a time to one idle worker process and
// measures how long each takes from just before Submit until its first
// step starts in the worker, woken by LISTEN/NOTIFY (the worker's fallback
// poll is 5 s, so it never finds a run by polling).
func plumbLatency(ctx context.Context, c config) (result, error) {
	r := result{system: "Plumb", unit: "runs", n: c.latencyRuns,
		config: "pgstore, 1 idle worker proc woken by LISTEN/NOTIFY, runs submitted one at a time"}
	s, err := freshPlumb(ctx, c.dsn)
	if err != nil {
		return r, err
	}
	defer s.Close()
	p := plumbPipe(s, nil)
	workers, err := startWorkers(ctx, c, 1, 8, true, "latency")
	if err != nil {
		return r, err
	}
	defer stopWorkers(workers)
	w := workers[0]
	if err := w.send("go"); err != nil {
		return r, err
	}
	time.Sleep(200 * time.Millisecond) // let the worker claim nothing and go idle
	var lat []time.Duration
	for i := range c.latencyRuns {
		t0 := time.Now()
		id, err := p.Submit(ctx, Item{N: i, Note: "latency"}, pipeline.SubmitOptions{})
		if err != nil {
			return r, err
		}
		line, err := w.expect("start "+id, 10*time.Second)
		if err != nil {
			return r, err
		}
		ns, err := strconv.ParseInt(strings.Fields(line)[2], 10, 64)
		if err != nil {
			return r, err
		}
		lat = append(lat, time.Unix(0, ns).Sub(t0))
		// Let the run finish and the worker go idle again.
		for {
			time.Sleep(20 * time.Millisecond)
			d, err := s.GetRun(ctx, id)
			if err != nil {
				return r, err
			}
			if d.Run.Status == "succeeded" {
				break
			}
		}
	}
	slices.Sort(lat)
	l := &latency{p50: pct(lat, 50), p90: pct(lat, 90), p99: pct(lat, 99), max: lat[len(lat)-1]}
	rows, err := s.Pool().Query(ctx, "SELECT (extract(epoch FROM finished_at - created_at) * 1e6)::bigint FROM "+plumbSchema+".runs WHERE status = 'succeeded'")
	if err != nil {
		return r, err
	}
	us, err := pgx.CollectRows(rows, pgx.RowTo[int64])
	if err != nil {
		return r, err
	}
	e2e := make([]time.Duration, len(us))
	for i, u := range us {
		e2e[i] = time.Duration(u) * time.Microsecond
	}
	slices.Sort(e2e)
	l.e2e50, l.e2e99 = pct(e2e, 50), pct(e2e, 99)
	r.latency = l
	return r, nil
}

func pct(sorted []time.Duration, p int) time.Duration {
	return sorted[min(len(sorted)-1, len(sorted)*p/100)]
}

// workerProc is a worker process: this binary run with -worker.
type workerProc struct {
	cmd   *exec.Cmd
	stdin io.WriteCloser
	lines chan string
}

func startWorkers(ctx context.Context, c config, n, conc int, announce bool, label string) ([]*workerProc, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	var ws []*workerProc
	for i := range n {
		args := []string{"-worker", "-dsn", c.dsn, "-concurrency", strconv.Itoa(conc), "-pool", strconv.Itoa(c.plumbPool),
			"-id", fmt.Sprintf("w%d", i)}
		if announce {
			args = append(args, "-announce")
		}
		if c.verbose {
			args = append(args, "-v")
		}
		if c.plumbWriters > 0 {
			args = append(args, "-writers", strconv.Itoa(c.plumbWriters))
		}
		if c.profileDir != "" {
			args = append(args, "-cpuprofile", filepath.Join(c.profileDir, fmt.Sprintf("plumb-%s-w%d.pprof", label, i)))
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
		w := &workerProc{cmd: cmd, stdin: stdin, lines: make(chan string, 1024)}
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
		if _, err := w.expect("ready", 30*time.Second); err != nil {
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
func (w *workerProc) expect(prefix string, limit time.Duration) (string, error) {
	t := time.NewTimer(limit)
	defer t.Stop()
	for {
		select {
		case line, ok := <-w.lines:
			if !ok {
				return "", fmt.Errorf("worker pid %d exited while waiting for %q", w.cmd.Process.Pid, prefix)
			}
			if strings.HasPrefix(line, prefix) {
				return line, nil
			}
		case <-t.C:
			return "", fmt.Errorf("worker pid %d: no %q within %s", w.cmd.Process.Pid, prefix, limit)
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
	announce := fs.Bool("announce", false, "print a line as each run's first step starts")
	cpuprofile := fs.String("cpuprofile", "", "")
	verbose := fs.Bool("v", false, "report the store's write batching at exit")
	writers := fs.Int("writers", 0, "pgstore Config.Writers (0: the default)")
	_ = fs.Parse(args)

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	s, err := pgstore.Open(ctx, withParam(*dsn, "pool_max_conns", strconv.Itoa(*pool)), pgstore.Config{Schema: plumbSchema, SkipMigrate: true, Writers: *writers})
	if err != nil {
		fmt.Fprintln(os.Stderr, "worker:", err)
		return 1
	}
	defer s.Close()
	var out sync.Mutex
	var onStart func(string)
	if *announce {
		onStart = func(runID string) {
			now := time.Now().UnixNano()
			out.Lock()
			fmt.Printf("start %s %d\n", runID, now)
			out.Unlock()
		}
	}
	wk, err := plumbPipe(s, onStart).Runtime().NewWorker(pipeline.WorkerConfig{ID: *id, Concurrency: *conc, Poll: 5 * time.Second, PruneEvery: -1})
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
