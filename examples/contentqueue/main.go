// Command contentqueue is a content-repurposing automation built on Plumb:
// each of the blog's latest articles becomes a post on X, LinkedIn and
// Mastodon. An article is one run: a model drafts its posts, and a fan-out
// publishes each post in a branch run of its own (pipeline "post": format
// the post for its platform, then publish it); once every post went out,
// the article is marked shared in the CMS.
//
// Every draft has a contract: a link that is a URI, a publish date that is
// a date and not in the past, a status from a fixed list, a confidence
// between 0 and 1, hashtags without spaces. The model breaks it now and
// then, the way real models do (a link without its scheme, "next Tuesday"
// for a date, an invented status, a missing field, prose around broken
// JSON, a 429): the answer is re-asked with its violations, handed to a
// cheaper model, or sent to a person; so is an article whose posts the
// model is unsure of or flagged.
//
// Each platform has rules of its own, held by the formatted post's
// contract: X allows 280 characters, hashtags included. On one article the
// model writes its X post at LinkedIn length. That post dead-letters alone,
// at step format, while its siblings publish; the article's join, which
// needs every post, dead-letters the article naming it. The example then
// does what an operator does: it patches the broken post's input (the text
// cut to fit) and replays that branch run alone. Once it succeeds, the
// store replays the article from its join, which completes with the
// patched post: nothing is drafted or published twice. The summary prints
// the tree (each article's run and its posts' runs) and the recovery.
//
//	go run ./examples/contentqueue                 # scripted models, no API key
//	go run ./examples/contentqueue -seed 7         # another day's mistakes
//	OPENAI_API_KEY=... PLUMB_MODEL=gpt-4o PLUMB_FALLBACK_MODEL=gpt-4o-mini go run ./examples/contentqueue
//
// Runs are recorded in ./contentqueue.db (SQLite). See the tree of a run,
// what waits for a person, and decide, with the plumb CLI:
//
//	go run ./cmd/plumb --db contentqueue.db runs show RUN_ID
//	go run ./cmd/plumb --db contentqueue.db review list
//	go run ./cmd/plumb --db contentqueue.db review approve RUN_ID
//
// Articles are submitted with idempotency keys, so running the example
// again with the same -seed submits nothing new: its worker resumes the
// articles a person approved in the meantime, and the summary shows where
// each one is.
package main

import (
	"context"
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
	"github.com/plumb-dev/plumb/pipeline"
	"github.com/plumb-dev/plumb/retry"
	"github.com/plumb-dev/plumb/step"
	"github.com/plumb-dev/plumb/store"
	"github.com/plumb-dev/plumb/store/sqlitestore"
)

// The article pipeline, and the pipeline of each post's branch run.
const (
	pipelineName = "contentqueue"
	postPipeline = "post"
)

func main() {
	var o options
	flag.StringVar(&o.db, "db", "contentqueue.db", "the SQLite store, created if missing")
	flag.IntVar(&o.articles, "articles", 20, "how many articles to post about, each on every channel")
	flag.Int64Var(&o.seed, "seed", 1, "seed of the articles and of the scripted models' mistakes")
	flag.IntVar(&o.concurrency, "concurrency", 8, "runs (articles and posts) worked at once")
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
	articles    int
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
	primary, cheap, desc, err := models(o.seed, overlong(o.articles, uint64(o.seed)))
	if err != nil {
		return nil, err
	}
	earlierPage, err := st.ListRuns(ctx, store.RunFilter{Pipeline: pipelineName, Limit: 1 << 30})
	if err != nil {
		return nil, err
	}

	briefs := makeBriefs(o.articles, uint64(o.seed))
	rt := pipeline.NewRuntime(pipeline.RuntimeConfig{
		Store: st,
		// The store is the canonical dead-letter bucket; naming it as the
		// only sink keeps the default copy of every letter off the console.
		DeadLetters: []deadletter.Sink{deadletter.Store(st)},
		Logger:      slog.New(slog.NewTextHandler(o.log, &slog.HandlerOptions{Level: slog.LevelError})),
	})
	p, posts := build(rt, primary, cheap)
	fmt.Fprintf(w, "Content queue: %d articles, each posted on %s (%d posts), drafted by %s\n",
		len(briefs), strings.Join(channels, ", "), len(briefs)*len(channels), desc)
	fmt.Fprintf(w, "Store: %s (%d articles from earlier runs of this example)\n\n", o.db, len(earlierPage.Runs))

	var ids []string
	for _, b := range briefs {
		// The key makes a second run with the same seed find these runs
		// instead of drafting the posts again.
		id, err := p.Submit(ctx, b, pipeline.SubmitOptions{
			IdempotencyKey: fmt.Sprintf("seed-%d/%s", o.seed, b.Article.ID),
			Trigger:        step.Trigger{Source: "cms-export", ExternalID: b.Article.ID, ReceivedAt: time.Now()},
		})
		if err != nil {
			return nil, fmt.Errorf("submit %s: %w", b.Article.ID, err)
		}
		ids = append(ids, id)
	}

	workCtx, stopWork := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() {
		done <- rt.Work(workCtx, pipeline.WorkerConfig{Concurrency: o.concurrency, Poll: 100 * time.Millisecond})
	}()
	err = follow(ctx, w, st, ids)
	if err == nil {
		// The workers keep running: they carry out the replays.
		err = recoverPosts(ctx, w, st, posts, ids)
	}
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

// build wires the pipelines on the runtime: an article's run drafts its
// posts with the model (re-asked with its violations, then the cheaper
// model; a person sees the doubtful ones), publishes each post in a branch
// run of the post pipeline, and marks the article shared. It returns the
// post pipeline too: replaying a post is its business.
func build(rt *pipeline.Runtime, primary, cheap llm.Model) (*pipeline.Pipeline[Brief, Shared], *pipeline.Pipeline[Post, Published]) {
	var fallbackModels []llm.Model
	if cheap != nil {
		fallbackModels = []llm.Model{cheap}
	}
	// A provider that stays down is tried again from the queue a moment
	// later, once, before its articles are dead-lettered.
	policy := pipeline.Policy{Outage: []time.Duration{200 * time.Millisecond}}

	// A post's own run: formatted for its platform (Formatted's contract
	// holds the platform's rules), then handed to its scheduler.
	post := pipeline.Then(pipeline.New(rt, postPipeline, step.New("format", format, step.Config{}), policy),
		step.New("publish", publish, step.Config{}))

	draft := llm.StructuredInto("draft", primary, draftPrompt, intoPosts, llm.Options{
		FallbackModels: fallbackModels,
		Retry:          retry.Policy{MaxAttempts: 3, InitialInterval: 10 * time.Millisecond, MaxInterval: 200 * time.Millisecond},
		Prices: map[string]llm.Price{
			"scripted-large": {InputPerMillion: 2.50, OutputPerMillion: 10},
			"scripted-small": {InputPerMillion: 0.15, OutputPerMillion: 0.60},
		},
		Step: step.Config{Review: step.ReviewRule{
			If: needsReview,
			// Drafts still broken after the re-asks and the cheaper model
			// are a person's to write, not a dead letter: the article is
			// fine, only the drafts are not.
			OnClasses: []retry.Class{retry.ClassContract},
		}},
	})
	article := pipeline.New(rt, pipelineName, draft, policy)
	// Every post must go out before the article is marked shared: a
	// content team would rather see an article stopped, loudly, than
	// marked done with a platform silently missing (KeepSucceeded) or
	// done on a quorum (AtLeast). The posts that can go out still do, each
	// in its own run; the broken one dead-letters alone and can be patched
	// and replayed alone, and its success resumes this join.
	each := pipeline.FanOut(article, "posts", post, pipeline.FanOutOptions{Join: pipeline.AllSucceed()})
	return pipeline.Then(each, step.New("mark-shared", markShared, step.Config{})), post
}
