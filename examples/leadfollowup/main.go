package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"time"

	"github.com/plumb-dev/plumb/deadletter"
	"github.com/plumb-dev/plumb/llm"
	"github.com/plumb-dev/plumb/observe"
	"github.com/plumb-dev/plumb/pipeline"
	"github.com/plumb-dev/plumb/retry"
	"github.com/plumb-dev/plumb/step"
	"github.com/plumb-dev/plumb/store"
	"github.com/plumb-dev/plumb/store/sqlitestore"
)

func main() {
	var o options
	flag.StringVar(&o.db, "db", "plumb.db", "the SQLite store, created if missing")
	flag.StringVar(&o.deadLetters, "dead-letters", "dead-letters.jsonl", "where a JSONL copy of each dead letter goes")
	flag.IntVar(&o.leads, "leads", 200, "how many leads to process")
	flag.Int64Var(&o.seed, "seed", 1, "seed of the leads and of the scripted model's faults")
	flag.IntVar(&o.concurrency, "concurrency", 16, "runs in flight at once")
	flag.BoolVar(&o.work, "work", false, "submit no leads: carry out what is queued (replays, approved reviews), then exit once idle")
	flag.StringVar(&o.otlp, "otlp", "", "export the runs' traces by OTLP/HTTP to this collector, e.g. http://127.0.0.1:4318 (Jaeger)")
	flag.BoolVar(&o.definition, "definition", false, "print the pipeline's definition as JSON (what plumb versions check --definition reads) and exit")
	flag.BoolVar(&o.next, "next", false, "the next release of the pipeline, v2, whose input contract takes no chat-widget leads: with -definition or -work")
	flag.StringVar(&o.serve, "serve", "", "then serve the operator's console on this address (\":8080\") until Ctrl-C, a worker running")
	flag.StringVar(&o.user, "user", "operator", "the console's Basic auth user")
	flag.StringVar(&o.password, "password", os.Getenv("PLUMB_CONSOLE_PASSWORD"), "the console's Basic auth password (default: random, printed)")
	flag.StringVar(&o.traceURL, "trace-url", "", "link each run to its trace: a URL with {trace}, e.g. http://127.0.0.1:16686/trace/{trace} (Jaeger)")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx, o, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "leadfollowup:", err)
		os.Exit(1)
	}
}

type options struct {
	db, deadLetters string
	leads           int
	seed            int64
	concurrency     int
	// work: submit nothing, work the queue until it is idle.
	work bool
	// otlp: the OTLP/HTTP collector the traces go to; none when empty.
	otlp string
	// definition: print the definition and exit; next: build v2.
	definition, next bool
	// serve: the console's address once the batch is through; user,
	// password: its Basic auth; traceURL: Config.TraceURL.
	serve, user, password, traceURL string
}

func run(ctx context.Context, o options, w io.Writer) (err error) {
	if o.definition {
		return printDefinition(w, o)
	}
	if o.next && !o.work {
		return errors.New("-next builds the next release to print its definition (-definition) or to work the queue under it (-work); it submits no leads")
	}
	var tel *observe.Telemetry // nil: the global providers
	if o.otlp != "" {
		var shutdown func() error
		if tel, shutdown, err = otlpTelemetry(ctx, o.otlp); err != nil {
			return err
		}
		defer func() { err = errors.Join(err, shutdown()) }()
	}
	st, err := sqlitestore.Open(o.db, sqlitestore.Config{})
	if err != nil {
		return err
	}
	defer st.Close()
	jsonl, err := deadletter.OpenJSONL(o.deadLetters)
	if err != nil {
		return err
	}
	defer jsonl.Close()
	primary, fallback, desc, err := models(o.seed)
	if err != nil {
		return err
	}
	earlierPage, err := st.ListRuns(ctx, store.RunFilter{Pipeline: "leadfollowup", Limit: 1 << 30})
	earlier := earlierPage.Runs
	if err != nil {
		return err
	}

	rt := pipeline.NewRuntime(pipeline.RuntimeConfig{
		Store:       st,
		DeadLetters: []deadletter.Sink{jsonl},
		Logger:      slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError})),
		Telemetry:   tel,
	})
	if o.work {
		// One definition of the pipeline on the runtime: v1's, or v2's.
		var version store.Version
		if o.next {
			version = buildNext(rt, primary, fallback).Version()
		} else {
			version = build(rt, primary, fallback).Version()
		}
		fmt.Fprintf(w, "Lead follow-up %s, working the queue of %s, model: %s\n", version, o.db, desc)
		return workQueue(ctx, w, rt, o)
	}
	p := build(rt, primary, fallback)
	fmt.Fprintf(w, "Lead follow-up: %d leads, model: %s\n", o.leads, desc)
	fmt.Fprintf(w, "Store: %s (%d runs from earlier runs of this example)\n\n", o.db, len(earlier))

	batch := time.Now().UTC().Format("20060102T150405.000")
	var ids []string
	for _, lead := range makeLeads(o.leads, uint64(o.seed)) {
		id, err := p.Submit(ctx, lead, pipeline.SubmitOptions{
			IdempotencyKey: batch + "/" + lead.ID,
			Trigger:        step.Trigger{Source: lead.Source, ExternalID: lead.ID, ReceivedAt: time.Now()},
		})
		if err != nil {
			return fmt.Errorf("submit %s: %w", lead.ID, err)
		}
		ids = append(ids, id)
	}

	workCtx, stopWork := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() {
		done <- rt.Work(workCtx, pipeline.WorkerConfig{Concurrency: o.concurrency, Poll: 100 * time.Millisecond})
	}()
	err = follow(ctx, w, st, ids)
	stopWork()
	if werr := <-done; werr != nil && err == nil {
		err = werr
	}
	if err != nil {
		return err
	}
	if err := summarise(ctx, w, st, ids, o); err != nil || o.serve == "" {
		return err
	}
	return serveConsole(ctx, w, st, rt, o)
}

// build wires the pipeline on the runtime: parse the text, classify it
// with the model (a fallback model, then keyword rules, when the model
// cannot), draft a reply. It is release v1.
func build(rt *pipeline.Runtime, primary, fallbackModel llm.Model) *pipeline.Pipeline[RawLead, Reply] {
	p := pipeline.New(rt, "leadfollowup", step.New("parse", parse, step.Config{}), policy("v1"))
	return modelSteps(p, primary, fallbackModel)
}

// buildNext is the next release, v2: leads from the chat widget go to a
// pipeline of their own, so this one's input contract no longer takes
// them (RawLeadNext). Its definition, and so its fingerprint, differs
// from v1's in that one contract: plumb versions check lists the runs of
// v1 that v2 would refuse.
func buildNext(rt *pipeline.Runtime, primary, fallbackModel llm.Model) *pipeline.Pipeline[RawLeadNext, Reply] {
	parseNext := step.New("parse", func(ctx context.Context, r RawLeadNext) (Lead, error) { return parse(ctx, RawLead(r)) }, step.Config{})
	return modelSteps(pipeline.New(rt, "leadfollowup", parseNext, policy("v2")), primary, fallbackModel)
}

// policy is the pipeline's policy under a release's label. A model that
// stays down is retried from the queue a second later, once, before its
// runs are dead-lettered.
func policy(version string) pipeline.Policy {
	return pipeline.Policy{Outage: []time.Duration{time.Second}, Version: version}
}

// modelSteps adds the steps every release shares to the parse step.
func modelSteps[In any](p *pipeline.Pipeline[In, Lead], primary, fallbackModel llm.Model) *pipeline.Pipeline[In, Reply] {
	var fallbackModels []llm.Model
	if fallbackModel != nil {
		fallbackModels = []llm.Model{fallbackModel}
	}
	modelRetry := retry.Policy{MaxAttempts: 3, InitialInterval: 10 * time.Millisecond, MaxInterval: 200 * time.Millisecond}
	classify := llm.StructuredInto("classify", primary, classifyPrompt,
		func(l Lead, c Classification) (Classified, error) { return Classified{Lead: l, Classification: c}, nil },
		llm.Options{FallbackModels: fallbackModels, Retry: modelRetry},
	).Or(step.New("classify-by-rules", classifyByRules, step.Config{}))
	return pipeline.Then(pipeline.Then(p, classify), llm.Structured[Reply]("draft", primary, draftPrompt, llm.Options{
		FallbackModels: fallbackModels,
		Retry:          modelRetry,
	}))
}

// printDefinition is -definition: the definition the pipeline registers,
// as JSON, built on a runtime with no store (nothing is opened).
func printDefinition(w io.Writer, o options) error {
	rt := pipeline.NewRuntime(pipeline.RuntimeConfig{Logger: slog.New(slog.DiscardHandler)})
	primary, fallback, _, err := models(o.seed)
	if err != nil {
		return err
	}
	var def store.PipelineDef
	if o.next {
		p := buildNext(rt, primary, fallback)
		if err := p.Err(); err != nil {
			return err
		}
		def = p.Definition()
	} else {
		p := build(rt, primary, fallback)
		if err := p.Err(); err != nil {
			return err
		}
		def = p.Definition()
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(def)
}
