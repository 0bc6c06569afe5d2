package main

import (
	"context"
	"fmt"
	"io"
	"slices"
	"time"

	"github.com/plumb-dev/plumb/examples/internal/progress"
	"github.com/plumb-dev/plumb/store"
)

// follow prints progress until every run has ended.
func follow(ctx context.Context, w io.Writer, st store.Store, ids []string) error {
	return progress.Follow(ctx, st, "leadfollowup", ids, 50*time.Millisecond, 25, func(done int, count map[store.Status]int) {
		fmt.Fprintf(w, "[%3d/%d] succeeded %3d · dead-lettered %2d · waiting in queue %3d · running %2d\n",
			done, len(ids), count[store.Succeeded], count[store.DeadLettered], count[store.Queued], count[store.Running])
	})
}

// summarise reads every run's record back and says what happened.
func summarise(ctx context.Context, w io.Writer, st store.Store, ids []string, o options) error {
	var succeeded, retried, fellBack, waited, tokens int
	dead := map[string][]string{}
	for _, id := range ids {
		d, err := st.GetRun(ctx, id)
		if err != nil {
			return err
		}
		r, f, wt := false, false, false
		for _, s := range d.Steps {
			if s.Status == store.StepDeferred {
				wt = true
			}
			if s.By != "" && s.By != s.Step {
				f = true
			}
			failed := 0
			for _, a := range s.Attempts {
				tokens += a.InputTokens + a.OutputTokens
				if a.Error != "" {
					failed++
				}
				if a.FallbackModel != "" && a.Error == "" {
					f = true
				}
			}
			if failed > 0 && s.Status == store.StepSucceeded {
				r = true
			}
		}
		switch d.Run.Status {
		case store.Succeeded:
			succeeded++
			if r {
				retried++
			}
			if f {
				fellBack++
			}
			if wt {
				waited++
			}
		case store.DeadLettered:
			key := fmt.Sprintf("step %-9s %-9s", d.Run.Step, d.Run.Class)
			dead[key] = append(dead[key], id)
		}
	}
	nDead := 0
	for _, v := range dead {
		nDead += len(v)
	}
	fmt.Fprintf(w, "\nSummary of %d leads\n", len(ids))
	fmt.Fprintf(w, "  succeeded       %3d  (%d needed a retry or a re-ask, %d a fallback, %d waited in the queue for an outage)\n", succeeded, retried, fellBack, waited)
	fmt.Fprintf(w, "  dead-lettered   %3d\n", nDead)
	keys := make([]string, 0, len(dead))
	for k := range dead {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		fmt.Fprintf(w, "    %s %3d   e.g. %s\n", k, len(dead[k]), dead[k][0])
	}
	fmt.Fprintf(w, "  tokens spent    %d\n", tokens)
	fmt.Fprintf(w, "\nEvery run is recorded in %s; dead letters are runs there in the dead_lettered state,\n", o.db)
	fmt.Fprintf(w, "with a copy of each in %s. Look at one with the plumb CLI:\n", o.deadLetters)
	if len(keys) > 0 {
		fmt.Fprintf(w, "  go run ./cmd/plumb --db %s runs show %s\n", o.db, dead[keys[0]][0])
	}
	fmt.Fprintf(w, "  go run ./cmd/plumb --db %s deadletters list\n", o.db)
	return nil
}
