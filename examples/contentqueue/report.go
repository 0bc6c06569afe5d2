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

// follow prints progress until every article's run has ended: shared,
// waiting for a person, or dead-lettered. An article publishing its posts
// is waiting for its branch runs.
func follow(ctx context.Context, w io.Writer, st store.Store, ids []string) error {
	return progress.Follow(ctx, st, pipelineName, ids, 100*time.Millisecond, 5, func(done int, count map[store.Status]int) {
		fmt.Fprintf(w, "[%2d/%d articles] shared %2d · waiting for review %2d · dead-lettered %2d · publishing posts %2d · drafting %2d · queued %2d\n",
			done, len(ids), count[store.Succeeded], count[store.AwaitingReview], count[store.DeadLettered],
			count[store.Waiting], count[store.Running], count[store.Queued])
	})
}

// tally is what happened to a batch of articles and their posts, read back
// from the store.
type tally struct {
	Articles int
	// Every article is in exactly one of these.
	Shared     int
	Review     map[string][]string // why -> run ids
	Dead       map[string][]string // "step class" -> articles and their run ids
	Unfinished int

	// Posts counts the branch runs by status; Scheduled and Drafts split
	// the published ones.
	Posts             map[store.Status]int
	Scheduled, Drafts int
	// DeadBefore lists the posts that were dead-lettered at some attempt;
	// Recovered those of them that succeeded after a replay.
	DeadBefore, Recovered []string

	// How the articles got there.
	Reasked, FellBack int
	Tokens            int
	Cost              float64
	// Told lists what the model was re-asked with, one line per kind of
	// mistake, in submission order.
	Told []string
	// Tree is every article with its posts, in submission order.
	Tree []articleNode
	// FirstReview is a run id to show with the CLI.
	FirstReview string
}

// articleNode is an article's run and its posts' branch runs.
type articleNode struct {
	Article  Article
	Run      store.Run
	Attempts []store.RunAttempt
	Posts    []postNode
}

// postNode is a post's branch run.
type postNode struct {
	Branch    store.Branch
	PostID    string
	Published *Published
	// Attempts are the run's attempts, read only for a run that was
	// replayed; Why says what broke each failed one.
	Attempts []store.RunAttempt
	Why      map[int]string
}

const (
	whyLowConfidence = "low confidence"
	whyFlagged       = "flagged needs_edit by the model"
	whyBroken        = "still broke the contract after re-asks and the cheaper model"
)

// summarise reads every article's record, and its posts', and says where
// each one is.
func summarise(ctx context.Context, st store.Store, ids []string, briefs []Brief) (*tally, error) {
	t := &tally{Articles: len(ids), Review: map[string][]string{}, Dead: map[string][]string{}, Posts: map[store.Status]int{}}
	seen := map[string]bool{}
	for i, id := range ids {
		d, err := st.GetRun(ctx, id)
		if err != nil {
			return nil, err
		}
		a := briefs[i].Article
		switch r := d.Run; r.Status {
		case store.Succeeded:
			t.Shared++
		case store.AwaitingReview:
			why := whyLowConfidence
			switch {
			case r.Review == nil || r.Review.Proposed == nil:
				why = whyBroken
			case strings.HasPrefix(r.Review.Reason, "the model flagged"):
				why = whyFlagged
			}
			t.Review[why] = append(t.Review[why], id)
			if t.FirstReview == "" {
				t.FirstReview = id
			}
		case store.DeadLettered:
			key := fmt.Sprintf("step %-8s %-9s", r.Step, r.Class)
			t.Dead[key] = append(t.Dead[key], a.ID+" (run "+id+")")
		default:
			t.Unfinished++
		}
		node := articleNode{Article: a, Run: d.Run, Attempts: d.Attempts}
		if node.Posts, err = postsOf(ctx, st, id, t); err != nil {
			return nil, err
		}
		t.Tree = append(t.Tree, node)

		reasked, fellBack := false, false
		for _, s := range d.Steps {
			for j, at := range s.Attempts {
				t.Tokens += at.InputTokens + at.OutputTokens
				t.Cost += at.Cost
				reasked = reasked || at.Kind == step.AttemptReask
				fellBack = fellBack || at.FallbackModel != ""
				// A re-ask follows a broken answer: show what the model
				// was told, once per kind of mistake.
				if j+1 < len(s.Attempts) && s.Attempts[j+1].Kind == step.AttemptReask && len(at.Violations) > 0 {
					v := at.Violations[0]
					key := v.Keyword + pathKind(v.Path)
					if !seen[key] && len(t.Told) < 8 {
						seen[key] = true
						path := v.Path
						if path == "" {
							path = "(whole answer)"
						}
						t.Told = append(t.Told, fmt.Sprintf("%s  %-22s %s", a.ID, path, oneLine(v.Message, 80)))
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

// pathKind is a violation's path without its post's index: /posts/2/url
// and /posts/0/url are one kind of mistake.
func pathKind(path string) string {
	parts := strings.Split(path, "/")
	if len(parts) > 2 && parts[1] == "posts" {
		parts[2] = "*"
	}
	return strings.Join(parts, "/")
}

// postsOf reads an article's branch runs, counting them in t.
func postsOf(ctx context.Context, st store.Store, parent string, t *tally) ([]postNode, error) {
	branches, err := st.Branches(ctx, store.BranchQuery{Parent: parent, Step: "posts", Outputs: true})
	if err != nil {
		return nil, err
	}
	var nodes []postNode
	for _, b := range branches {
		n := postNode{Branch: b}
		t.Posts[b.Status]++
		if b.Status == store.Succeeded {
			var p Published
			if err := json.Unmarshal(b.Output, &p); err != nil {
				return nil, fmt.Errorf("post run %s: %w", b.RunID, err)
			}
			n.Published, n.PostID = &p, p.PostID
			if p.Status == "scheduled" {
				t.Scheduled++
			} else {
				t.Drafts++
			}
		}
		if b.Attempt > 1 || b.Status != store.Succeeded {
			d, err := st.GetRun(ctx, b.RunID)
			if err != nil {
				return nil, err
			}
			var p Post
			if err := json.Unmarshal(d.Run.Input, &p); err == nil {
				n.PostID = p.PostID
			}
			n.Attempts, n.Why = d.Attempts, map[int]string{}
			for _, a := range d.Attempts {
				if a.Status == store.DeadLettered {
					n.Why[a.Attempt] = violationIn(d, a.Attempt, a.Step)
				}
			}
			if len(n.Why) > 0 {
				t.DeadBefore = append(t.DeadBefore, n.PostID)
				if b.Status == store.Succeeded {
					t.Recovered = append(t.Recovered, n.PostID)
				}
			}
		}
		nodes = append(nodes, n)
	}
	return nodes, nil
}

// violationIn says what broke a step in one attempt of a run.
func violationIn(d *store.RunDetail, attempt int, stepName string) string {
	for _, s := range d.Steps {
		if s.RunAttempt != attempt || s.Step != stepName || len(s.Attempts) == 0 {
			continue
		}
		if vs := s.Attempts[len(s.Attempts)-1].Violations; len(vs) > 0 {
			return vs[0].Path + ": " + vs[0].Message
		}
		return s.Error
	}
	return ""
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
	fmt.Fprintf(w, "\nSummary of %d articles (today is %s)\n", t.Articles, today.Format(time.DateOnly))
	fmt.Fprintf(w, "  shared on every channel  %3d   (%d posts published: %d scheduled, %d kept as drafts)\n",
		t.Shared, t.Posts[store.Succeeded], t.Scheduled, t.Drafts)
	fmt.Fprintf(w, "  waiting for review       %3d\n", t.reviews())
	for _, why := range []string{whyLowConfidence, whyFlagged, whyBroken} {
		if ids := t.Review[why]; len(ids) > 0 {
			fmt.Fprintf(w, "    %-62s %3d\n", why, len(ids))
		}
	}
	fmt.Fprintf(w, "  dead-lettered            %3d\n", t.deadLetters())
	keys := make([]string, 0, len(t.Dead))
	for k := range t.Dead {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		fmt.Fprintf(w, "    %s %3d   e.g. %s\n", k, len(t.Dead[k]), t.Dead[k][0])
	}
	if t.Unfinished > 0 {
		fmt.Fprintf(w, "  not finished             %3d\n", t.Unfinished)
	}
	fmt.Fprintf(w, "\n  re-asked with their violations  %3d articles\n", t.Reasked)
	if cheap != nil {
		fmt.Fprintf(w, "  handed to the cheaper model     %3d articles (%s)\n", t.FellBack, cheap.Info().Model)
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
	t.printTree(w)
	t.printRecoveries(w, db)

	fmt.Fprintf(w, "\nEvery article's run, and every post's, is recorded in %s. See one, or what waits for a person:\n", db)
	if len(t.Tree) > 0 {
		fmt.Fprintf(w, "  go run ./cmd/plumb --db %s runs show %s\n", db, t.Tree[0].Run.ID)
	}
	fmt.Fprintf(w, "  go run ./cmd/plumb --db %s review list\n", db)
	if t.FirstReview != "" {
		fmt.Fprintf(w, "  go run ./cmd/plumb --db %s review show %s\n", db, t.FirstReview)
	}
	if len(keys) > 0 {
		fmt.Fprintf(w, "  go run ./cmd/plumb --db %s deadletters list\n", db)
	}
	if t.reviews() > 0 {
		fmt.Fprintf(w, "Approve or reject them there; run this example again with the same -seed and its worker\n")
		fmt.Fprintf(w, "publishes the approved articles' posts, without drafting any article twice.\n")
	}
}

// printTree prints each article's run with its posts' branch runs.
func (t *tally) printTree(w io.Writer) {
	fmt.Fprintf(w, "\nThe tree: each article is a run; each of its posts is a branch run of pipeline %q\n", postPipeline)
	for _, a := range t.Tree {
		fmt.Fprintf(w, "  %s %-36s %-22s %s\n", a.Article.ID, oneLine(a.Article.Title, 36), articleState(a), postsLine(a))
	}
}

func articleState(a articleNode) string {
	s := ""
	switch r := a.Run; r.Status {
	case store.Succeeded:
		s = "shared"
	case store.AwaitingReview:
		s = "waiting for review"
	case store.DeadLettered:
		s = "dead-lettered at " + r.Step
	case store.Waiting:
		s = "waiting for its posts"
	default:
		s = string(r.Status)
	}
	if a.Run.Attempt > 1 {
		s += fmt.Sprintf(" (attempt %d)", a.Run.Attempt)
	}
	return s
}

func postsLine(a articleNode) string {
	if len(a.Posts) == 0 {
		if r := a.Run.Review; r != nil {
			return "no posts yet: " + oneLine(r.Reason, 60)
		}
		return "no posts"
	}
	parts := make([]string, len(a.Posts))
	for i, p := range a.Posts {
		parts[i] = channels[p.Branch.Branch%len(channels)] + " " + postState(p)
	}
	return strings.Join(parts, " · ")
}

func postState(p postNode) string {
	switch {
	case p.Published != nil && p.Branch.Attempt > 1:
		return p.Published.Status + " after a replay"
	case p.Published != nil:
		return p.Published.Status
	case p.Branch.Status == store.DeadLettered:
		return "DEAD-LETTERED at " + p.Branch.FailedStep
	}
	return string(p.Branch.Status)
}

// printRecoveries prints the tree of each article one of whose posts was
// dead-lettered, with every attempt.
func (t *tally) printRecoveries(w io.Writer, db string) {
	for _, a := range t.Tree {
		replayed := slices.IndexFunc(a.Posts, func(p postNode) bool { return len(p.Why) > 0 })
		if replayed < 0 {
			continue
		}
		fmt.Fprintf(w, "\nArticle %s, %q: run %s, %s\n", a.Article.ID, a.Article.Title, a.Run.ID, articleState(a))
		for _, at := range a.Attempts {
			why := ""
			if at.Status == store.DeadLettered && at.Step == "posts" {
				why = "its join needs every post, and " + strings.Join(deadPosts(a, at.Attempt), ", ") + " failed"
			}
			fmt.Fprintf(w, "  │ attempt %d  %s → %s\n", at.Attempt, oneLine(at.Reason, 60), attemptEnd(at, why))
		}
		for i, p := range a.Posts {
			branch, bar := "├", "│"
			if i == len(a.Posts)-1 {
				branch, bar = "└", " "
			}
			fmt.Fprintf(w, "  %s %-12s run %s  %s\n", branch, p.PostID, p.Branch.RunID, postState(p))
			for _, at := range p.Attempts {
				fmt.Fprintf(w, "  %s   attempt %d  %s → %s\n", bar, at.Attempt, oneLine(at.Reason, 60), attemptEnd(at, p.Why[at.Attempt]))
			}
		}
		fmt.Fprintf(w, "  See the post's record: go run ./cmd/plumb --db %s runs show %s\n", db, a.Posts[replayed].Branch.RunID)
	}
}

// deadPosts lists the posts of an article that were dead-lettered while
// the article's given attempt ran: the posts its join refused.
func deadPosts(a articleNode, attempt int) []string {
	var out []string
	for _, p := range a.Posts {
		for _, pa := range p.Attempts {
			if pa.Status == store.DeadLettered && p.Branch.Attempt >= attempt && pa.Attempt == attempt {
				out = append(out, p.PostID)
			}
		}
	}
	if len(out) == 0 {
		out = []string{"a post"}
	}
	return out
}

// attemptEnd says how an attempt ended; why is what broke it.
func attemptEnd(at store.RunAttempt, why string) string {
	switch at.Status {
	case store.DeadLettered:
		if why == "" {
			why = at.Error
		}
		return fmt.Sprintf("dead-lettered at step %s (%s): %s", at.Step, at.Class, oneLine(why, 90))
	case store.Succeeded:
		return "succeeded"
	}
	return string(at.Status)
}

func oneLine(s string, n int) string {
	s = strings.Join(strings.Fields(s), " ")
	if r := []rune(s); len(r) > n {
		return string(r[:n-1]) + "…"
	}
	return s
}
