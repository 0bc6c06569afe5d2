package intake_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	mrand "math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"

	"github.com/plumb-dev/plumb/intake"
	"github.com/plumb-dev/plumb/internal/childproc"
	"github.com/plumb-dev/plumb/notify"
	"github.com/plumb-dev/plumb/observe"
	"github.com/plumb-dev/plumb/pipeline"
	"github.com/plumb-dev/plumb/retry"
	"github.com/plumb-dev/plumb/step"
	"github.com/plumb-dev/plumb/store"
	"github.com/plumb-dev/plumb/store/pgstore"
	"github.com/plumb-dev/plumb/store/sqlitestore"
)

// TestMain turns the test binary into a worker process when the load
// test asks for one.
func TestMain(m *testing.M) {
	if spec := os.Getenv("PLUMB_INTAKE_WORKER"); spec != "" {
		if err := workerProcess(spec, os.Getenv("PLUMB_WORKER_ID"), os.Getenv("PLUMB_WORKER_DRAIN") == "1"); err != nil {
			fmt.Fprintln(os.Stderr, "worker process:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// openStore opens "sqlite:<file>" or "postgres:<schema>" (on
// PLUMB_TEST_POSTGRES_DSN).
func openStore(spec string) (store.Store, error) {
	kind, arg, _ := strings.Cut(spec, ":")
	switch kind {
	case "sqlite":
		return sqlitestore.Open(arg, sqlitestore.Config{Logger: quiet()})
	case "postgres":
		return pgstore.Open(context.Background(), os.Getenv("PLUMB_TEST_POSTGRES_DSN"), pgstore.Config{Schema: arg, Logger: quiet()})
	}
	return nil, fmt.Errorf("unknown store %q", spec)
}

// workerPipeline is leadPipeline as a worker process has it, its last
// step slow enough that a kill lands in the middle of runs.
func workerPipeline(rt *pipeline.Runtime) *pipeline.Pipeline[Lead, Welcomed] {
	sc := step.Config{Retry: retry.Never}
	check := step.New("check", func(_ context.Context, l Lead) (Lead, error) { return l, nil }, sc)
	welcome := step.New("welcome", func(_ context.Context, l Lead) (Welcomed, error) {
		time.Sleep(2 * time.Millisecond)
		return Welcomed{Lead: l, Note: "welcome " + l.Email}, nil
	}, sc)
	return pipeline.Then(pipeline.New(rt, "leads", check, pipeline.Policy{Outage: pipeline.NoOutage}), welcome)
}

// workerLease is short, so that the runs a killed worker held are taken
// over within the test's time.
const workerLease = time.Second

func workerProcess(spec, id string, drain bool) error {
	st, err := openStore(spec)
	if err != nil {
		return err
	}
	defer st.Close()
	rt := pipeline.NewRuntime(pipeline.RuntimeConfig{Store: st, Logger: slog.New(slog.DiscardHandler)})
	workerPipeline(rt)
	return rt.Work(context.Background(), pipeline.WorkerConfig{ID: id, Concurrency: 8, Lease: workerLease,
		Poll: 20 * time.Millisecond, PruneEvery: -1, StopWhenDrained: drain})
}

func startWorker(t *testing.T, spec, id string, drain bool) *exec.Cmd {
	t.Helper()
	cmd := childproc.Command()
	d := "0"
	if drain {
		d = "1"
	}
	cmd.Env = append(os.Environ(), "PLUMB_INTAKE_WORKER="+spec, "PLUMB_WORKER_ID="+id, "PLUMB_WORKER_DRAIN="+d)
	cmd.Stderr = os.Stderr
	require.NoError(t, cmd.Start())
	return cmd
}

// pgSchema returns a fresh schema name on PLUMB_TEST_POSTGRES_DSN, dropped
// after the test; it skips loudly without the DSN, and fails under CI.
func pgSchema(tb testing.TB) string {
	dsn := os.Getenv("PLUMB_TEST_POSTGRES_DSN")
	if dsn == "" {
		const how = `PLUMB_TEST_POSTGRES_DSN is not set: start a server with eval "$(bash .ci/postgres.sh)"`
		if os.Getenv("CI") == "true" {
			tb.Fatal(how + " (CI=true: the PostgreSQL tests must run)")
		}
		tb.Skip("SKIPPED, NOT RUN: " + how)
	}
	var b [4]byte
	_, _ = rand.Read(b[:])
	schema := "plumb_intake_" + hex.EncodeToString(b[:])
	tb.Cleanup(func() {
		ctx := context.Background()
		if conn, err := pgx.Connect(ctx, dsn); err == nil {
			_, _ = conn.Exec(ctx, "DROP SCHEMA IF EXISTS "+pgx.Identifier{schema}.Sanitize()+" CASCADE")
			_ = conn.Close(ctx)
		}
	})
	return schema
}

func storeSpec(t *testing.T, kind string) string {
	if kind == "postgres" {
		return "postgres:" + pgSchema(t)
	}
	return "sqlite:" + filepath.Join(t.TempDir(), "plumb.db")
}

// delivery is one request of the load test.
type delivery struct {
	id      string // the webhook-id
	body    []byte
	forged  bool // signed with another secret
	invalid bool // breaks the contract
}

// loadPlan makes n deliveries: 5% forged, dup% copies of earlier ones
// (same id, same body, resent), 5% that break the contract, the rest
// valid, shuffled.
func loadPlan(n int, rng *mrand.Rand) (plan []delivery, valid, invalid, forged int) {
	forged = n * 5 / 100
	dups := n * 20 / 100
	invalid = n * 5 / 100
	valid = n - forged - dups - invalid
	for i := range valid {
		plan = append(plan, delivery{id: fmt.Sprintf("msg_ok_%d", i), body: leadBody(fmt.Sprintf("lead-%d", i), fmt.Sprintf("lead%d@example.com", i))})
	}
	for i := range invalid {
		plan = append(plan, delivery{id: fmt.Sprintf("msg_bad_%d", i), invalid: true,
			body: fmt.Appendf(nil, `{"id":"bad-%d","email":"lead %d at example"}`, i, i)})
	}
	unique := len(plan)
	for range dups {
		plan = append(plan, plan[rng.IntN(unique)])
	}
	for i := range forged {
		plan = append(plan, delivery{id: fmt.Sprintf("msg_forged_%d", i), forged: true, body: leadBody("forged", "x@example.com")})
	}
	rng.Shuffle(len(plan), func(i, j int) { plan[i], plan[j] = plan[j], plan[i] })
	return plan, valid, invalid, forged
}

// TestLoad sends 2,000 deliveries from 50 concurrent senders, 20% of them
// duplicates and 5% forged, while worker processes are SIGKILLed and
// replaced; it must end with exactly one run per valid delivery id, all
// succeeded, every invalid one a dead letter, no forged one stored, and
// the forgeries counted.
func TestLoad(t *testing.T) {
	for _, kind := range []string{"sqlite", "postgres"} {
		t.Run(kind, func(t *testing.T) { loadTest(t, kind) })
	}
}

func loadTest(t *testing.T, kind string) {
	const n, senders = 2000, 50
	spec := storeSpec(t, kind)
	st, err := openStore(spec)
	require.NoError(t, err)
	defer st.Close()
	reader := sdkmetric.NewManualReader()
	tel := observe.New(observe.WithMeterProvider(sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))))
	rt := pipeline.NewRuntime(pipeline.RuntimeConfig{Store: st, Telemetry: tel, Logger: quiet()})
	p := leadPipeline(rt)
	secret := notify.NewSecret()
	h := intake.New(p, intake.Source{Name: "crm", Verify: intake.StandardWebhooks(secret)})
	require.NoError(t, h.Err())
	url := newServer(t, h)

	rng := mrand.New(mrand.NewPCG(uint64(time.Now().UnixNano()), 14))
	plan, valid, invalid, forged := loadPlan(n, rng)
	forger := notify.NewSecret()

	type result struct {
		d delivery
		r reply
	}
	var mu sync.Mutex
	var results []result
	work := make(chan delivery)
	var sent sync.WaitGroup
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: senders}}
	start := time.Now()
	for range senders {
		sent.Go(func() {
			for d := range work {
				s := secret
				if d.forged {
					s = forger
				}
				r := post(t, client, url, stdSign(t, s, d.id, time.Now(), d.body), d.body)
				mu.Lock()
				results = append(results, result{d, r})
				mu.Unlock()
			}
		})
	}
	// Workers run while deliveries arrive; each of the first two is
	// killed with SIGKILL in the middle, holding runs.
	kills, held := 0, 0
	worker := startWorker(t, spec, "w1", false)
	kill := func() {
		// Kill it once it holds runs, so that the kill lands mid-work.
		id := fmt.Sprintf("w%d", kills+1)
		deadline := time.Now().Add(10 * time.Second)
		for {
			page, err := st.ListRuns(context.Background(), store.RunFilter{Pipeline: "leads", Status: []store.Status{store.Running}, Limit: 1000})
			require.NoError(t, err)
			mine := 0
			for _, r := range page.Runs {
				if r.LeaseOwner == id {
					mine++
				}
			}
			if mine > 0 {
				held += mine
				break
			}
			require.True(t, time.Now().Before(deadline), "worker %s claimed nothing in 10 s", id)
			time.Sleep(20 * time.Millisecond)
		}
		require.NoError(t, worker.Process.Signal(syscall.SIGKILL))
		_ = worker.Wait()
		kills++
	}
	for i, d := range plan {
		if i == n/3 || i == 2*n/3 {
			kill()
			worker = startWorker(t, spec, fmt.Sprintf("w%d", kills+1), false)
		}
		work <- d
	}
	close(work)
	sent.Wait()
	intakeTime := time.Since(start)
	kill()
	// A draining worker leaves runs that another worker's live lease
	// holds, so it starts once the killed worker's leases (heartbeaten
	// before the kill) have run out: otherwise a queue it drains within
	// the lease leaves those runs running.
	time.Sleep(workerLease + 100*time.Millisecond)
	last := startWorker(t, spec, "last", true)
	done := make(chan error, 1)
	go func() { done <- last.Wait() }()
	select {
	case err := <-done:
		require.NoError(t, err)
	case <-time.After(2 * time.Minute):
		_ = last.Process.Kill()
		t.Fatal("the last worker did not drain the queue")
	}

	// The answers: one 202 per valid id, its copies 200 with its run; one
	// 422 record per invalid id; 401 for every forgery; nothing else.
	ctx := context.Background()
	runOf := map[string]string{}
	created := map[string]int{}
	codes := map[int]int{}
	for _, res := range results {
		d, r := res.d, res.r
		codes[r.code]++
		switch {
		case d.forged:
			assert.Equal(t, http.StatusUnauthorized, r.code)
			continue
		case d.invalid:
			require.Equal(t, http.StatusUnprocessableEntity, r.code, "%s: %+v", d.id, r.answer)
			if !r.answer.Duplicate {
				created[d.id]++
			}
		default:
			require.Contains(t, []int{http.StatusAccepted, http.StatusOK}, r.code, "%s: %+v", d.id, r.answer)
			if r.code == http.StatusAccepted {
				created[d.id]++
			}
		}
		if prev, ok := runOf[d.id]; ok {
			assert.Equal(t, prev, r.answer.RunID, "every copy of %s answers the same run", d.id)
		}
		runOf[d.id] = r.answer.RunID
	}
	assert.Len(t, runOf, valid+invalid)
	for id, c := range created {
		assert.Equal(t, 1, c, "%s created once", id)
	}
	assert.Len(t, created, valid+invalid)

	// The store: exactly those runs, the valid ones succeeded, the invalid
	// ones dead letters; no forgery.
	page, err := st.ListRuns(ctx, store.RunFilter{Pipeline: "leads", Limit: 10 * n})
	require.NoError(t, err)
	require.Len(t, page.Runs, valid+invalid, "exactly one run per delivery id that was not forged")
	byStatus := map[store.Status]int{}
	for _, r := range page.Runs {
		byStatus[r.Status]++
		key := strings.TrimPrefix(r.IdempotencyKey, "webhook:crm:")
		require.Equal(t, r.ID, runOf[key], "run %s (key %s) is the one answered", r.ID, r.IdempotencyKey)
		if strings.HasPrefix(key, "msg_bad_") {
			assert.Equal(t, store.DeadLettered, r.Status, key)
			assert.Equal(t, retry.ClassContract, r.Class, key)
		} else {
			assert.Equal(t, store.Succeeded, r.Status, "%s: %s at %s", key, r.Error, r.Step)
		}
	}
	assert.Equal(t, map[store.Status]int{store.Succeeded: valid, store.DeadLettered: invalid}, byStatus)
	counts := deliveries(t, reader, "webhook:crm")
	assert.Equal(t, int64(forged), counts["unauthorized"], "every forgery counted")
	assert.Equal(t, int64(valid), counts["accepted"])
	assert.Equal(t, int64(n-forged-valid-invalid), counts["duplicate"]+counts["invalid"]-int64(invalid))
	t.Logf("%s: %d deliveries from %d senders in %v (%.0f/s): %v; %d workers killed holding %d runs",
		kind, n, senders, intakeTime.Round(time.Millisecond), float64(n)/intakeTime.Seconds(), codes, kills, held)
}
