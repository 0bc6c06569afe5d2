package reviewhttp

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strings"

	"github.com/plumb-dev/plumb/contract"
	"github.com/plumb-dev/plumb/store"
)

// The pages and the API decide through the functions below, so that both
// check the same things in the same order and map errors to the same
// statuses.

// errStale is a decision made on a page older than the review: the run was
// decided and is at another attempt (maybe another review) now.
var errStale = errors.New("the review changed since it was opened")

// load returns a run the inbox may show: unknown runs and runs of
// pipelines outside Config.Pipelines are both not found.
func (h *handler) load(ctx context.Context, id string) (*store.RunDetail, error) {
	d, err := h.cfg.Store.GetRun(ctx, id)
	if errors.Is(err, store.ErrNotFound) || err == nil && !h.visible(d.Run.Pipeline) {
		return nil, fmt.Errorf("no run with id %q: %w", id, store.ErrNotFound)
	}
	return d, err
}

// seen names the review a reviewer looked at: the run attempt and the
// step. A run approved at one step may stop for review again at a later
// one in the same attempt, so the attempt alone does not name a review.
// Zero fields are not checked.
type seen struct {
	Attempt int
	Step    string
}

// pendingCheck refuses a decision on a run that is not waiting for one, or
// whose review is not the one the reviewer saw. It reads the run before
// the decision; the decision then names the review read
// (Run.ReviewRef), and the store refuses it in its transaction when the
// run opened another review in between (a 409 too).
func pendingCheck(d *store.RunDetail, s seen) error {
	r := &d.Run
	if r.Status != store.AwaitingReview || r.Review == nil {
		msg := fmt.Sprintf("run %s is %s, not awaiting review", r.ID, r.Status)
		if r.Review != nil && r.Review.Decision != nil {
			msg += ": " + describeDecision(r.Review.Decision)
		}
		return fmt.Errorf("%s: %w", msg, store.ErrConflict)
	}
	if s.Attempt > 0 && s.Attempt != r.Attempt || s.Step != "" && s.Step != r.Review.Step {
		return fmt.Errorf("run %s: %w (it waits at step %s of attempt %d now): reload it: %w",
			r.ID, errStale, r.Review.Step, r.Attempt, store.ErrConflict)
	}
	return nil
}

// approve approves the run's review with the proposal (edited nil) or an
// edit, which the store validates against the review's output contract.
func (h *handler) approve(ctx context.Context, d *store.RunDetail, reviewer string, sn seen, edited json.RawMessage) (*store.Run, error) {
	if err := pendingCheck(d, sn); err != nil {
		return nil, err
	}
	if edited == nil && d.Run.Review.Proposed == nil {
		return nil, &contract.ValidationError{Violations: []contract.Violation{{Keyword: "required",
			Message: "the step failed and proposed no output: an approval must supply the output"}}}
	}
	run, err := store.Approve(ctx, h.cfg.Store, d.Run.ID, d.Run.ReviewRef(), reviewer, edited)
	if err != nil {
		return nil, err
	}
	h.log.LogAttrs(ctx, slog.LevelInfo, "plumb: review approved", slog.String("run_id", run.ID),
		slog.String("pipeline", run.Pipeline), slog.String("step", d.Run.Review.Step), slog.String("reviewer", reviewer),
		slog.Bool("edited", run.Review != nil && run.Review.Decision != nil && run.Review.Decision.Edited))
	return run, nil
}

// reject rejects the run's review, which dead-letters the run.
func (h *handler) reject(ctx context.Context, d *store.RunDetail, reviewer string, sn seen, reason string) (*store.Run, error) {
	if err := pendingCheck(d, sn); err != nil {
		return nil, err
	}
	run, err := store.Reject(ctx, h.cfg.Store, d.Run.ID, d.Run.ReviewRef(), reviewer, reason)
	if err != nil {
		return nil, err
	}
	h.log.LogAttrs(ctx, slog.LevelInfo, "plumb: review rejected", slog.String("run_id", run.ID),
		slog.String("pipeline", run.Pipeline), slog.String("step", d.Run.Review.Step), slog.String("reviewer", reviewer),
		slog.String("reason", reason))
	return run, nil
}

// statusOf maps an error of the store or of a decision to an HTTP status
// and a message fit to show. Unexpected errors are 500s whose detail goes
// to the log only.
func statusOf(err error) (int, string) {
	var ve *contract.ValidationError
	switch {
	case errors.As(err, &ve):
		return http.StatusUnprocessableEntity, "the output breaks the step's contract"
	case errors.Is(err, store.ErrNotFound):
		return http.StatusNotFound, strings.TrimSuffix(err.Error(), ": "+store.ErrNotFound.Error())
	case errors.Is(err, store.ErrConflict), errors.Is(err, store.ErrFinal):
		return http.StatusConflict, strings.TrimSuffix(err.Error(), ": "+store.ErrConflict.Error())
	case errors.Is(err, store.ErrClosed):
		return http.StatusServiceUnavailable, "the store is closed"
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return http.StatusServiceUnavailable, "the request was cancelled"
	}
	return http.StatusInternalServerError, "internal error: the server log has the details"
}

func violationsOf(err error) []contract.Violation {
	var ve *contract.ValidationError
	if errors.As(err, &ve) {
		return ve.Violations
	}
	return nil
}

func describeDecision(dc *store.Decision) string {
	verb := "rejected"
	if dc.Approved {
		verb = "approved"
		if dc.Edited {
			verb = "edited and approved"
		}
	}
	s := verb + " by " + dc.Reviewer + " at " + dc.At.UTC().Format("2006-01-02 15:04:05 UTC")
	if dc.Default {
		s += " (the deadline's default)"
	}
	if dc.Reason != "" {
		s += ": " + dc.Reason
	}
	return s
}

// editFromText turns a form's output text into an edit for approve: nil
// when it is the proposal itself (whatever the whitespace), else the text,
// once it is known to be JSON.
func editFromText(text string, proposed json.RawMessage) (json.RawMessage, error) {
	b := []byte(strings.TrimSpace(text))
	if len(b) == 0 {
		return nil, &contract.ValidationError{Violations: []contract.Violation{{Keyword: "required",
			Message: "the output is empty: write the output, or reload the page to start again from the proposal"}}}
	}
	// json.Valid, not an Unmarshal into any: a number beyond float64's
	// range (1E700) is JSON, and the step's contract judges it, not this.
	if !json.Valid(b) {
		var v any
		err := json.Unmarshal(b, &v)
		return nil, &contract.ValidationError{Violations: []contract.Violation{{Keyword: "syntax", Message: syntaxMessage(b, err)}}}
	}
	if proposed != nil && bytes.Equal(canonical(b), canonical(proposed)) {
		return nil, nil
	}
	return b, nil
}

// canonical compacts JSON, undoes encoding/json's HTML escapes and
// escapes directional controls as the pages do, so that the proposal as
// stored and as shown in the textarea compare equal.
func canonical(b []byte) []byte {
	var buf bytes.Buffer
	if json.Compact(&buf, b) != nil {
		return b
	}
	return []byte(escapeBidiJSON(string(unescapeHTML(buf.Bytes()))))
}

// syntaxMessage says where JSON text is broken, in lines and columns a
// person can find in a textarea.
func syntaxMessage(b []byte, err error) string {
	var se *json.SyntaxError
	if !errors.As(err, &se) {
		return "not valid JSON: " + err.Error()
	}
	// Offset counts the bytes read, the offending one included.
	i := max(min(int(se.Offset), len(b))-1, 0)
	line := 1 + bytes.Count(b[:i], []byte("\n"))
	col := i - bytes.LastIndexByte(b[:i], '\n')
	return fmt.Sprintf("not valid JSON: %s (line %d, column %d)", se.Error(), line, col)
}

// unescapeHTML turns the \u003c, \u003e and \u0026 escapes encoding/json
// writes back into <, > and &, so that reviewers read the text as it is
// (html/template escapes it for the page). Escaped backslashes are
// respected: "\\u003c" stays as it is.
func unescapeHTML(b []byte) []byte {
	if !bytes.Contains(b, []byte(`\u00`)) {
		return b
	}
	out := make([]byte, 0, len(b))
	inString := false
	for i := 0; i < len(b); i++ {
		c := b[i]
		switch {
		case c == '"':
			inString = !inString
		case c == '\\' && inString && i+1 < len(b):
			if i+5 < len(b) && b[i+1] == 'u' {
				if r, ok := htmlEscapes[strings.ToLower(string(b[i+2:i+6]))]; ok {
					out = append(out, r)
					i += 5
					continue
				}
			}
			out = append(out, c, b[i+1])
			i++
			continue
		}
		out = append(out, c)
	}
	return out
}

var htmlEscapes = map[string]byte{"003c": '<', "003e": '>', "0026": '&'}

// prettyJSON indents JSON for reading; text that is not JSON is returned
// as it is.
func prettyJSON(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	var buf bytes.Buffer
	if json.Indent(&buf, b, "", "  ") != nil {
		return string(b)
	}
	return string(unescapeHTML(buf.Bytes()))
}

// sortPending orders reviews oldest first: the longest wait is the most
// urgent.
func sortPending(runs []store.Run) {
	slices.SortStableFunc(runs, func(a, b store.Run) int {
		if c := a.Review.CreatedAt.Compare(b.Review.CreatedAt); c != 0 {
			return c
		}
		return strings.Compare(a.ID, b.ID)
	})
}
