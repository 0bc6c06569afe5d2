package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/plumb-dev/plumb/pipeline"
	"github.com/plumb-dev/plumb/store"
)

// recoverPosts does what an operator does about an article stopped at its
// join by a post too long for its platform: look at the dead-lettered
// post, patch its input (the text cut to fit), and replay that branch run
// alone. The siblings are not run again. Once the post succeeds, the store
// replays the article from its join, and recoverPosts waits for it. A post
// that failed any other way is left for a person, with the command to look
// at it.
func recoverPosts(ctx context.Context, w io.Writer, st store.Store, posts *pipeline.Pipeline[Post, Published], ids []string) error {
	type replayed struct {
		article *store.Run
		post    Post
		runID   string
	}
	var waits []replayed
	for _, id := range ids {
		a, err := st.GetRun(ctx, id)
		if err != nil {
			return err
		}
		if a.Run.Status != store.DeadLettered || a.Run.Step != "posts" {
			continue
		}
		branches, err := st.Branches(ctx, store.BranchQuery{Parent: id, Step: "posts"})
		if err != nil {
			return err
		}
		if len(waits) == 0 {
			fmt.Fprintf(w, "\nRecovery: articles stopped at their join because a post failed while its siblings published\n")
		}
		for _, b := range branches {
			if b.Status != store.DeadLettered {
				continue
			}
			d, err := posts.Get(ctx, b.RunID)
			if err != nil {
				return err
			}
			var p Post
			if err := json.Unmarshal(d.Run.Input, &p); err != nil {
				return fmt.Errorf("post run %s: %w", b.RunID, err)
			}
			fmt.Fprintf(w, "  %-12s dead-lettered at step %s (%s): %s\n", p.PostID, b.FailedStep, b.Class, oneLine(lastViolation(d, b.FailedStep), 90))
			if b.FailedStep != "format" || !tooLongFor(d) {
				fmt.Fprintf(w, "  %-12s not a length problem: left for a person, see go run ./cmd/plumb runs show %s\n", "", b.RunID)
				continue
			}
			before := utf8.RuneCountInString(p.Draft.Text)
			p.Draft.Text = fit(strings.Join(strings.Fields(p.Draft.Text), " "), room(p.Draft))
			patched, err := json.Marshal(p)
			if err != nil {
				return err
			}
			reason := fmt.Sprintf("text cut to fit %s (%d to %d characters)", p.Draft.Channel, before, utf8.RuneCountInString(p.Draft.Text))
			if _, err := posts.Replay(ctx, b.RunID, pipeline.ReplayOptions{Input: patched, Reason: reason}); err != nil {
				return err
			}
			fmt.Fprintf(w, "  %-12s patched: %s; replayed its run %s alone\n", "", reason, b.RunID)
			waits = append(waits, replayed{article: &a.Run, post: p, runID: b.RunID})
		}
	}
	for _, r := range waits {
		post, err := settled(ctx, st, r.runID, 1)
		if err != nil {
			return err
		}
		article, err := settled(ctx, st, r.article.ID, r.article.Attempt)
		if err != nil {
			return err
		}
		fmt.Fprintf(w, "  %-12s %s at attempt %d; ", r.post.PostID, post.Status, post.Attempt)
		if article.Status == store.Succeeded {
			fmt.Fprintf(w, "the store replayed article %s from its join, which completed: shared (attempt %d)\n", r.post.ArticleID, article.Attempt)
		} else {
			fmt.Fprintf(w, "article %s is %s (attempt %d)\n", r.post.ArticleID, article.Status, article.Attempt)
		}
	}
	return nil
}

// settled waits for a run to end an attempt after the given one.
func settled(ctx context.Context, st store.Ops, id string, after int) (*store.Run, error) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	for {
		d, err := st.GetRun(ctx, id)
		if err != nil {
			return nil, err
		}
		if r := d.Run; r.Attempt > after && (r.Status.Final() || r.Status == store.AwaitingReview) {
			return &r, nil
		}
		select {
		case <-ctx.Done():
			return nil, errors.Join(fmt.Errorf("run %s did not end after its replay", id), ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// lastViolation is what the failed step's last attempt said was wrong.
func lastViolation(d *store.RunDetail, stepName string) string {
	for i := len(d.Steps) - 1; i >= 0; i-- {
		s := d.Steps[i]
		if s.Step != stepName || len(s.Attempts) == 0 {
			continue
		}
		a := s.Attempts[len(s.Attempts)-1]
		if len(a.Violations) > 0 {
			return a.Violations[0].Path + ": " + a.Violations[0].Message
		}
		return s.Error
	}
	return d.Run.Error
}

// tooLongFor says whether the run failed only for its body's length.
func tooLongFor(d *store.RunDetail) bool {
	for i := len(d.Steps) - 1; i >= 0; i-- {
		if s := d.Steps[i]; s.Step == "format" && len(s.Attempts) > 0 {
			vs := s.Attempts[len(s.Attempts)-1].Violations
			return len(vs) == 1 && vs[0].Path == "/body"
		}
	}
	return false
}
