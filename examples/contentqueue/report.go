package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/plumb-dev/plumb/examples/internal/progress"
	"github.com/plumb-dev/plumb/llm"
	"github.com/plumb-dev/plumb/step"
	"github.com/plumb-dev/plumb/store"
)

// follow prints progress until every post's run has ended: in the
// calendar, waiting for a person, or dead-lettered.
func follow(ctx context.Context, w io.Writer, st store.Store, ids []string) error {
	return progress.Follow(ctx, st, pipelineName, ids, 100*time.Millisecond, 20, func(done int, count map[store.Status]int) {
		fmt.Fprintf(w, "[%3d/%d] in the calendar %3d · waiting for review %2d · dead-lettered %2d · queued %3d · drafting %2d\n",
			done, len(ids), count[store.Succeeded], count[store.AwaitingReview], count[store.DeadLettered],
			count[store.Queued], count[store.Running])
	})
}

// tally is what happened to a batch of posts, read back from the store.
type tally struct {
	Posts int
	// Every post is in exactly one of these.
	Scheduled, Drafts int
	Review            map[string][]string // why -> run ids
	Dead              map[string][]string // "step class" -> posts and their run ids
	Unfinished        int

	// How the posts got there.
	Reasked, FellBack int
	Tokens            int
	Cost              float64
	// Told lists what the model was re-asked with, one line per kind of
	// mistake, in submission order.
	Told []string
	// FirstStop is the first post (in submission order) that did not make
	// it to the calendar; After counts the posts submitted after it, and
	// AfterDone those of them in the calendar.
	FirstStop, FirstStopWhy string
	After, AfterDone        int
	// FirstReview is a run id to show with the CLI.
	FirstReview string
}

const (
	whyLowConfidence = "low confidence"
	whyFlagged       = "flagged needs_edit by the model"
	whyBroken        = "still broke the contract after re-asks and the cheaper model"
)

// summarise reads every run's record and says where each post is.
func summarise(ctx context.Context, st store.Store, ids []string, briefs []Brief) (*tally, error) {
	t := &tally{Posts: len(ids), Review: map[string][]string{}, Dead: map[string][]string{}}
	seen := map[string]bool{}
	for i, id := range ids {
		d, err := st.GetRun(ctx, id)
		if err != nil {
			return nil, err
		}
		stopped := ""
		switch r := d.Run; r.Status {
		case store.Succeeded:
			var s Scheduled
			if err := json.Unmarshal(r.Output, &s); err != nil {
				return nil, fmt.Errorf("run %s: %w", id, err)
			}
			if s.Status == "scheduled" {
				t.Scheduled++
			} else {
				t.Drafts++
			}
		case store.AwaitingReview:
			why := whyLowConfidence
			switch {
			case r.Review == nil || r.Review.Proposed == nil:
				why = whyBroken
			case strings.HasPrefix(r.Review.Reason, "the model flagged"):
				why = whyFlagged
			}
			t.Review[why] = append(t.Review[why], id)
			stopped = "waiting for review: " + why
			if why != whyBroken {
				stopped = "waiting for review: " + r.Review.Reason
			}
			if t.FirstReview == "" {
				t.FirstReview = id
			}
		case store.DeadLettered:
			key := fmt.Sprintf("step %-8s %-9s", r.Step, r.Class)
			t.Dead[key] = append(t.Dead[key], briefs[i].PostID+" (run "+id+")")
			stopped = fmt.Sprintf("dead-lettered at step %s, %s", r.Step, r.Class)
		default:
			t.Unfinished++
			stopped = string(r.Status)
		}
		if stopped != "" && t.FirstStop == "" {
			t.FirstStop, t.FirstStopWhy = briefs[i].PostID, stopped
			t.After = len(ids) - i - 1
		} else if t.FirstStop != "" && d.Run.Status == store.Succeeded {
			t.AfterDone++
		}
		reasked, fellBack := false, false
		for _, s := range d.Steps {
			for j, a := range s.Attempts {
				t.Tokens += a.InputTokens + a.OutputTokens
				t.Cost += a.Cost
				reasked = reasked || a.Kind == step.AttemptReask
				fellBack = fellBack || a.FallbackModel != ""
				// A re-ask follows a broken answer: show what the model
				// was told, once per kind of mistake.
				if j+1 < len(s.Attempts) && s.Attempts[j+1].Kind == step.AttemptReask && len(a.Violations) > 0 {
					v := a.Violations[0]
					key := v.Keyword + v.Path
					if !seen[key] && len(t.Told) < 10 {
						seen[key] = true
						path := v.Path
						if path == "" {
							path = "(whole answer)"
						}
						t.Told = append(t.Told, fmt.Sprintf("%s  %-15s %s", briefs[i].PostID, path, oneLine(v.Message, 90)))
					}
				}
			}
		}
		if reasked {
			t.Reasked++
		}
		if fellBack {
			t.FellBack++
		}
	}
	return t, nil
}

func (t *tally) reviews() int {
	n := 0
	for _, ids := range t.Review {
		n += len(ids)
	}
	return n
}

func (t *tally) deadLetters() int {
	n := 0
	for _, ids := range t.Dead {
		n += len(ids)
	}
	return n
}

func (t *tally) print(w io.Writer, db string, cheap llm.Model) {
	fmt.Fprintf(w, "\nSummary of %d posts (today is %s)\n", t.Posts, today.Format(time.DateOnly))
	fmt.Fprintf(w, "  in the calendar      %3d   (%d scheduled, %d kept as drafts)\n", t.Scheduled+t.Drafts, t.Scheduled, t.Drafts)
	fmt.Fprintf(w, "  waiting for review   %3d\n", t.reviews())
	for _, why := range []string{whyLowConfidence, whyFlagged, whyBroken} {
		if ids := t.Review[why]; len(ids) > 0 {
			fmt.Fprintf(w, "    %-62s %3d\n", why, len(ids))
		}
	}
	fmt.Fprintf(w, "  dead-lettered        %3d\n", t.deadLetters())
	keys := make([]string, 0, len(t.Dead))
	for k := range t.Dead {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		fmt.Fprintf(w, "    %s %3d   e.g. %s\n", k, len(t.Dead[k]), t.Dead[k][0])
	}
	if t.Unfinished > 0 {
		fmt.Fprintf(w, "  not finished         %3d\n", t.Unfinished)
	}
	fmt.Fprintf(w, "\n  re-asked with their violations  %3d posts\n", t.Reasked)
	if cheap != nil {
		fmt.Fprintf(w, "  handed to the cheaper model     %3d posts (%s)\n", t.FellBack, cheap.Info().Model)
	}
	fmt.Fprintf(w, "  tokens spent                    %d", t.Tokens)
	if t.Cost > 0 {
		fmt.Fprintf(w, " ($%.4f at list prices)", t.Cost)
	}
	fmt.Fprintln(w)
	if len(t.Told) > 0 {
		fmt.Fprintf(w, "\nWhat the model got wrong, and was re-asked with:\n")
		for _, l := range t.Told {
			fmt.Fprintf(w, "  %s\n", l)
		}
	}
	if t.FirstStop != "" {
		fmt.Fprintf(w, "\nNo post held up the queue: the first to stop was %s,\n  %s;\n", t.FirstStop, oneLine(t.FirstStopWhy, 100))
		fmt.Fprintf(w, "of the %d posts submitted after it, %d are in the calendar.\n", t.After, t.AfterDone)
	}
	fmt.Fprintf(w, "\nEvery post's run is recorded in %s. See the posts waiting for a person:\n", db)
	fmt.Fprintf(w, "  go run ./cmd/plumb --db %s review list\n", db)
	if t.FirstReview != "" {
		fmt.Fprintf(w, "  go run ./cmd/plumb --db %s review show %s\n", db, t.FirstReview)
	}
	if len(keys) > 0 {
		fmt.Fprintf(w, "  go run ./cmd/plumb --db %s deadletters list\n", db)
	}
	if t.reviews() > 0 {
		fmt.Fprintf(w, "Approve or reject them there; run this example again with the same -seed and its worker\n")
		fmt.Fprintf(w, "carries the approved posts on to the calendar, without drafting any post twice.\n")
	}
}

func oneLine(s string, n int) string {
	s = strings.Join(strings.Fields(s), " ")
	if r := []rune(s); len(r) > n {
		return string(r[:n-1]) + "…"
	}
	return s
}
