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

// follow prints progress until every message's run has ended: routed,
// waiting for a person, or dead-lettered.
func follow(ctx context.Context, w io.Writer, st store.Ops, ids []string) error {
	return progress.Follow(ctx, st, pipelineName, ids, 100*time.Millisecond, 15, func(done int, count map[store.Status]int) {
		fmt.Fprintf(w, "[%2d/%d] routed %2d · awaiting review %2d · dead-lettered %d · at a desk %2d · queued %2d · classifying %d\n",
			done, len(ids), count[store.Succeeded], count[store.AwaitingReview], count[store.DeadLettered],
			count[store.Waiting], count[store.Queued], count[store.Running])
	})
}

// watch prints what becomes of the reviews while the inbox is served: who
// decided, and where the message was routed, until ctx ends.
func watch(ctx context.Context, w io.Writer, st store.Ops, msgOf map[string]string) error {
	ids := make([]string, 0, len(msgOf))
	for id := range msgOf {
		ids = append(ids, id)
	}
	p := progress.NewPoller(st, pipelineName, ids)
	if _, err := p.Poll(ctx); err != nil {
		return err
	}
	tick := time.NewTicker(250 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
		}
		changed, err := p.Poll(ctx)
		if err != nil {
			return err
		}
		for _, r := range changed {
			who := "a person"
			if r.Review != nil && r.Review.Decision != nil {
				who = r.Review.Decision.Reviewer
				if r.Review.Decision.Edited {
					who += " (edited)"
				}
			}
			switch r.Status {
			case store.Queued, store.Running:
				fmt.Fprintf(w, "  %s approved by %s: resuming\n", msgOf[r.ID], who)
			case store.Succeeded:
				var out Routed
				_ = json.Unmarshal(r.Output, &out)
				fmt.Fprintf(w, "  %s approved by %s, routed to %s (%s, SLA %s)\n", msgOf[r.ID], who, out.Queue, out.Team, out.SLA)
			case store.DeadLettered:
				fmt.Fprintf(w, "  %s dead-lettered at step %s: %s\n", msgOf[r.ID], r.Step, oneLine(r.Error, 100))
			case store.AwaitingReview:
				fmt.Fprintf(w, "  %s awaits review\n", msgOf[r.ID])
			}
		}
	}
}

// tally is what happened to a batch of messages, read back from the store.
type tally struct {
	Messages int
	// Every message is in exactly one of these.
	Routed     int
	Review     map[string][]string // why -> run ids
	Dead       map[string][]string // "step class" -> messages and run ids
	Unfinished int

	ByQueue map[string]int
	Teams   map[string]string // queue -> team
	// Decided counts the routed messages a person approved first.
	Decided           int
	Reasked, FellBack int
	Tokens            int

	// Routes is the tree: for each desk, the messages routed there, each
	// with its desk's branch run.
	Routes map[Desk][]routed
}

// routed is a message's route as its run recorded it, and the branch run
// its desk's pipeline made of it.
type routed struct {
	Message string
	// By is the route step's record of the route taken ("route:billing").
	By     string
	Branch store.Branch
	Ticket *Routed
}

const (
	whyUnsure  = "low confidence"
	whyUnknown = "could not be classified (broken answers or refusals, every model)"
)

// summarise reads every run's record and says where each message is.
func summarise(ctx context.Context, st store.Ops, ids []string, msgOf map[string]string) (*tally, error) {
	t := &tally{Messages: len(ids), Review: map[string][]string{}, Dead: map[string][]string{}, ByQueue: map[string]int{},
		Teams: map[string]string{}, Routes: map[Desk][]routed{}}
	for _, id := range ids {
		d, err := st.GetRun(ctx, id)
		if err != nil {
			return nil, err
		}
		switch r := d.Run; r.Status {
		case store.Succeeded:
			var out Routed
			if err := json.Unmarshal(r.Output, &out); err != nil {
				return nil, fmt.Errorf("run %s: %w", id, err)
			}
			t.Routed++
			t.ByQueue[out.Queue]++
			t.Teams[out.Queue] = out.Team
			if r.Review != nil && r.Review.Decision != nil {
				t.Decided++
			}
		case store.AwaitingReview:
			why := whyUnsure
			if r.Review == nil || r.Review.Proposed == nil {
				why = whyUnknown
			}
			t.Review[why] = append(t.Review[why], id)
		case store.DeadLettered:
			key := fmt.Sprintf("step %-8s %-9s", r.Step, r.Class)
			if r.Review != nil && r.Review.Decision != nil && !r.Review.Decision.Approved {
				key = "rejected by a reviewer"
			}
			t.Dead[key] = append(t.Dead[key], msgOf[id]+" (run "+id+")")
		default:
			t.Unfinished++
		}
		if err := t.route(ctx, st, d, msgOf[id]); err != nil {
			return nil, err
		}
		reasked, fellBack := false, false
		for _, s := range d.Steps {
			for _, a := range s.Attempts {
				t.Tokens += a.InputTokens + a.OutputTokens
				reasked = reasked || a.Kind == step.AttemptReask
				fellBack = fellBack || a.FallbackModel != ""
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

// route adds a message's route and its desk's branch run to the tree.
func (t *tally) route(ctx context.Context, st store.Ops, d *store.RunDetail, msg string) error {
	branches, err := st.Branches(ctx, store.BranchQuery{Parent: d.Run.ID, Step: "route", Outputs: true})
	if err != nil || len(branches) == 0 {
		return err
	}
	b := branches[len(branches)-1]
	r := routed{Message: msg, Branch: b}
	for _, s := range d.Steps {
		if s.Step == "route" && s.Status == store.StepSucceeded {
			r.By = s.By
		}
	}
	if b.Status == store.Succeeded {
		r.Ticket = &Routed{}
		if err := json.Unmarshal(b.Output, r.Ticket); err != nil {
			return fmt.Errorf("branch run %s: %w", b.RunID, err)
		}
	}
	t.Routes[Desk(b.Name)] = append(t.Routes[Desk(b.Name)], r)
	return nil
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

// print writes the summary; serving says whether the inbox is up now.
func (t *tally) print(w io.Writer, o options, inbox string, serving bool, cheap llm.Model) {
	fmt.Fprintf(w, "\nSummary of %d support messages\n", t.Messages)
	fmt.Fprintf(w, "  routed             %3d", t.Routed)
	if t.Decided > 0 {
		fmt.Fprintf(w, "   (%d after a person's decision)", t.Decided)
	}
	fmt.Fprintln(w)
	fmt.Fprintf(w, "  awaiting review    %3d", t.reviews())
	if o.deadline > 0 {
		fmt.Fprintf(w, "   (each escalates after %s undecided)", shortDuration(o.deadline))
	}
	fmt.Fprintln(w)
	for _, why := range []string{whyUnsure, whyUnknown} {
		if ids := t.Review[why]; len(ids) > 0 {
			fmt.Fprintf(w, "    %-66s %3d\n", why, len(ids))
		}
	}
	fmt.Fprintf(w, "  dead-lettered      %3d\n", t.deadLetters())
	keys := make([]string, 0, len(t.Dead))
	for k := range t.Dead {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		fmt.Fprintf(w, "    %s %3d   e.g. %s\n", k, len(t.Dead[k]), t.Dead[k][0])
	}
	if t.Unfinished > 0 {
		fmt.Fprintf(w, "  not finished       %3d\n", t.Unfinished)
	}
	fmt.Fprintf(w, "\n  re-asked with their violations  %3d messages\n", t.Reasked)
	if cheap != nil {
		fmt.Fprintf(w, "  handed to the cheaper model     %3d messages (%s)\n", t.FellBack, cheap.Info().Model)
	}
	fmt.Fprintf(w, "  tokens spent                    %d\n", t.Tokens)
	t.printTree(w)
	if t.reviews() == 0 {
		return
	}
	first := t.Review[whyUnsure]
	if len(first) == 0 {
		first = t.Review[whyUnknown]
	}
	if serving {
		fmt.Fprintf(w, "\nDecide them in the review inbox: %s\n  e.g. %sreviews/%s\n", inbox, inbox, first[0])
		return
	}
	fmt.Fprintf(w, "\nDecide them in the review inbox, served by\n  go run ./examples/supporttriage -db %s -seed %d -serve :8080\n", o.db, o.seed)
	fmt.Fprintf(w, "at %s (e.g. %sreviews/%s), or with the plumb CLI:\n", inbox, inbox, first[0])
	fmt.Fprintf(w, "  go run ./cmd/plumb --db %s review list\n", o.db)
	fmt.Fprintf(w, "  go run ./cmd/plumb --db %s review approve %s\n", o.db, first[0])
}

// printTree prints each desk's route with the messages it took, each with
// what the desk's branch run made of it.
func (t *tally) printTree(w io.Writer) {
	fmt.Fprintf(w, "\nThe tree: each message is a run, routed by its category to a desk; the desk's work is a\n")
	fmt.Fprintf(w, "branch run of its pipeline, shown as queue, priority and SLA (+tr: with a translation)\n")
	for _, d := range append(deskNames(), Spam) {
		rs := t.Routes[d]
		if len(rs) == 0 {
			continue
		}
		ok := 0
		for _, r := range rs {
			if r.Ticket != nil {
				ok++
			}
		}
		fmt.Fprintf(w, "  route %-11s → pipeline %-16s %2d messages, %d branch runs succeeded\n", d, deskPipeline(d), len(rs), ok)
		for i := 0; i < len(rs); i += 3 {
			var line []string
			for _, r := range rs[i:min(i+3, len(rs))] {
				line = append(line, fmt.Sprintf("%-37s", r.Message+" "+branchOutcome(r)))
			}
			fmt.Fprintf(w, "    %s\n", strings.TrimRight(strings.Join(line, " "), " "))
		}
	}
	if n := t.reviews() + t.deadLetters() + t.Unfinished; n > 0 {
		fmt.Fprintf(w, "  not routed (waiting for a person, or dead-lettered before the route): %d messages\n", n)
	}
}

// deskNames lists the desks other than spam, in build order.
func deskNames() []Desk {
	out := make([]Desk, len(desks))
	for i, d := range desks {
		out[i] = d.desk
	}
	return out
}

func branchOutcome(r routed) string {
	if r.Ticket == nil {
		if r.Branch.FailedStep != "" {
			return strings.ToUpper(string(r.Branch.Status)) + " at " + r.Branch.FailedStep
		}
		return string(r.Branch.Status)
	}
	tk := r.Ticket
	s := tk.Queue + " " + tk.Priority + " " + tk.SLA
	if tk.Translate {
		s += " +tr"
	}
	return s
}

func oneLine(s string, n int) string {
	s = strings.Join(strings.Fields(s), " ")
	if r := []rune(s); len(r) > n {
		return string(r[:n-1]) + "…"
	}
	return s
}
