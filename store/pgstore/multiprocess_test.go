package pgstore_test

import (
	"encoding/json"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/plumb-dev/plumb/internal/childproc"
	"github.com/plumb-dev/plumb/store/pgstore"
)

// Three worker processes (this test binary run again, see TestMain) share
// 2,000 runs of the three-step workload. When about a third have
// succeeded, one process is killed with SIGKILL, mid-step, and a fresh
// process takes its place; the killed worker's runs are reclaimed by the
// others once their 2 s leases expire. Then every run must have succeeded
// exactly once, none lost, and no step may have run again after its
// checkpoint committed: the only repeats allowed are the killed process's
// executions that never reached a checkpoint.
func TestMultiProcessWorkersSurviveSIGKILL(t *testing.T) {
	if testing.Short() {
		t.Skip("starts four processes")
	}
	const runs = 2000
	dsn := testDSN(t)
	s := openStore(t, pgstore.Config{})
	prepareWorkload(t, s)
	schema := pgx.Identifier{s.Schema()}.Sanitize()
	log, quiet := newQuietLogger()
	w := &workload{effects: admin(t), schema: schema}
	p := w.pipeline(s, log)

	spec := func(id string) workerSpec {
		return workerSpec{DSN: dsn, Schema: s.Schema(), ID: id, Concurrency: 8, Lease: 2 * time.Second, Work: 5 * time.Millisecond}
	}
	// The victim's steps work for longer, so that when it is killed it
	// is in the middle of steps, not between them: group commit moves
	// a process's runs in step, and a kill that lands while all of them
	// wait for the same commit interrupts no step at all.
	victimSpec := spec("w0")
	victimSpec.Work = 200 * time.Millisecond
	start := time.Now()
	procs := []*proc{startWorker(t, victimSpec), startWorker(t, spec("w1")), startWorker(t, spec("w2"))}
	submitted := make(chan error, 1)
	go func() { submitted <- submit(p, runs) }() // the workers start on the first runs at once

	waitSucceeded(t, schema, runs/3, 40*time.Second)
	victim := procs[0]
	waitMidStep(t, schema, victim.cmd.Process.Pid, 10*time.Second)
	require.NoError(t, victim.cmd.Process.Signal(syscall.SIGKILL))
	_ = victim.cmd.Wait()
	killedAt := countSucceeded(t, schema)
	// The dead worker's leases stand until they expire: these are the runs
	// it held when it died.
	var held int
	require.NoError(t, admin(t).QueryRow(t.Context(), "SELECT count(*) FROM "+schema+
		".runs WHERE status = 'running' AND lease_owner = 'w0'").Scan(&held))
	procs = append(procs, startWorker(t, spec("w3")))

	waitSucceeded(t, schema, runs, 50*time.Second)
	elapsed := time.Since(start)
	require.NoError(t, <-submitted)
	for _, pr := range procs[1:] {
		pr.stop(t)
	}

	o := verifyExactlyOnce(t, schema, runs)
	var takenOver int
	require.NoError(t, admin(t).QueryRow(t.Context(), `SELECT count(DISTINCT e.run_id) FROM `+schema+`.effects e
		WHERE e.pid = $1 AND EXISTS (SELECT FROM `+schema+`.effects f WHERE f.run_id = e.run_id AND f.pid <> $1)`,
		victim.cmd.Process.Pid).Scan(&takenOver))
	assert.Positive(t, held, "the killed worker held runs")
	assert.Positive(t, takenOver, "the killed worker's runs were taken over")
	killed := o.RepeatsByPID[victim.cmd.Process.Pid]
	assert.Positive(t, killed, "the kill interrupted some runs mid-step")
	assert.Equal(t, killed, o.Repeats, "the only repeats are the killed process's unfinished executions: %v", o.RepeatsByPID)
	t.Logf("%d runs in %s by 3 processes, one SIGKILLed after %d runs had succeeded and replaced by a fresh one; "+
		"it held %d runs (%d of them mid-way), all taken over by the others once its leases expired; "+
		"%d step executions, %d repeats (%d by the killed process, whose checkpoints never committed), "+
		"0 executions after a committed checkpoint, %d checkpoints written twice; test-side warnings: %q",
		runs, elapsed.Round(time.Millisecond), killedAt, held, takenOver,
		o.Executions, o.Repeats, killed, o.DuplicateRecords, quiet.summary())
}

// waitMidStep waits until the process pid has started a step (its side
// effect is recorded) whose checkpoint has not been written yet.
func waitMidStep(t *testing.T, schema string, pid int, limit time.Duration) {
	t.Helper()
	q := `SELECT EXISTS (SELECT FROM ` + schema + `.effects e WHERE e.pid = $1 AND NOT EXISTS (
		SELECT FROM ` + schema + `.steps s WHERE s.run_id = e.run_id AND s.idx = e.step AND s.status = 'succeeded'))`
	db := admin(t)
	deadline := time.Now().Add(limit)
	for {
		var mid bool
		require.NoError(t, db.QueryRow(t.Context(), q, pid).Scan(&mid))
		if mid {
			return
		}
		require.False(t, time.Now().After(deadline), "after %s, worker %d was not in the middle of any step", limit, pid)
		time.Sleep(time.Millisecond)
	}
}

// proc is a worker process.
type proc struct {
	cmd *exec.Cmd
	out *syncBuffer
}

type syncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

func startWorker(t *testing.T, spec workerSpec) *proc {
	t.Helper()
	raw, err := json.Marshal(spec)
	require.NoError(t, err)
	cmd := childproc.Command("-test.run=^$")
	cmd.Env = append(os.Environ(), workerEnv+"="+string(raw))
	out := &syncBuffer{}
	cmd.Stdout, cmd.Stderr = out, out
	require.NoError(t, cmd.Start())
	pr := &proc{cmd: cmd, out: out}
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
		}
		if t.Failed() {
			t.Logf("worker %s (pid %d) said:\n%s", spec.ID, cmd.Process.Pid, out.String())
		}
	})
	return pr
}

// stop shuts a worker down gracefully and checks that it exited cleanly.
func (p *proc) stop(t *testing.T) {
	t.Helper()
	require.NoError(t, p.cmd.Process.Signal(syscall.SIGTERM))
	done := make(chan error, 1)
	go func() { done <- p.cmd.Wait() }()
	select {
	case err := <-done:
		assert.NoError(t, err, "worker pid %d:\n%s", p.cmd.Process.Pid, p.out.String())
	case <-time.After(15 * time.Second):
		_ = p.cmd.Process.Kill()
		t.Errorf("worker pid %d did not stop within 15s:\n%s", p.cmd.Process.Pid, p.out.String())
	}
}
