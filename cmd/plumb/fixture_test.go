package main

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"

	"github.com/plumb-dev/plumb/deadletter"
	"github.com/plumb-dev/plumb/llm"
	"github.com/plumb-dev/plumb/llm/llmtest"
	"github.com/plumb-dev/plumb/observe"
	"github.com/plumb-dev/plumb/pipeline"
	"github.com/plumb-dev/plumb/retry"
	"github.com/plumb-dev/plumb/retry/retrytest"
	"github.com/plumb-dev/plumb/step"
	"github.com/plumb-dev/plumb/store"
	"github.com/plumb-dev/plumb/store/sqlitestore"
)

// The fixture is a small lead pipeline run for real against a SQLite
// file: parse (plain code), classify (a scripted model, re-asked when its
// answer breaks the contract, sent to review when unsure), draft (a
// template with a fallback). What a lead's text says decides its fate:
//
//	"Ada Lovelace <ada@example.com>"   succeeds after one re-ask; draft falls back
//	"Charles Babbage, no email"        dead-lettered at parse (permanent)
//	"Bad Answer <bad@example.com>"     dead-lettered at classify (contract) while broken
//	"Unsure Person <unsure@...>"       awaits review at classify (confidence 0.4)

type RawLead struct {
	ID   string `json:"id" jsonschema:"minLength=1"`
	Text string `json:"text" jsonschema:"minLength=1"`
}

type Lead struct {
	ID    string `json:"id"`
	Name  string `json:"name" jsonschema:"minLength=1"`
	Email string `json:"email" jsonschema:"format=email"`
}

type Label struct {
	Stage      string  `json:"stage" jsonschema:"enum=new,enum=warm,enum=hot"`
	Confidence float64 `json:"confidence" jsonschema:"minimum=0,maximum=1"`
}

type Classified struct {
	Lead  Lead  `json:"lead"`
	Label Label `json:"label"`
}

type Draft struct {
	To   string `json:"to" jsonschema:"format=email"`
	Body string `json:"body" jsonschema:"minLength=10"`
}

const pipelineName = "leads"

// goldenStart is the fixed clock's start: golden output depends on it.
var goldenStart = time.Date(2026, 11, 27, 2, 17, 0, 0, time.UTC)

type fixture struct {
	t     *testing.T
	dir   string
	clock *retrytest.Clock // nil: the wall clock
	rt    *pipeline.Runtime
	st    store.Store
	// target is the CLI's flags that reach the store.
	target []string
	p      *pipeline.Pipeline[RawLead, Draft]
	// broken makes the model answer "Bad" leads with a stage that breaks
	// the contract; clearing it is shipping the fix.
	broken atomic.Bool
}

// newFixture makes a store in a temporary directory and the pipeline on
// it. With a fixed clock every record it writes is deterministic.
func newFixture(t *testing.T, clock *retrytest.Clock) *fixture {
	t.Helper()
	dir := t.TempDir()
	cfg := sqlitestore.Config{Logger: slog.New(slog.DiscardHandler)}
	if clock != nil {
		cfg.Clock = clock
	}
	st, err := sqlitestore.Open(filepath.Join(dir, "plumb.db"), cfg)
	require.NoError(t, err)
	return fixtureOn(t, dir, st, clock, "--db", "plumb.db")
}

// fixtureOn builds the pipeline on a store the CLI reaches with target.
func fixtureOn(t *testing.T, dir string, st store.Store, clock *retrytest.Clock, target ...string) *fixture {
	f := &fixture{t: t, dir: dir, clock: clock, st: st, target: target}
	f.broken.Store(true)
	t.Cleanup(func() { _ = st.Close() })
	f.p = f.build()
	require.NoError(t, f.p.Err())
	return f
}

func (f *fixture) retryClock() retry.Clock {
	if f.clock == nil {
		return retry.SystemClock
	}
	return f.clock
}

// advance moves the fixed clock, so that steps take a known time.
func (f *fixture) advance(d time.Duration) {
	if f.clock != nil {
		f.clock.Advance(d)
	}
}

var emailRE = regexp.MustCompile(`[\w.+-]+@[\w-]+\.[\w.]+`)

func (f *fixture) build() *pipeline.Pipeline[RawLead, Draft] {
	once := retry.Policy{MaxAttempts: 1, Clock: f.retryClock()}
	parse := step.New("parse", func(_ context.Context, r RawLead) (Lead, error) {
		f.advance(150 * time.Millisecond)
		email := emailRE.FindString(r.Text)
		if email == "" {
			return Lead{}, retry.Permanent(fmt.Errorf("lead %s has no email address", r.ID))
		}
		name := strings.TrimSpace(strings.Split(r.Text, "<")[0])
		return Lead{ID: r.ID, Name: name, Email: email}, nil
	}, step.Config{Retry: once})

	model := llmtest.New(llmtest.Config{Model: "scripted-large", Respond: f.respond})
	classify := llm.StructuredInto("classify", model,
		func(l Lead) []llm.Message {
			return []llm.Message{llm.System("Classify the lead. Answer with JSON only."), llm.User("Lead " + l.Name + " <" + l.Email + ">")}
		},
		func(l Lead, lb Label) (Classified, error) { return Classified{Lead: l, Label: lb}, nil },
		llm.Options{Reasks: 1, Retry: once, Step: step.Config{
			Review: step.ReviewRule{If: func(c Classified) (string, bool) {
				return fmt.Sprintf("confidence %.2f is below 0.5", c.Label.Confidence), c.Label.Confidence < 0.5
			}},
		}})

	plain := step.New("draft-plain", func(_ context.Context, c Classified) (Draft, error) {
		f.advance(100 * time.Millisecond)
		return Draft{To: c.Lead.Email, Body: "Hello " + c.Lead.Name + ", thanks for your message."}, nil
	}, step.Config{Retry: once})
	draft := step.New("draft", func(_ context.Context, c Classified) (Draft, error) {
		f.advance(300 * time.Millisecond)
		if strings.Contains(c.Lead.Name, "Lovelace") {
			return Draft{}, retry.Permanent(errors.New("no template for stage " + c.Label.Stage))
		}
		return Draft{To: c.Lead.Email, Body: "Hi " + c.Lead.Name + ", thanks for reaching out."}, nil
	}, step.Config{Retry: once}).Or(plain)

	rt := pipeline.NewRuntime(pipeline.RuntimeConfig{
		Store:       f.st,
		Clock:       f.retryClock(),
		DeadLetters: []deadletter.Sink{deadletter.NewMemory()},
		Logger:      slog.New(slog.DiscardHandler),
		// Traced with ids counted up, so that the timelines that print
		// them are the same on every run of the test.
		Telemetry: observe.New(observe.WithTracerProvider(sdktrace.NewTracerProvider(sdktrace.WithIDGenerator(&countedIDs{})))),
	})
	f.rt = rt
	return pipeline.Then(pipeline.Then(pipeline.New(rt, pipelineName, parse, pipeline.Policy{Outage: pipeline.NoOutage}), classify), draft)
}

// respond is the scripted model: right, wrong or unsure by the lead.
func (f *fixture) respond(req llm.Request) llmtest.Answer {
	f.advance(1200 * time.Millisecond)
	user := req.Messages[1].Content
	reask := len(req.Messages) > 2
	switch {
	case strings.Contains(user, "Bad") && f.broken.Load():
		// Prose around JSON with an invented stage, long enough that the
		// timeline must cut it.
		var b strings.Builder
		b.WriteString("Sure! Here is my careful analysis of this lead.\n")
		for i := 1; i <= 24; i++ {
			fmt.Fprintf(&b, "Consideration %d: the lead's wording suggests strong buying intent.\n", i)
		}
		b.WriteString(`{"stage": "Hot!!", "confidence": 0.9}`)
		return llmtest.Text(b.String())
	case strings.Contains(user, "Unsure"):
		return llmtest.Text(`{"stage": "new", "confidence": 0.4}`)
	case strings.Contains(user, "Ada") && !reask:
		return llmtest.Text(`{"stage": "warm"}`)
	}
	return llmtest.Text(`{"stage": "warm", "confidence": 0.8}`)
}

// submit enqueues a lead; id "" lets the pipeline name the run.
func (f *fixture) submit(id, text string) string {
	f.t.Helper()
	ext := id
	if ext == "" {
		ext = fmt.Sprintf("lead-%d", time.Now().UnixNano())
	}
	got, err := f.p.Submit(context.Background(), RawLead{ID: ext, Text: text}, pipeline.SubmitOptions{
		RunID:   id,
		Trigger: step.Trigger{Source: "web-form", ExternalID: ext, ReceivedAt: f.retryClock().Now().Add(-2 * time.Second)},
	})
	require.NoError(f.t, err)
	return got
}

// submitFrom enqueues a lead with its id in the source system and an
// idempotency key, and returns the run's id.
func (f *fixture) submitFrom(externalID, key, text string) string {
	f.t.Helper()
	got, err := f.p.Submit(context.Background(), RawLead{ID: externalID, Text: text}, pipeline.SubmitOptions{
		IdempotencyKey: key,
		Trigger:        step.Trigger{Source: "web-form", ExternalID: externalID, ReceivedAt: f.retryClock().Now()},
	})
	require.NoError(f.t, err)
	return got
}

// work runs a worker until the returned stop is called.
func (f *fixture) work() (stop func()) {
	w, err := f.rt.NewWorker(pipeline.WorkerConfig{ID: "test-worker", Concurrency: 2, Poll: 5 * time.Millisecond, PruneEvery: -1})
	require.NoError(f.t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()
	return func() {
		cancel()
		require.NoError(f.t, <-done)
	}
}

// drain runs a worker until no run is queued or running.
func (f *fixture) drain() {
	f.t.Helper()
	stop := f.work()
	defer stop()
	deadline := time.Now().Add(30 * time.Second)
	for {
		runsPage, err := f.st.ListRuns(context.Background(), store.RunFilter{Status: []store.Status{store.Queued, store.Running}, Limit: 1})
		runs := runsPage.Runs
		require.NoError(f.t, err)
		if len(runs) == 0 {
			return
		}
		if time.Now().After(deadline) {
			f.t.Fatalf("the queue did not drain in 30 s: %s is %s", runs[0].ID, runs[0].Status)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// run submits a lead and drains the queue: one run at a time keeps a fixed
// clock's readings in a known order.
func (f *fixture) run(id, text string) string {
	f.t.Helper()
	id = f.submit(id, text)
	f.drain()
	return id
}

func (f *fixture) get(id string) *store.RunDetail {
	f.t.Helper()
	d, err := f.st.GetRun(context.Background(), id)
	require.NoError(f.t, err)
	return d
}

// Lead texts, by fate.
const (
	adaText     = "Ada Lovelace <ada@example.com>"
	noEmailText = "Charles Babbage, no email"
	badText     = "Bad Answer <bad@example.com>"
	unsureText  = "Unsure Person <unsure@example.com>"
)

// countedIDs makes trace and span ids 1, 2, 3…: deterministic where the
// SDK's are random.
type countedIDs struct {
	mu sync.Mutex
	n  uint64
}

func (g *countedIDs) next() uint64 {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.n++
	return g.n
}

func (g *countedIDs) NewIDs(context.Context) (trace.TraceID, trace.SpanID) {
	var tid trace.TraceID
	binary.BigEndian.PutUint64(tid[8:], g.next())
	return tid, g.NewSpanID(context.Background(), tid)
}

func (g *countedIDs) NewSpanID(context.Context, trace.TraceID) trace.SpanID {
	var sid trace.SpanID
	binary.BigEndian.PutUint64(sid[:], g.next())
	return sid
}
