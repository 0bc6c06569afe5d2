package sqlitestore_test

import (
	"bufio"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/plumb-dev/plumb/internal/childproc"
	"github.com/plumb-dev/plumb/store"
	"github.com/plumb-dev/plumb/store/sqlitestore"
)

// The claim tests run workers with short leases against one file: in two
// processes (the test binary run again as children) and in one process
// with eight goroutines. Some workers stall past their lease, so runs are
// reclaimed. Every claim is logged with its lease window; the parent then
// checks that no run was claimed again while a lease on it was live, and
// that every run finished exactly once, under its last claim.

const (
	childEnv   = "PLUMB_SQLITESTORE_CLAIM_CHILD"
	claimRuns  = 80
	claimLease = 400 * time.Millisecond
)

// event is one line of a worker's log.
type event struct {
	Kind   string `json:"kind"` // claim, finish, lost
	Run    string `json:"run"`
	Token  string `json:"token"`
	Worker string `json:"worker"`
	// Start and End bound a claim's lease, in unix nanoseconds.
	Start int64 `json:"start,omitempty"`
	End   int64 `json:"end,omitempty"`
}

func TestMultiProcessClaims(t *testing.T) {
	if testing.Short() {
		t.Skip("starts two processes")
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "plumb.db")
	seed(t, path)
	var cmds []*exec.Cmd
	var outs []*strings.Builder
	var logs []string
	for i := range 2 {
		logPath := filepath.Join(dir, fmt.Sprintf("child-%d.jsonl", i))
		cmd := childproc.Command("-test.run=^TestMultiProcessChild$", "-test.count=1", "-test.timeout=2m")
		cmd.Env = append(os.Environ(), fmt.Sprintf("%s=%s|%s|p%d", childEnv, path, logPath, i))
		out := &strings.Builder{}
		cmd.Stdout, cmd.Stderr = out, out
		require.NoError(t, cmd.Start())
		cmds, outs, logs = append(cmds, cmd), append(outs, out), append(logs, logPath)
	}
	for i, cmd := range cmds {
		require.NoError(t, cmd.Wait(), "child %d:\n%s", i, outs[i])
	}
	var events []event
	for _, l := range logs {
		events = append(events, readEvents(t, l)...)
	}
	s := open(t, path, sqlitestore.Config{})
	verifyClaims(t, s, events, 2)
}

// TestMultiProcessChild is a worker process of TestMultiProcessClaims.
func TestMultiProcessChild(t *testing.T) {
	spec := os.Getenv(childEnv)
	if spec == "" {
		t.Skip("run by TestMultiProcessClaims")
	}
	parts := strings.Split(spec, "|")
	require.Len(t, parts, 3)
	s := open(t, parts[0], sqlitestore.Config{})
	f, err := os.Create(parts[1])
	require.NoError(t, err)
	defer f.Close()
	var mu sync.Mutex
	enc := json.NewEncoder(f)
	logEvent := func(e event) {
		mu.Lock()
		defer mu.Unlock()
		require.NoError(t, enc.Encode(e))
	}
	runWorkers(t, s, parts[2], 2, logEvent)
}

func TestConcurrentWorkersOneProcess(t *testing.T) {
	path := filepath.Join(t.TempDir(), "plumb.db")
	seed(t, path)
	s := open(t, path, sqlitestore.Config{})
	var mu sync.Mutex
	var events []event
	runWorkers(t, s, "g", 8, func(e event) {
		mu.Lock()
		events = append(events, e)
		mu.Unlock()
	})
	verifyClaims(t, s, events, 8)
}

func seed(t *testing.T, path string) {
	t.Helper()
	s, err := sqlitestore.Open(path, sqlitestore.Config{})
	require.NoError(t, err)
	for i := range claimRuns {
		enqueue(t, s, fmt.Sprintf("run-%03d", i))
	}
	require.NoError(t, s.Close())
}

// runWorkers runs n workers until no run is left queued or running.
func runWorkers(t *testing.T, s *sqlitestore.Store, prefix string, n int, logEvent func(event)) {
	t.Helper()
	ctx := context.Background()
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := work1(ctx, s, fmt.Sprintf("%s.w%d", prefix, i), logEvent); err != nil {
				errs <- err
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
}

func work1(ctx context.Context, s *sqlitestore.Store, worker string, logEvent func(event)) error {
	for {
		got, err := s.Claim(ctx, store.ClaimRequest{Worker: worker, Pipelines: []string{"leads"}, Limit: 2, Lease: claimLease})
		if err != nil {
			return err
		}
		if len(got) == 0 {
			livePage, err := s.ListRuns(ctx, store.RunFilter{Status: []store.Status{store.Queued, store.Running}, Limit: 1})
			live := livePage.Runs
			if err != nil {
				return err
			}
			if len(live) == 0 {
				return nil
			}
			time.Sleep(20 * time.Millisecond)
			continue
		}
		for _, c := range got {
			exp := c.Run.LeaseExpires
			logEvent(event{Kind: "claim", Run: c.Run.ID, Token: c.Lease.Token, Worker: worker,
				Start: exp.Add(-claimLease).UnixNano(), End: exp.UnixNano()})
		}
		for _, c := range got {
			if stalls(c.Lease.Token) {
				// A worker that stalls past its lease: another takes the
				// run over, and this one's writes are refused.
				time.Sleep(claimLease + 100*time.Millisecond)
			}
			rec := store.StepRecord{Index: 0, Step: "parse", Status: store.StepSucceeded, Output: json.RawMessage(`{}`)}
			err := s.Checkpoint(ctx, c.Lease, rec)
			if err == nil {
				err = s.Finish(ctx, c.Lease, store.Outcome{Status: store.Succeeded, Output: json.RawMessage(`"ok"`)})
			}
			switch {
			case err == nil:
				logEvent(event{Kind: "finish", Run: c.Run.ID, Token: c.Lease.Token, Worker: worker})
			case errors.Is(err, store.ErrLeaseLost):
				logEvent(event{Kind: "lost", Run: c.Run.ID, Token: c.Lease.Token, Worker: worker})
			default:
				return err
			}
		}
	}
}

// stalls picks about one claim in six to stall, from its token.
func stalls(token string) bool {
	h := fnv.New32a()
	h.Write([]byte(token))
	return h.Sum32()%6 == 0
}

func readEvents(t *testing.T, path string) []event {
	t.Helper()
	f, err := os.Open(path)
	require.NoError(t, err)
	defer f.Close()
	var out []event
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var e event
		require.NoError(t, json.Unmarshal(sc.Bytes(), &e))
		out = append(out, e)
	}
	require.NoError(t, sc.Err())
	return out
}

func verifyClaims(t *testing.T, s *sqlitestore.Store, events []event, minWorkers int) {
	t.Helper()
	claims := map[string][]event{}
	finishes := map[string][]event{}
	workers := map[string]bool{}
	lost := 0
	for _, e := range events {
		switch e.Kind {
		case "claim":
			claims[e.Run] = append(claims[e.Run], e)
			workers[e.Worker] = true
		case "finish":
			finishes[e.Run] = append(finishes[e.Run], e)
		case "lost":
			lost++
		}
	}
	require.Len(t, claims, claimRuns, "every run was claimed")
	assert.GreaterOrEqual(t, len(workers), minWorkers, "the work was shared")
	assert.Positive(t, lost, "some stalled workers lost their lease")
	reclaimed := 0
	for id, cs := range claims {
		slices.SortFunc(cs, func(a, b event) int { return cmp.Compare(a.Start, b.Start) })
		for i := 1; i < len(cs); i++ {
			assert.Greater(t, cs[i].Start, cs[i-1].End, "run %s claimed by %s while %s's lease was live", id, cs[i].Worker, cs[i-1].Worker)
		}
		if len(cs) > 1 {
			reclaimed++
		}
		fs := finishes[id]
		if assert.Len(t, fs, 1, "run %s finished once", id) {
			assert.Equal(t, cs[len(cs)-1].Token, fs[0].Token, "run %s finished under its last claim", id)
		}
		d, err := s.GetRun(context.Background(), id)
		require.NoError(t, err)
		assert.Equal(t, store.Succeeded, d.Run.Status)
	}
	assert.Positive(t, reclaimed, "some runs were reclaimed after their lease expired")
	t.Logf("%d runs, %d claims by %d workers, %d reclaimed, %d writes refused under a lost lease",
		len(claims), countClaims(claims), len(workers), reclaimed, lost)
}

func countClaims(m map[string][]event) int {
	n := 0
	for _, cs := range m {
		n += len(cs)
	}
	return n
}
