// Command supporttriage is a support-triage automation built on Plumb: a
// morning's inbox of about 60 messages (angry customers, double charges,
// bug reports with stack traces, feature requests, spam, messages in
// German, Spanish, French, Japanese and Portuguese) is classified by a
// model (category, urgency, sentiment, language, confidence, a one-line
// summary) and routed by its category to a desk: billing, engineering,
// accounts, care, product, general or spam.
//
// Each desk is a pipeline of its own, with its own steps: it assesses the
// message by the desk's rules (queue, team, priority, SLA) and opens the
// ticket; the spam desk quarantines. A message's run routes it with
// pipeline.Route, so its desk's work is a branch run of the desk's
// pipeline, and the record names the route taken. Every category the
// classification's contract allows has a desk, and the desks are built
// from one list, so a category with no route cannot happen; were one
// missing, the run would dead-letter naming the key, never drop it.
//
// A classification the model is unsure of (confidence below 0.7) is not
// routed on a guess: it waits for a person in the review inbox, with a
// deadline (4h) after which it escalates; so does a message the model
// could not classify within its contract after re-asks and a cheaper
// model. Everything else is routed at once. Each review opened is
// announced by a notifier (slog, behind a digest, on stderr), with a link
// into the inbox. The summary prints the tree: each message's route, and
// what its desk's branch run made of it.
//
//	go run ./examples/supporttriage                  # triage, print the summary, exit
//	go run ./examples/supporttriage -serve :8080     # ... then serve the console and its review inbox
//	OPENAI_API_KEY=... PLUMB_MODEL=gpt-4o PLUMB_FALLBACK_MODEL=gpt-4o-mini go run ./examples/supporttriage
//
// With -serve, the operator's console (package console) is served at
// http://localhost:8080/ and its review inbox at
// http://localhost:8080/review/ while the worker keeps running: approve a
// classification, edit it, or reject the message, and watch the run resume
// and be routed; replay or cancel runs from the console. Stop with Ctrl-C.
// Both ask for HTTP Basic auth: -user and -password (or PLUMB_REVIEW_USER
// and PLUMB_REVIEW_PASSWORD; a random password is made and printed when
// none is given). That hook is an example only: wire
// console.Config.Authorize to your own sign-in.
//
// Without -serve, decide with the plumb CLI instead:
//
//	go run ./cmd/plumb --db supporttriage.db review list
//	go run ./cmd/plumb --db supporttriage.db review approve RUN_ID
//
// Messages are submitted with idempotency keys, so a second run with the
// same -seed submits nothing new: it picks up the reviews still waiting
// and the runs a person approved in the meantime.
package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"time"

	"github.com/plumb-dev/plumb/deadletter"
	"github.com/plumb-dev/plumb/llm"
	"github.com/plumb-dev/plumb/notify"
	"github.com/plumb-dev/plumb/pipeline"
	"github.com/plumb-dev/plumb/retry"
	"github.com/plumb-dev/plumb/step"
	"github.com/plumb-dev/plumb/store"
	"github.com/plumb-dev/plumb/store/sqlitestore"
)

const pipelineName = "supporttriage"

func main() {
	var o options
	flag.StringVar(&o.db, "db", "supporttriage.db", "the SQLite store, created if missing")
	flag.IntVar(&o.messages, "messages", 60, "how many support messages to triage")
	flag.Int64Var(&o.seed, "seed", 1, "seed of the messages and of the scripted models' mistakes")
	flag.IntVar(&o.concurrency, "concurrency", 8, "messages classified at once")
	flag.StringVar(&o.serve, "serve", "", "serve the console and its review inbox on this address (\":8080\") until Ctrl-C")
	flag.StringVar(&o.user, "user", envOr("PLUMB_REVIEW_USER", "reviewer"), "the review inbox's Basic auth user")
	flag.StringVar(&o.password, "password", os.Getenv("PLUMB_REVIEW_PASSWORD"), "the review inbox's Basic auth password (default: random, printed)")
	flag.DurationVar(&o.deadline, "review-deadline", 4*time.Hour, "how long a review waits before it escalates")
	flag.Parse()
	o.log = os.Stderr
	if o.serve != "" && o.password == "" {
		b := make([]byte, 9)
		_, _ = rand.Read(b)
		o.password = hex.EncodeToString(b)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if _, err := run(ctx, o, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "supporttriage:", err)
		os.Exit(1)
	}
}

type options struct {
	db          string
	messages    int
	seed        int64
	concurrency int
	// serve is the inbox's address; empty prints the summary and exits.
	serve          string
	user, password string
	deadline       time.Duration
	// log receives the notifications and what the library logs.
	log io.Writer
}

func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

func run(ctx context.Context, o options, w io.Writer) (*tally, error) {
	st, err := sqlitestore.Open(o.db, sqlitestore.Config{})
	if err != nil {
		return nil, err
	}
	defer st.Close()
	primary, cheap, desc, err := models(o.seed)
	if err != nil {
		return nil, err
	}
	srv, err := listen(o)
	if err != nil {
		return nil, err
	}
	if srv.ln != nil {
		defer srv.ln.Close() // in case we return before serving
	}
	logger := slog.New(slog.NewTextHandler(o.log, nil))
	// A burst of reviews is one message, not sixty: the first goes out at
	// once, the rest of the minute as one digest.
	digest := notify.NewDigest(notify.NewSlog(logger), notify.DigestConfig{Logger: logger})
	defer digest.Close(context.WithoutCancel(ctx))

	messages := makeMessages(o.messages, uint64(o.seed))
	rt := pipeline.NewRuntime(pipeline.RuntimeConfig{
		Store: st,
		// The store is the canonical dead-letter bucket, and the notifier
		// announces each letter: no second copy on the console.
		DeadLetters: []deadletter.Sink{deadletter.Store(st)},
		Logger:      logger,
		Notifier:    digest,
	})
	p := build(rt, primary, cheap, srv.url, o.deadline)
	earlierPage, err := st.ListRuns(ctx, store.RunFilter{Pipeline: pipelineName, Limit: 1 << 30})
	earlier := earlierPage.Runs
	if err != nil {
		return nil, err
	}
	fmt.Fprintf(w, "Support triage: %d messages, classified by %s\n", len(messages), desc)
	fmt.Fprintf(w, "Store: %s (%d runs from earlier runs of this example)\n", o.db, len(earlier))
	if srv.ln != nil {
		fmt.Fprintf(w, "Review inbox: %s (user %q, password %q)\n", srv.url, o.user, o.password)
		fmt.Fprintf(w, "Console: %s (the same user)\n\n", strings.TrimSuffix(srv.url, strings.TrimPrefix(basePath, "/")))
	} else {
		fmt.Fprintf(w, "Review inbox: %s once served (-serve :8080)\n\n", srv.url)
	}

	ids := make([]string, 0, len(messages))
	msgOf := map[string]string{}
	for _, m := range messages {
		// The key makes a second run with the same seed find these runs
		// instead of triaging the messages again.
		id, err := p.Submit(ctx, m, pipeline.SubmitOptions{
			IdempotencyKey: fmt.Sprintf("seed-%d/%s", o.seed, m.ID),
			Trigger:        step.Trigger{Source: "helpdesk:" + m.Channel, ExternalID: m.ID, ReceivedAt: m.ReceivedAt},
		})
		if err != nil {
			return nil, fmt.Errorf("submit %s: %w", m.ID, err)
		}
		ids = append(ids, id)
		msgOf[id] = m.ID
	}

	workCtx, stopWork := context.WithCancel(context.WithoutCancel(ctx))
	done := make(chan error, 1)
	go func() {
		done <- rt.Work(workCtx, pipeline.WorkerConfig{Concurrency: o.concurrency, Poll: 100 * time.Millisecond})
	}()
	stopServing := srv.start(st, o, logger)
	err = follow(ctx, w, st, ids)
	if err == nil && srv.ln != nil {
		// The batch is through; the worker stays up for the decisions.
		t, serr := summarise(ctx, st, ids, msgOf)
		if serr != nil {
			err = serr
		} else {
			t.print(w, o, srv.url, true, cheap)
			fmt.Fprintf(w, "\nWaiting for decisions at %s (Ctrl-C to stop)\n", srv.url)
			err = watch(ctx, w, st, msgOf)
		}
	}
	if ctx.Err() != nil && srv.ln != nil {
		err = nil // Ctrl-C is how a served inbox ends
	}
	stopServing()
	stopWork()
	if werr := <-done; werr != nil && err == nil {
		err = werr
	}
	_ = digest.Close(context.WithoutCancel(ctx))
	if err != nil {
		return nil, err
	}
	t, err := summarise(context.WithoutCancel(ctx), st, ids, msgOf)
	if err != nil {
		return nil, err
	}
	if srv.ln != nil {
		fmt.Fprintln(w, "\nStopped: the inbox is closed, and the runs waiting for review wait in the store.")
	}
	t.print(w, o, srv.url, false, cheap)
	return t, nil
}

// build wires the pipelines on the runtime: classify with the model
// (re-asked with its violations, then the cheaper model; a person when it
// is unsure or cannot), then route the message by its category to its
// desk's pipeline, as a branch run that the record names.
func build(rt *pipeline.Runtime, primary, cheap llm.Model, inbox string, deadline time.Duration) *pipeline.Pipeline[Message, Routed] {
	var fallbackModels []llm.Model
	if cheap != nil {
		fallbackModels = []llm.Model{cheap}
	}
	policy := pipeline.Policy{
		// Notifications link into the review inbox.
		Link: func(runID string) string { return inbox + "reviews/" + runID },
		// A provider that stays down is tried again from the queue a
		// moment later, once, before its messages are dead-lettered.
		Outage: []time.Duration{200 * time.Millisecond},
	}
	classify := llm.StructuredInto("classify", primary, classifyPrompt, intoTriaged, llm.Options{
		FallbackModels: fallbackModels,
		Retry:          retry.Policy{MaxAttempts: 3, InitialInterval: 10 * time.Millisecond, MaxInterval: 200 * time.Millisecond},
		Step: step.Config{Review: step.ReviewRule{
			If: needsReview,
			// A message no model could classify, or would not, is a
			// person's to read: routing it on a guess is how tickets get
			// lost.
			OnClasses: []retry.Class{retry.ClassContract, retry.ClassRefusal},
			Deadline:  deadline,
			// Nobody decided in time: escalate and keep waiting, rather
			// than route a guess.
			OnDeadline: step.NoDefault,
		}},
	})
	triage := pipeline.New(rt, pipelineName, classify, policy)
	return pipeline.Route(triage, "route", deskFor, deskPipelines(rt, policy))
}
