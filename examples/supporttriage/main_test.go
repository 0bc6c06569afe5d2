package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/plumb-dev/plumb/contract"
	"github.com/plumb-dev/plumb/llm/llmtest"
	"github.com/plumb-dev/plumb/pipeline"
	"github.com/plumb-dev/plumb/store"
	"github.com/plumb-dev/plumb/store/sqlitestore"
)

// syncBuffer is written by the workers and the notifier while the test
// reads it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func testOptions(t *testing.T, log io.Writer) options {
	return options{db: filepath.Join(t.TempDir(), "supporttriage.db"), messages: 30, seed: 1, concurrency: 4,
		user: "reviewer", password: "example-only", deadline: 4 * time.Hour, log: log}
}

func TestEveryMessageEndsInOneStateAndNothingBrokenIsRouted(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), testDeadline)
	defer cancel()
	var log syncBuffer
	o := testOptions(t, &log)
	var out strings.Builder
	got, err := run(ctx, o, &out)
	require.NoError(t, err)

	assert.Zero(t, got.Unfinished)
	assert.Equal(t, o.messages, got.Routed+got.reviews()+got.deadLetters(), "every message is in exactly one state")
	assert.Positive(t, got.Routed)
	assert.NotEmpty(t, got.Review[whyUnsure], "the unsure classifications wait for a person")
	assert.Contains(t, out.String(), "go run ./cmd/plumb --db "+o.db+" review list")
	assert.Contains(t, out.String(), "http://localhost:8080/review/reviews/")
	assert.Contains(t, log.String(), "event=review_needed", "the notifier announced the reviews")

	st, err := sqlitestore.Open(o.db, sqlitestore.Config{})
	require.NoError(t, err)
	defer st.Close()
	runsPage, err := st.ListRuns(ctx, store.RunFilter{Pipeline: pipelineName, Limit: 1000})
	runs := runsPage.Runs
	require.NoError(t, err)
	require.Len(t, runs, o.messages)
	byStatus := map[store.Status]int{}
	for _, r := range runs {
		byStatus[r.Status]++
		d, err := st.GetRun(ctx, r.ID)
		require.NoError(t, err)
		switch r.Status {
		case store.Succeeded:
			_, err := contract.Decode[Routed](string(r.Output))
			assert.NoError(t, err, "run %s was routed with a broken ticket", r.ID)
		case store.AwaitingReview:
			require.NotNil(t, r.Review)
			assert.WithinDuration(t, r.Review.CreatedAt.Add(4*time.Hour), r.Review.Deadline, time.Second)
			if r.Review.Proposed != nil {
				p, err := contract.Decode[Triaged](string(r.Review.Proposed))
				require.NoError(t, err, "a proposal a person sees has met its contract")
				assert.Less(t, p.Classification.Confidence, minConfidence)
			}
		case store.DeadLettered:
		default:
			t.Errorf("run %s ended %s", r.ID, r.Status)
		}
		// What classify passed on met its contract and was sure enough.
		for _, s := range d.Steps {
			if s.Step == "classify" && s.Status == store.StepSucceeded {
				tr, err := contract.Decode[Triaged](string(s.Output))
				require.NoError(t, err, "run %s passed on a broken classification", r.ID)
				assert.GreaterOrEqual(t, tr.Classification.Confidence, minConfidence, "run %s routed a guess", r.ID)
			}
		}
	}
	assert.Equal(t, got.Routed, byStatus[store.Succeeded])
	assert.Equal(t, got.reviews(), byStatus[store.AwaitingReview])
	assert.Equal(t, got.deadLetters(), byStatus[store.DeadLettered])
}

// Each routed message's run records the route its category chose, and its
// desk's work is a branch run of that desk's pipeline, whose output is the
// message's ticket.
func TestMessagesAreRoutedByCategoryToTheirDesksBranchRun(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), testDeadline)
	defer cancel()
	o := testOptions(t, io.Discard)
	var out strings.Builder
	got, err := run(ctx, o, &out)
	require.NoError(t, err)

	st, err := sqlitestore.Open(o.db, sqlitestore.Config{})
	require.NoError(t, err)
	defer st.Close()
	page, err := st.ListRuns(ctx, store.RunFilter{Pipeline: pipelineName, Limit: 1000})
	require.NoError(t, err)
	taken := map[Desk]int{}
	for _, r := range page.Runs {
		d, err := st.GetRun(ctx, r.ID)
		require.NoError(t, err)
		kids, err := st.ListRuns(ctx, store.RunFilter{Parent: r.ID})
		require.NoError(t, err)
		if r.Status != store.Succeeded {
			assert.Empty(t, kids.Runs, "run %s (%s) was routed before it was classified for sure", r.ID, r.Status)
			continue
		}
		var tr Triaged
		for _, s := range d.Steps {
			if s.Step == "classify" && s.Status.Done() {
				require.NoError(t, json.Unmarshal(s.Output, &tr))
			}
		}
		desk := deskFor(tr)
		taken[desk]++
		assert.Equal(t, "route:"+string(desk), lastRecord(d, "route").By, "run %s records the route taken", r.ID)
		require.Len(t, kids.Runs, 1, "one route, one branch run")
		c := kids.Runs[0]
		assert.Equal(t, deskPipeline(desk), c.Pipeline)
		assert.Equal(t, store.Succeeded, c.Status)
		require.NotNil(t, c.Parent)
		assert.Equal(t, string(desk), c.Parent.Name)
		assert.Equal(t, "route", c.Parent.Step)
		assert.JSONEq(t, string(c.Output), string(r.Output), "the desk's ticket is the message's output")
		cd, err := st.GetRun(ctx, c.ID)
		require.NoError(t, err)
		if desk == Spam {
			assert.Equal(t, "quarantine", cd.Steps[len(cd.Steps)-1].Step)
		} else {
			assert.Equal(t, []string{"assess", "ticket"}, []string{cd.Steps[0].Step, cd.Steps[len(cd.Steps)-1].Step})
		}
	}
	assert.GreaterOrEqual(t, len(taken), 5, "the inbox reaches most desks: %v", taken)
	for desk, n := range taken {
		assert.Len(t, got.Routes[desk], n, "the summary's tree lists every message its desk took")
		assert.Contains(t, out.String(), "route "+fmt.Sprintf("%-11s", desk)+" → pipeline "+deskPipeline(desk))
	}
	assert.Contains(t, out.String(), "The tree: each message is a run")
}

// No category the classification's contract allows can meet a key with
// no route: every one has a desk, and every desk a route.
func TestEveryCategoryHasARoute(t *testing.T) {
	field, ok := reflect.TypeFor[Classification]().FieldByName("Category")
	require.True(t, ok)
	var categories []string
	for _, part := range strings.Split(field.Tag.Get("jsonschema"), ",") {
		if c, ok := strings.CutPrefix(part, "enum="); ok {
			categories = append(categories, c)
		}
	}
	require.NotEmpty(t, categories)
	rt := pipeline.NewRuntime(pipeline.RuntimeConfig{})
	routes := deskPipelines(rt, pipeline.Policy{})
	assert.Len(t, routes, len(desks)+1, "each desk, and spam")
	for _, c := range categories {
		d := deskFor(Triaged{Classification: Classification{Category: c}})
		assert.Contains(t, routes, d, "category %s", c)
	}
	p := build(pipeline.NewRuntime(pipeline.RuntimeConfig{}), llmtest.New(llmtest.Config{Model: "m"}), nil, "http://localhost/", time.Hour)
	require.NoError(t, p.Err())
}

func lastRecord(d *store.RunDetail, stepName string) store.StepRecord {
	var rec store.StepRecord
	for _, r := range d.Steps {
		if r.Step == stepName {
			rec = r
		}
	}
	return rec
}

func TestSameSeedSameStory(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), testDeadline)
	defer cancel()
	a, err := run(ctx, testOptions(t, io.Discard), io.Discard)
	require.NoError(t, err)
	b, err := run(ctx, testOptions(t, io.Discard), io.Discard)
	require.NoError(t, err)
	assert.Equal(t, a.Routed, b.Routed)
	assert.Equal(t, a.ByQueue, b.ByQueue)
	assert.Equal(t, len(a.Review[whyUnsure]), len(b.Review[whyUnsure]))
	assert.Equal(t, len(a.Review[whyUnknown]), len(b.Review[whyUnknown]))
	assert.Equal(t, a.deadLetters(), b.deadLetters())
	assert.Equal(t, [3]int{a.Reasked, a.FellBack, a.Tokens}, [3]int{b.Reasked, b.FellBack, b.Tokens})
}

// Run again on the same store with the same seed, the example submits
// nothing new and finds every message where the first run left it.
func TestASecondRunSubmitsNothingNew(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), testDeadline)
	defer cancel()
	o := testOptions(t, io.Discard)
	first, err := run(ctx, o, io.Discard)
	require.NoError(t, err)
	second, err := run(ctx, o, io.Discard)
	require.NoError(t, err, "a worker stopped at once stops cleanly")
	assert.Equal(t, first.Routed, second.Routed)
	assert.Equal(t, first.reviews(), second.reviews())
	for desk, rs := range first.Routes {
		assert.Len(t, second.Routes[desk], len(rs), desk)
	}
	st, err := sqlitestore.Open(o.db, sqlitestore.Config{})
	require.NoError(t, err)
	defer st.Close()
	page, err := st.ListRuns(ctx, store.RunFilter{Pipeline: pipelineName, Limit: 1000})
	require.NoError(t, err)
	assert.Len(t, page.Runs, o.messages)
}

// A person approves one classification (edited) and rejects another in
// the served inbox; the worker resumes the approved run and routes it.
func TestServedInboxDecisionsResumeTheRuns(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	o := testOptions(t, io.Discard)
	o.serve = "127.0.0.1:0"
	var out syncBuffer
	type result struct {
		t   *tally
		err error
	}
	res := make(chan result, 1)
	runCtx, stop := context.WithCancel(ctx)
	defer stop()
	go func() {
		t, err := run(runCtx, o, &out)
		res <- result{t, err}
	}()
	waitFor(t, &out, "Waiting for decisions at ")
	inbox := regexp.MustCompile(`Waiting for decisions at (\S+)`).FindStringSubmatch(out.String())[1]

	resp, err := http.Get(inbox)
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusUnauthorized, resp.StatusCode)
	assert.Contains(t, resp.Header.Get("WWW-Authenticate"), "Basic")

	var list struct {
		Reviews []struct {
			RunID    string          `json:"run_id"`
			Proposed json.RawMessage `json:"proposed"`
		} `json:"reviews"`
	}
	require.NoError(t, json.Unmarshal(call(t, o, http.MethodGet, inbox+"api/reviews", nil), &list))
	var proposed []int
	for i, r := range list.Reviews {
		if r.Proposed != nil {
			proposed = append(proposed, i)
		}
	}
	require.GreaterOrEqual(t, len(proposed), 2)
	approve, reject := list.Reviews[proposed[0]], list.Reviews[proposed[1]]

	var edit Triaged
	require.NoError(t, json.Unmarshal(approve.Proposed, &edit))
	edit.Classification.Category, edit.Classification.Urgency, edit.Classification.Confidence = "billing", "normal", 1
	body, _ := json.Marshal(map[string]any{"output": edit})
	call(t, o, http.MethodPost, inbox+"api/reviews/"+approve.RunID+"/approve", body)
	call(t, o, http.MethodPost, inbox+"api/reviews/"+reject.RunID+"/reject", []byte(`{"reason":"a duplicate of a ticket already open"}`))
	waitFor(t, &out, edit.MessageID+" approved by reviewer (edited), routed to billing")
	waitFor(t, &out, "dead-lettered at step classify")

	stop()
	r := <-res
	require.NoError(t, r.err)
	assert.Equal(t, 1, r.t.Decided)
	assert.Len(t, r.t.Dead["rejected by a reviewer"], 1)
	assert.Equal(t, o.messages, r.t.Routed+r.t.reviews()+r.t.deadLetters())
	assert.Len(t, list.Reviews, r.t.reviews()+2)
}

func call(t *testing.T, o options, method, url string, body []byte) []byte {
	t.Helper()
	req, err := http.NewRequest(method, url, bytes.NewReader(body))
	require.NoError(t, err)
	req.SetBasicAuth(o.user, o.password)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, resp.StatusCode, "%s %s: %s", method, url, b)
	return b
}

func waitFor(t *testing.T, out *syncBuffer, s string) {
	t.Helper()
	// Bounded for a machine busy with other tests, not a timing target.
	deadline := time.Now().Add(time.Minute)
	for !strings.Contains(out.String(), s) {
		if time.Now().After(deadline) {
			t.Fatalf("no %q in the output:\n%s", s, out.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// testDeadline only stops a test that hangs: it is no performance bound
// (those live in benchmarks), so it is generous enough for a loaded machine
// running the race detector.
const testDeadline = 3 * time.Minute
