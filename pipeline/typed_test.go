package pipeline_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/plumb-dev/plumb/internal/benchfixture"
	"github.com/plumb-dev/plumb/internal/childproc"
	"github.com/plumb-dev/plumb/pipeline"
	"github.com/plumb-dev/plumb/retry"
	"github.com/plumb-dev/plumb/step"
	"github.com/plumb-dev/plumb/store"
	"github.com/plumb-dev/plumb/store/pgstore"
	"github.com/plumb-dev/plumb/store/sqlitestore"
)

// typedLeads is a 3-step pipeline of leads whose first step hands each
// qualified lead it sees to seen, then waits for release (a nil release
// blocks it for good: the worker's process is killed meanwhile), and whose
// steps each add one to the score.
func typedLeads(rt *pipeline.Runtime, seen chan<- benchfixture.Lead, release <-chan struct{}) *pipeline.Pipeline[benchfixture.Lead, benchfixture.Lead] {
	sc := step.Config{Retry: retry.Never}
	first := func(ctx context.Context, l benchfixture.Lead) (benchfixture.Lead, error) {
		if l.Stage == "qualified" {
			seen <- l
			select {
			case <-release:
			case <-ctx.Done():
				return l, context.Cause(ctx)
			}
		}
		l.Score++
		return l, nil
	}
	pass := func(_ context.Context, l benchfixture.Lead) (benchfixture.Lead, error) { l.Score++; return l, nil }
	p := pipeline.New(rt, "typed", step.New("one", first, sc), noOutage)
	p = pipeline.Then(p, step.New("two", pass, sc))
	return pipeline.Then(p, step.New("three", pass, sc))
}

// runWorker runs a worker of rt until the test ends, and returns it once
// its first claim has found the queue drained (Submit hands runs to it).
func runWorker(t *testing.T, rt *pipeline.Runtime, warm func() error) *pipeline.Worker {
	t.Helper()
	w, err := rt.NewWorker(pipeline.WorkerConfig{Concurrency: 2, Poll: time.Hour, PruneEvery: -1})
	require.NoError(t, err)
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()
	t.Cleanup(func() { stop(); require.NoError(t, <-done) })
	require.Eventually(t, func() bool { return warm() == nil }, 10*time.Second, 10*time.Millisecond)
	return w
}

// storePair opens two handles on one store, as two processes would: runs
// written through one are read, and waited for, through the other.
func storePair(t *testing.T, name string) (store.Store, store.Store) {
	switch name {
	case "sqlite":
		path := filepath.Join(t.TempDir(), "plumb.db")
		a, err := sqlitestore.Open(path, sqlitestore.Config{})
		require.NoError(t, err)
		t.Cleanup(func() { _ = a.Close() })
		b, err := sqlitestore.Open(path, sqlitestore.Config{})
		require.NoError(t, err)
		t.Cleanup(func() { _ = b.Close() })
		return a, b
	}
	dsn, schema := pgSchema(t, "plumb_typed_")
	cfg := pgstore.Config{Schema: schema, Logger: slog.New(slog.DiscardHandler)}
	a, err := pgstore.Open(context.Background(), dsn, cfg)
	require.NoError(t, err)
	t.Cleanup(func() { _ = a.Close() })
	b, err := pgstore.Open(context.Background(), dsn, cfg)
	require.NoError(t, err)
	t.Cleanup(func() { _ = b.Close() })
	return a, b
}

// TestTypedHandoffCopiesTheInput: a run handed to this process's worker
// starts on the submitted value, not on its stored JSON, and on a copy:
// the caller changing its value after Submit changes nothing in the run.
// Its waiter gets the output from memory, and the store keeps the run as
// submitted.
func TestTypedHandoffCopiesTheInput(t *testing.T) {
	onDurableStores(t, func(t *testing.T, st store.Store) {
		ctx := context.Background()
		seen := make(chan benchfixture.Lead, 1)
		release := make(chan struct{})
		rt := pipeline.NewRuntime(pipeline.RuntimeConfig{Store: st, Logger: discard})
		p := typedLeads(rt, seen, release)
		w := runWorker(t, rt, func() error {
			_, err := p.SubmitAndWait(ctx, benchfixture.NewLead(0), pipeline.SubmitOptions{})
			return err
		})

		starts0, results0 := pipeline.MemoryCounts()
		lead := benchfixture.NewLead(1)
		lead.Stage = "qualified"
		want := benchfixture.NewLead(1)
		want.Stage = "qualified"
		id, err := p.Submit(ctx, lead, pipeline.SubmitOptions{})
		require.NoError(t, err)
		d, err := st.GetRun(ctx, id)
		require.NoError(t, err)
		require.Equal(t, w.ID(), d.Run.LeaseOwner, "handed off to the idle worker")
		// The caller reuses its value at once.
		lead.Visits[0].Path = "/changed"
		lead.Fields["utm_source"] = "changed"
		lead.Contact.Name = "changed"
		lead.Message = "changed"

		got := <-seen
		close(release)
		assert.Equal(t, want, got, "the first step sees the value as submitted")
		out, err := p.Wait(ctx, id)
		require.NoError(t, err)
		want.Score += 3
		assert.Equal(t, want, out)

		starts1, results1 := pipeline.MemoryCounts()
		assert.Equal(t, int64(1), starts1-starts0, "the run started on the submitted value")
		assert.Equal(t, int64(1), results1-results0, "the wait was answered from memory")

		// The store's record is canonical: the input and output as JSON.
		d, err = st.GetRun(ctx, id)
		require.NoError(t, err)
		assert.Equal(t, store.Succeeded, d.Run.Status)
		var stored benchfixture.Lead
		require.NoError(t, json.Unmarshal(d.Run.Input, &stored))
		want.Score -= 3
		assert.Equal(t, want, stored)
		require.NoError(t, json.Unmarshal(d.Run.Output, &stored))
		assert.Equal(t, out, stored)

		// The waiter's value is its own: changing it changes nothing
		// another waiter of the same run gets.
		out.Visits[0].Path = "/mine"
		again, err := p.Wait(ctx, id)
		require.NoError(t, err)
		assert.Equal(t, "/pricing", again.Visits[0].Path)
	})
}

// TestTypedWaitElsewhere: a waiter on another handle of the store (as in
// another process) gets the run's result from the store, while this
// process's waiter gets it from memory; both the same.
func TestTypedWaitElsewhere(t *testing.T) {
	for _, name := range []string{"sqlite", "postgres"} {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			here, there := storePair(t, name)
			seen := make(chan benchfixture.Lead, 1)
			release := make(chan struct{})
			rtHere := pipeline.NewRuntime(pipeline.RuntimeConfig{Store: here, Logger: discard})
			p := typedLeads(rtHere, seen, release)
			runWorker(t, rtHere, func() error {
				_, err := p.SubmitAndWait(ctx, benchfixture.NewLead(0), pipeline.SubmitOptions{})
				return err
			})
			rtThere := pipeline.NewRuntime(pipeline.RuntimeConfig{Store: there, Logger: discard})
			q := typedLeads(rtThere, nil, nil)

			lead := benchfixture.NewLead(2)
			lead.Stage = "qualified"
			id, err := p.Submit(ctx, lead, pipeline.SubmitOptions{})
			require.NoError(t, err)
			<-seen
			type result struct {
				out benchfixture.Lead
				err error
			}
			elsewhere := make(chan result, 1)
			go func() {
				wctx, cancel := context.WithTimeout(ctx, 20*time.Second)
				defer cancel()
				out, err := q.Wait(wctx, id)
				elsewhere <- result{out, err}
			}()
			_, results0 := pipeline.MemoryCounts()
			close(release)
			out, err := p.Wait(ctx, id)
			require.NoError(t, err)
			r := <-elsewhere
			require.NoError(t, r.err)
			assert.Equal(t, out, r.out)
			assert.Equal(t, lead.Score+3, out.Score)
			_, results1 := pipeline.MemoryCounts()
			assert.Equal(t, int64(1), results1-results0, "only this process's waiter is answered from memory")
		})
	}
}

// TestTypedEndsAsBefore: a run of this process's worker that ends
// dead-lettered or in review gives its waiter the same error as a waiter
// reading the run from the store; nothing comes from memory.
func TestTypedEndsAsBefore(t *testing.T) {
	for _, name := range []string{"sqlite", "postgres"} {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			here, there := storePair(t, name)
			rtHere := pipeline.NewRuntime(pipeline.RuntimeConfig{Store: here, Logger: discard})
			p := answerDesk(rtHere)
			runWorker(t, rtHere, func() error { _, err := p.SubmitAndWait(ctx, ticket{ID: "warm"}, pipeline.SubmitOptions{}); return err })
			q := answerDesk(pipeline.NewRuntime(pipeline.RuntimeConfig{Store: there, Logger: discard}))
			wctx, cancel := context.WithTimeout(ctx, 20*time.Second)
			defer cancel()

			_, results0 := pipeline.MemoryCounts()
			_, err := p.SubmitAndWait(wctx, ticket{ID: "bad"}, pipeline.SubmitOptions{})
			var dl *pipeline.DeadLetteredError
			require.ErrorAs(t, err, &dl)
			assert.ErrorIs(t, err, retry.ErrPermanent)
			assert.Equal(t, "answer", dl.Step)
			_, fromStore := q.Wait(wctx, dl.RunID)
			assert.Equal(t, fromStore, err, "the same error as the store's")

			_, err = p.SubmitAndWait(wctx, ticket{ID: "unsure"}, pipeline.SubmitOptions{})
			var pe *pipeline.PendingError
			require.ErrorAs(t, err, &pe)
			assert.Equal(t, store.AwaitingReview, pe.Status)
			assert.Equal(t, "unsure answer", pe.Reason)
			assert.ErrorIs(t, err, retry.ErrNeedsReview)
			_, fromStore = q.Wait(wctx, pe.RunID)
			assert.Equal(t, fromStore, err, "the same error as the store's")

			_, results1 := pipeline.MemoryCounts()
			assert.Equal(t, results0, results1, "no failure is answered from memory")
			out, err := p.SubmitAndWait(wctx, ticket{ID: "ok"}, pipeline.SubmitOptions{})
			require.NoError(t, err)
			assert.Equal(t, answer{Ticket: "ok", Text: "hello ok"}, out)
			_, results2 := pipeline.MemoryCounts()
			assert.Equal(t, results1+1, results2)
		})
	}
}

// typedChild is the worker process of TestTypedHandoffCrash: it submits a
// lead that is handed to its own worker, says so on stdout, and blocks in
// the run's first step until it is killed.
func typedChild(db string) error {
	st, err := sqlitestore.Open(db, sqlitestore.Config{})
	if err != nil {
		return err
	}
	seen := make(chan benchfixture.Lead, 1)
	rt := pipeline.NewRuntime(pipeline.RuntimeConfig{Store: st, Logger: discard})
	p := typedLeads(rt, seen, nil)
	w, err := rt.NewWorker(pipeline.WorkerConfig{Concurrency: 2, Poll: time.Hour, Lease: 500 * time.Millisecond, PruneEvery: -1})
	if err != nil {
		return err
	}
	ctx := context.Background()
	go func() { _ = w.Run(ctx) }()
	for {
		if _, err := p.SubmitAndWait(ctx, benchfixture.NewLead(0), pipeline.SubmitOptions{}); err == nil {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	lead := benchfixture.NewLead(3)
	lead.Stage = "qualified"
	id, err := p.Submit(ctx, lead, pipeline.SubmitOptions{})
	if err != nil {
		return err
	}
	d, err := st.GetRun(ctx, id)
	if err != nil {
		return err
	}
	// Changed in memory only: the store keeps the run as submitted.
	lead.Contact.Name = "changed"
	<-seen
	fmt.Printf("started %s %s %s\n", id, d.Run.LeaseOwner, w.ID())
	select {}
}

// TestTypedHandoffCrash: a run handed off with its typed input to a worker
// whose process is killed during the first step is resumed by another
// process from the store's record, as submitted.
func TestTypedHandoffCrash(t *testing.T) {
	db := filepath.Join(t.TempDir(), "plumb.db")
	cmd := childproc.Command()
	cmd.Env = append(os.Environ(), "PLUMB_TYPED_DB="+db)
	cmd.Stderr = os.Stderr
	stdout, err := cmd.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	lines := bufio.NewScanner(stdout)
	var id string
	for lines.Scan() {
		if f := strings.Fields(lines.Text()); len(f) == 4 && f[0] == "started" {
			require.Equal(t, f[3], f[2], "handed off to the child's worker")
			id = f[1]
			break
		}
	}
	require.NotEmpty(t, id, "the child started the run")
	require.NoError(t, cmd.Process.Signal(syscall.SIGKILL))
	_ = cmd.Wait()

	st, err := sqlitestore.Open(db, sqlitestore.Config{})
	require.NoError(t, err)
	t.Cleanup(func() { _ = st.Close() })
	ctx := context.Background()
	d, err := st.GetRun(ctx, id)
	require.NoError(t, err)
	require.Equal(t, store.Running, d.Run.Status, "the dead worker's lease holds the run")
	release := make(chan struct{})
	close(release)
	seen := make(chan benchfixture.Lead, 1)
	rt := pipeline.NewRuntime(pipeline.RuntimeConfig{Store: st, Logger: discard})
	p := typedLeads(rt, seen, release)
	w, err := rt.NewWorker(pipeline.WorkerConfig{Poll: 20 * time.Millisecond, PruneEvery: -1})
	require.NoError(t, err)
	wctx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- w.Run(wctx) }()
	defer func() { stop(); require.NoError(t, <-done) }()

	starts0, _ := pipeline.MemoryCounts()
	wait, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	out, err := p.Wait(wait, id)
	require.NoError(t, err)
	want := benchfixture.NewLead(3)
	want.Stage = "qualified"
	assert.Equal(t, want, <-seen, "resumed from the stored input, as submitted")
	want.Score += 3
	assert.Equal(t, want, out)
	starts1, _ := pipeline.MemoryCounts()
	assert.Equal(t, starts0, starts1, "a reclaimed run decodes its input from the store")
	d, err = st.GetRun(ctx, id)
	require.NoError(t, err)
	assert.Equal(t, store.Succeeded, d.Run.Status)
}
