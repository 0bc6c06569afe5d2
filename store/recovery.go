package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/plumb-dev/plumb/contract"
)

// The operations below are what an operator does to recover: replay a run
// (patched or not), replay every run one bad field poisoned, decide a
// review. They need only the store: patches and edits are validated against
// the contracts the pipeline registered, so the CLI, the review inbox and
// the pipeline API validate alike.

// ReplayRun validates a replay's patch against the From step's input
// contract, then asks the store for the replay. A patch that breaks the
// contract is refused with its *contract.ValidationError.
func ReplayRun(ctx context.Context, s Ops, req ReplayRequest) (*Run, error) {
	if req.Input != nil {
		d, err := s.GetRun(ctx, req.RunID)
		if err != nil {
			return nil, err
		}
		def, err := s.Pipeline(ctx, d.Run.Pipeline)
		if err != nil {
			return nil, fmt.Errorf("validate the patch: %w", err)
		}
		i, name := ReplayStart(&d.Run, d.Steps, def, req.From)
		if i < 0 || i >= len(def.Steps) {
			return nil, fmt.Errorf("validate the patch: pipeline %s has no step %q: %w", d.Run.Pipeline, name, ErrNotFound)
		}
		if err := ValidateJSON(def.Steps[i].InputSchema, req.Input); err != nil {
			return nil, err
		}
	}
	return s.Replay(ctx, req)
}

// ValidateJSON validates doc against a stored schema. An empty schema
// accepts anything.
func ValidateJSON(schema, doc json.RawMessage) error {
	if len(schema) == 0 {
		if !json.Valid(doc) {
			return &contract.ValidationError{Violations: []contract.Violation{{Keyword: "syntax", Message: "not valid JSON"}}}
		}
		return nil
	}
	sc, err := contract.CompileSchema(schema)
	if err != nil {
		return fmt.Errorf("the stored schema does not compile: %w", err)
	}
	return sc.ValidateJSON(doc)
}

// BatchResult says what a batch replay did (or, dry, would do).
type BatchResult struct {
	Matched []Run `json:"matched"`
	// More counts the dead letters the filter matched past its limit: a
	// next batch replays them.
	More     int              `json:"more,omitempty"`
	Replayed []string         `json:"replayed"`
	Failed   map[string]error `json:"-"`
}

// ReplayMatching replays every dead-lettered run f matches, reporting each
// as it goes (progress may be nil). With dry set it only lists them. With
// f.Status set it replays the runs of those statuses instead, each of
// which must be one a replay applies to (dead-lettered, held, cancelled):
// held runs, say, once the definition that refused them was rolled back.
func ReplayMatching(ctx context.Context, s Ops, f RunFilter, from string, dry bool, progress func(done, total int, id string, err error)) (*BatchResult, error) {
	if len(f.Status) == 0 {
		f.Status = []Status{DeadLettered}
	}
	for _, st := range f.Status {
		if st != DeadLettered && st != Held && st != Cancelled {
			return nil, fmt.Errorf("replay: %s runs are not replayed; filter on dead_lettered, held or cancelled: %w", st, ErrConflict)
		}
	}
	if f.Limit <= 0 {
		f.Limit = 1000
	}
	page, err := s.ListRuns(ctx, f)
	if err != nil {
		return nil, err
	}
	runs := page.Runs
	res := &BatchResult{Matched: runs, More: page.More, Failed: map[string]error{}}
	if dry {
		return res, nil
	}
	for i, r := range runs {
		if err := ctx.Err(); err != nil {
			return res, err
		}
		_, err := s.Replay(ctx, ReplayRequest{RunID: r.ID, From: from})
		if err != nil {
			res.Failed[r.ID] = err
		} else {
			res.Replayed = append(res.Replayed, r.ID)
		}
		if progress != nil {
			progress(i+1, len(runs), r.ID, err)
		}
	}
	return res, nil
}

// CurrentReview returns the ref of the review a run awaits, for a caller
// that decides without having shown a particular review (a script, the
// CLI without --review). Deciding with it still refuses a review that
// changes between this read and the decision.
func CurrentReview(ctx context.Context, s Ops, runID string) (ReviewRef, error) {
	d, err := s.GetRun(ctx, runID)
	if err != nil {
		return ReviewRef{}, err
	}
	if d.Run.Status != AwaitingReview || d.Run.Review == nil {
		return ReviewRef{}, fmt.Errorf("run %s is %s, not awaiting review: %w", runID, d.Run.Status, ErrConflict)
	}
	return d.Run.ReviewRef(), nil
}

// Approve approves review of a run awaiting review, with the proposed
// output or an edit. An edit is validated against the output contract
// stored with the review; one that breaks it is refused with its
// violations.
func Approve(ctx context.Context, s Ops, runID string, review ReviewRef, reviewer string, edited json.RawMessage) (*Run, error) {
	if edited != nil {
		d, err := s.GetRun(ctx, runID)
		if err != nil {
			return nil, err
		}
		if cur := d.Run.ReviewRef(); cur != review {
			return nil, &StaleReviewError{RunID: runID, Decided: review, Current: cur}
		}
		if d.Run.Status != AwaitingReview || d.Run.Review == nil {
			return nil, fmt.Errorf("run %s is %s, not awaiting review: %w", runID, d.Run.Status, ErrConflict)
		}
		if err := ValidateJSON(d.Run.Review.OutputSchema, edited); err != nil {
			var ve *contract.ValidationError
			if errors.As(err, &ve) {
				return nil, fmt.Errorf("the edited output breaks the contract of step %s: %w", d.Run.Review.Step, err)
			}
			return nil, err
		}
	}
	return s.Decide(ctx, runID, Decision{Review: review, Approved: true, Reviewer: reviewer, Output: edited})
}

// Reject rejects review of a run awaiting review, which dead-letters it.
func Reject(ctx context.Context, s Ops, runID string, review ReviewRef, reviewer, reason string) (*Run, error) {
	return s.Decide(ctx, runID, Decision{Review: review, Approved: false, Reviewer: reviewer, Reason: reason})
}
