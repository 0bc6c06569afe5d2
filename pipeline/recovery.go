package pipeline

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/plumb-dev/plumb/store"
)

// ReplayOptions say how to replay a run.
type ReplayOptions struct {
	// From is the step to start from. Defaults to the step that failed.
	// Steps before it are not run again: their checkpoints are reused.
	From string
	// Input, when set, replaces the From step's input: a patch for the bad
	// field that made the run fail. It is validated against the step's
	// input contract first.
	Input json.RawMessage
	// Reason is kept in the run's history.
	Reason string
}

// Replay starts a new attempt of a dead-lettered, cancelled or held run;
// a worker carries it out. The first attempt's history is kept. The new
// attempt runs under this pipeline's definition (its version), and when
// the run started under another its attempt's reason says it moved: a
// held run replayed with a patch that meets the new contracts goes on
// under them.
func (p *Pipeline[In, Out]) Replay(ctx context.Context, runID string, o ReplayOptions) (*store.Run, error) {
	d := p.def
	if err := d.ready(ctx); err != nil {
		return nil, err
	}
	r, err := store.ReplayRun(ctx, d.cfg.Store, store.ReplayRequest{RunID: runID, From: o.From, Input: o.Input, Reason: o.Reason})
	if err != nil {
		return nil, fmt.Errorf("pipeline %s: replay run %s: %w", d.name, runID, err)
	}
	wake(d.cfg.Store)
	return r, nil
}

// ReplayMatching replays every dead-lettered run of this pipeline that f
// matches (by step, error class, time), from the step given or each run's
// failed step. With dry set it only lists what would be replayed.
func (p *Pipeline[In, Out]) ReplayMatching(ctx context.Context, f store.RunFilter, from string, dry bool) (*store.BatchResult, error) {
	d := p.def
	if err := d.ready(ctx); err != nil {
		return nil, err
	}
	f.Pipeline = d.name
	res, err := store.ReplayMatching(ctx, d.cfg.Store, f, from, dry, nil)
	if err == nil && !dry {
		wake(d.cfg.Store)
	}
	return res, err
}

// reviewsListed is how many pending reviews Reviews returns at most.
const reviewsListed = 1000

// Reviews lists the runs of this pipeline awaiting a decision, the oldest
// review first (RunFilter.ReviewOrder, the inbox's order), up to 1,000:
// decide those and call it again for the next.
func (p *Pipeline[In, Out]) Reviews(ctx context.Context) ([]store.Run, error) {
	d := p.def
	if err := d.ready(ctx); err != nil {
		return nil, err
	}
	page, err := d.cfg.Store.ListRuns(ctx, store.RunFilter{Pipeline: d.name, Status: []store.Status{store.AwaitingReview},
		ReviewOrder: true, Limit: reviewsListed})
	if err != nil {
		return nil, fmt.Errorf("pipeline %s: list the reviews: %w", d.name, err)
	}
	return page.Runs, nil
}

// Approve approves a run awaiting review: with the proposed output when
// edited is nil, else with the edit, which must meet the step's output
// contract (a bad edit is refused with its violations). The run resumes at
// the next step on a worker.
func (p *Pipeline[In, Out]) Approve(ctx context.Context, runID, reviewer string, edited json.RawMessage) (*store.Run, error) {
	d := p.def
	if err := d.ready(ctx); err != nil {
		return nil, err
	}
	// The caller names the run, not a review: decide the one it awaits now.
	ref, err := store.CurrentReview(ctx, d.cfg.Store, runID)
	if err != nil {
		return nil, err
	}
	r, err := store.Approve(ctx, d.cfg.Store, runID, ref, reviewer, edited)
	if err != nil {
		return nil, err
	}
	wake(d.cfg.Store)
	return r, nil
}

// Reject rejects a run awaiting review; it is dead-lettered with the
// reviewer's reason.
func (p *Pipeline[In, Out]) Reject(ctx context.Context, runID, reviewer, reason string) (*store.Run, error) {
	d := p.def
	if err := d.ready(ctx); err != nil {
		return nil, err
	}
	ref, err := store.CurrentReview(ctx, d.cfg.Store, runID)
	if err != nil {
		return nil, err
	}
	return store.Reject(ctx, d.cfg.Store, runID, ref, reviewer, reason)
}

// Get returns a run of this pipeline with its whole timeline.
func (p *Pipeline[In, Out]) Get(ctx context.Context, runID string) (*store.RunDetail, error) {
	d := p.def
	if d.cfg.Store == nil {
		return nil, ErrNoStore
	}
	return d.cfg.Store.GetRun(ctx, runID)
}

// ready checks that the pipeline is valid, has a store, and is registered.
func (d *definition) ready(ctx context.Context) error {
	if d.err != nil {
		return d.err
	}
	if d.cfg.Store == nil {
		return ErrNoStore
	}
	return d.register(ctx)
}
