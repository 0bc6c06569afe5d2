package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"regexp"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/plumb-dev/plumb/store"
	"github.com/plumb-dev/plumb/store/sqlitestore"
)

func TestEveryLeadEndsInOneStateAndTheHistoryStays(t *testing.T) {
	dir := t.TempDir()
	o := options{db: filepath.Join(dir, "plumb.db"), deadLetters: filepath.Join(dir, "dead.jsonl"), leads: 150, seed: 1, concurrency: 8}
	var out bytes.Buffer
	require.NoError(t, run(context.Background(), o, &out))
	assert.Contains(t, out.String(), "Summary of 150 leads")
	assert.Contains(t, out.String(), "waited in the queue for an outage", "the night's outage is in the story")

	st, err := sqlitestore.Open(o.db, sqlitestore.Config{})
	require.NoError(t, err)
	runsPage, err := st.ListRuns(context.Background(), store.RunFilter{Pipeline: "leadfollowup", Limit: 1000})
	runs := runsPage.Runs
	require.NoError(t, err)
	require.Len(t, runs, 150)
	byStatus := map[store.Status]int{}
	for _, r := range runs {
		byStatus[r.Status]++
		if r.Status == store.DeadLettered {
			assert.Equal(t, "parse", r.Step, "only leads with no way to reach them give up: %s", r.Error)
		}
		if r.Status == store.Succeeded {
			var reply Reply
			require.NoError(t, json.Unmarshal(r.Output, &reply))
			assert.NoError(t, reply.Validate(), "no broken reply is passed on")
		}
	}
	assert.Equal(t, 150, byStatus[store.Succeeded]+byStatus[store.DeadLettered], "every lead ends succeeded or dead-lettered: %v", byStatus)
	require.NoError(t, st.Close())

	out.Reset()
	o.leads = 10
	require.NoError(t, run(context.Background(), o, &out))
	assert.Contains(t, out.String(), "(150 runs from earlier runs of this example)", "a second run sees the first one's history")
}

// TestWorkModeCarriesOutQueuedReplays is the operator's loop: a dead
// letter is patched and replayed through the store (as plumb replay does),
// and -work carries it out, adds no leads, and exits once idle.
func TestWorkModeCarriesOutQueuedReplays(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	o := options{db: filepath.Join(dir, "plumb.db"), deadLetters: filepath.Join(dir, "dead.jsonl"), leads: 60, seed: 1, concurrency: 8}
	var out bytes.Buffer
	require.NoError(t, run(ctx, o, &out))

	st, err := sqlitestore.Open(o.db, sqlitestore.Config{})
	require.NoError(t, err)
	dead, err := st.ListRuns(ctx, store.RunFilter{Pipeline: "leadfollowup", Status: []store.Status{store.DeadLettered}, Limit: 1000})
	require.NoError(t, err)
	require.NotEmpty(t, dead.Runs, "the example dead-letters the leads it cannot reach")
	letter := dead.Runs[0]
	d, err := st.GetRun(ctx, letter.ID)
	require.NoError(t, err)
	var in RawLead
	require.NoError(t, json.Unmarshal(d.Run.Input, &in))
	in.Text += " <found.later@example.com>"
	patched, err := json.Marshal(in)
	require.NoError(t, err)
	_, err = store.ReplayRun(ctx, st, store.ReplayRequest{RunID: letter.ID, From: "parse", Input: patched, Reason: "found the address"})
	require.NoError(t, err)
	before, err := st.ListRuns(ctx, store.RunFilter{Pipeline: "leadfollowup", Limit: 1000})
	require.NoError(t, err)
	require.NoError(t, st.Close())

	out.Reset()
	o.work = true
	require.NoError(t, run(ctx, o, &out), "-work returns once nothing is runnable")
	text := out.String()
	assert.Contains(t, text, "Carried out 1 run: 1 succeeded")
	assert.Contains(t, text, letter.ID)
	assert.NotContains(t, text, "Summary of", "no leads were submitted")

	st, err = sqlitestore.Open(o.db, sqlitestore.Config{})
	require.NoError(t, err)
	t.Cleanup(func() { _ = st.Close() })
	after, err := st.ListRuns(ctx, store.RunFilter{Pipeline: "leadfollowup", Limit: 1000})
	require.NoError(t, err)
	assert.Len(t, after.Runs, len(before.Runs), "no new leads")
	d, err = st.GetRun(ctx, letter.ID)
	require.NoError(t, err)
	assert.Equal(t, store.Succeeded, d.Run.Status, d.Run.Error)

	// With nothing queued, -work exits at once.
	out.Reset()
	require.NoError(t, run(ctx, o, &out))
	assert.Contains(t, out.String(), "Nothing queued")
}

// With -otlp the runs' spans are exported by OTLP/HTTP to the collector's
// /v1/traces, and all of them are sent before run returns.
func TestOTLPFlagExportsTheTraces(t *testing.T) {
	var mu sync.Mutex
	var posts []string
	collector := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		mu.Lock()
		posts = append(posts, fmt.Sprintf("%s %s %s %d", r.Method, r.URL.Path, r.Header.Get("Content-Type"), len(body)))
		mu.Unlock()
		w.Header().Set("Content-Type", "application/x-protobuf")
	}))
	defer collector.Close()
	dir := t.TempDir()
	o := options{db: filepath.Join(dir, "plumb.db"), deadLetters: filepath.Join(dir, "dead.jsonl"), leads: 5, seed: 1, concurrency: 4, otlp: collector.URL}
	var out bytes.Buffer
	require.NoError(t, run(context.Background(), o, &out))
	mu.Lock()
	defer mu.Unlock()
	require.NotEmpty(t, posts, "the spans were exported before run returned")
	for _, p := range posts {
		assert.Regexp(t, `^POST /v1/traces application/x-protobuf [1-9]`, p)
	}

	o.otlp = "127.0.0.1:4318"
	assert.ErrorContains(t, run(context.Background(), o, &out), "want the collector's base URL")
}

// With -serve the console is served once the batch is through: it asks
// for the password, then shows the pipeline and its dead letters.
func TestServeServesTheConsole(t *testing.T) {
	dir := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	o := options{db: filepath.Join(dir, "plumb.db"), deadLetters: filepath.Join(dir, "dead.jsonl"), leads: 30, seed: 1, concurrency: 8,
		serve: "127.0.0.1:0", user: "operator", password: "s3cret"}
	out := &lockedBuffer{}
	runCtx, stop := context.WithCancel(ctx)
	defer stop()
	done := make(chan error, 1)
	go func() { done <- run(runCtx, o, out) }()
	var base string
	for base == "" {
		if m := regexp.MustCompile(`Console: (\S+) `).FindStringSubmatch(out.String()); m != nil {
			base = m[1]
			break
		}
		select {
		case err := <-done:
			t.Fatalf("run ended before serving: %v\n%s", err, out.String())
		case <-time.After(20 * time.Millisecond):
		}
	}
	resp, err := http.Get(base)
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusUnauthorized, resp.StatusCode)
	for _, path := range []string{"", "deadletters", "runs?status=dead_lettered"} {
		req, err := http.NewRequest("GET", base+path, nil)
		require.NoError(t, err)
		req.SetBasicAuth("operator", "s3cret")
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		require.NoError(t, err)
		assert.Equal(t, http.StatusOK, resp.StatusCode, path)
		assert.Contains(t, string(body), "leadfollowup", path)
	}
	stop()
	require.NoError(t, <-done)
}

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
