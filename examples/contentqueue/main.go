// Command contentqueue is a content-repurposing automation built on Plumb:
// a model drafts 100 social posts (X, LinkedIn, Mastodon) from the blog's
// latest articles, and a content calendar schedules them. Every post has a
// contract: a link that is a URI, a publish date that is a date and not in
// the past, a status from a fixed list, a confidence between 0 and 1, text
// within the channel's length, hashtags without spaces.
//
// The model breaks that contract now and then, the way real models do: a
// link without its scheme, "next Tuesday" for a date, an invented status,
// text over the limit, a missing field, prose around broken JSON, a 429. A
// broken post is re-asked with its violations, handed to a cheaper model,
// or sent to a person; so is a post the model is unsure of. One broken post
// never holds up the queue: every other post flows on, and every post ends
// in exactly one recorded state.
//
//	go run ./examples/contentqueue                 # scripted models, no API key
//	go run ./examples/contentqueue -seed 7         # another day's mistakes
//	OPENAI_API_KEY=... PLUMB_MODEL=gpt-4o PLUMB_FALLBACK_MODEL=gpt-4o-mini go run ./examples/contentqueue
//
// Runs are recorded in ./contentqueue.db (SQLite). See what waits for a
// person, and decide, with the plumb CLI:
//
//	go run ./cmd/plumb --db contentqueue.db review list
//	go run ./cmd/plumb --db contentqueue.db review approve RUN_ID
//	go run ./cmd/plumb --db contentqueue.db deadletters list
//
// Posts are submitted with idempotency keys, so running the example again
// with the same -seed submits nothing new: its worker resumes the posts a
// person approved in the meantime, and the summary shows where each one is.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"time"

	"github.com/plumb-dev/plumb/deadletter"
	"github.com/plumb-dev/plumb/llm"
	"github.com/plumb-dev/plumb/pipeline"
	"github.com/plumb-dev/plumb/retry"
	"github.com/plumb-dev/plumb/step"
	"github.com/plumb-dev/plumb/store"
	"github.com/plumb-dev/plumb/store/sqlitestore"
)

const pipelineName = "contentqueue"

func main() {
	var o options
	flag.StringVar(&o.db, "db", "contentqueue.db", "the SQLite store, created if missing")
	flag.IntVar(&o.posts, "posts", 100, "how many posts to draft")
	flag.Int64Var(&o.seed, "seed", 1, "seed of the articles and of the scripted models' mistakes")
	flag.IntVar(&o.concurrency, "concurrency", 8, "posts drafted at once")
	flag.Parse()
	o.log = os.Stderr
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if _, err := run(ctx, o, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "contentqueue:", err)
		os.Exit(1)
	}
}

type options struct {
	db          string
	posts       int
	seed        int64
	concurrency int
	// log receives what the library logs at error level.
	log io.Writer
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
	earlierPage, err := st.ListRuns(ctx, store.RunFilter{Pipeline: pipelineName, Limit: 1 << 30})
	earlier := earlierPage.Runs
	if err != nil {
		return nil, err
	}

	briefs := makeBriefs(o.posts, uint64(o.seed))
	rt := pipeline.NewRuntime(pipeline.RuntimeConfig{
		Store: st,
		// The store is the canonical dead-letter bucket; naming it as the
		// only sink keeps the default copy of every letter off the console.
		DeadLetters: []deadletter.Sink{deadletter.Store(st)},
		Logger:      slog.New(slog.NewTextHandler(o.log, &slog.HandlerOptions{Level: slog.LevelError})),
	})
	p := build(rt, primary, cheap, &calendar{gone: retracted(o.posts, uint64(o.seed))})
	fmt.Fprintf(w, "Content queue: %d posts from %d articles, drafted by %s\n", len(briefs), (len(briefs)+2)/3, desc)
	fmt.Fprintf(w, "Store: %s (%d runs from earlier runs of this example)\n\n", o.db, len(earlier))

	var ids []string
	for _, b := range briefs {
		// The key makes a second run with the same seed find these runs
		// instead of drafting the posts again.
		id, err := p.Submit(ctx, b, pipeline.SubmitOptions{
			IdempotencyKey: fmt.Sprintf("seed-%d/%s", o.seed, b.PostID),
			Trigger:        step.Trigger{Source: "cms-export", ExternalID: b.PostID, ReceivedAt: time.Now()},
		})
		if err != nil {
			return nil, fmt.Errorf("submit %s: %w", b.PostID, err)
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
		return nil, err
	}
	t, err := summarise(ctx, st, ids, briefs)
	if err != nil {
		return nil, err
	}
	t.print(w, o.db, cheap)
	return t, nil
}

// build wires the pipeline on the runtime: the model drafts a post (re-asked
// with its violations, then the cheaper model), a person sees the doubtful ones,
// the calendar schedules the rest.
func build(rt *pipeline.Runtime, primary, cheap llm.Model, cal *calendar) *pipeline.Pipeline[Brief, Scheduled] {
	var fallbackModels []llm.Model
	if cheap != nil {
		fallbackModels = []llm.Model{cheap}
	}
	// A provider that stays down is tried again from the queue a moment
	// later, once, before its posts are dead-lettered.
	policy := pipeline.Policy{Outage: []time.Duration{200 * time.Millisecond}}
	draft := llm.StructuredInto("draft", primary, draftPrompt, intoPost, llm.Options{
		FallbackModels: fallbackModels,
		Retry:          retry.Policy{MaxAttempts: 3, InitialInterval: 10 * time.Millisecond, MaxInterval: 200 * time.Millisecond},
		Prices: map[string]llm.Price{
			"scripted-large": {InputPerMillion: 2.50, OutputPerMillion: 10},
			"scripted-small": {InputPerMillion: 0.15, OutputPerMillion: 0.60},
		},
		Step: step.Config{Review: step.ReviewRule{
			If: needsReview,
			// A post still broken after the re-asks and the cheaper model
			// is a person's to write, not a dead letter: the article is
			// fine, only the draft is not.
			OnClasses: []retry.Class{retry.ClassContract},
		}},
	})
	p := pipeline.New(rt, pipelineName, draft, policy)
	return pipeline.Then(p, step.New("schedule", cal.schedule, step.Config{}))
}
