package console

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"

	"github.com/plumb-dev/plumb/contract"
	"github.com/plumb-dev/plumb/internal/runtext"
	"github.com/plumb-dev/plumb/step"
	"github.com/plumb-dev/plumb/store"
)

// runView is a run's page: the same record `plumb runs show` prints,
// oldest first, and the actions an operator may take on it.
type runView struct {
	chrome
	Flash    string
	Run      *store.Run
	State    string
	Class    string
	Trace    string
	TraceURL string
	Parent   *store.Parent
	Attempts []attemptView
	Review   *reviewView
	Branches []branchNode
	// MoreBranches counts the branches past the ones shown.
	MoreBranches int
	Act          *actView
}

type attemptView struct {
	Number       int
	Reason       string
	Span         string
	Version      string
	Input        string
	InputChanged bool
	Traces       []string
	Steps        []recordView
}

type recordView struct {
	Num, Name, Status, Class, By, Took, Note, Error string
	Failed, Reused                                  bool
	Tries                                           []tryView
	Input, Output, OutputHidden                     string
}

type tryView struct {
	Number                  int
	By, Kind, Note, Outcome string
	Took, Model, Wait       string
	Failed, Abandoned       bool
	Error                   string
	Violations              []violationView
	More                    int
	Raw                     string
	Diff                    []diffLine
	DiffOf                  int
	Stack                   string
}

type violationView struct{ Path, Message string }

type reviewView struct {
	Step, Reason, Proposed, Opened, Deadline, Decision, Because string
	Pending                                                     bool
	Ref                                                         string
}

type branchNode struct {
	ID, Name, Status, Step, Error string
	Children                      []branchNode
	More                          int
}

// actView is what an operator may do on the run's page.
type actView struct {
	CanReplay, CanCancel bool
	From                 string
	Steps                []string
	Input                string
	NoPayload            bool
	Checked              bool
	Changes              []diffLine
	Violations           []violationView
	Err                  string
	CancelReason         string
}

func (h *handler) runPage(w http.ResponseWriter, r *http.Request) {
	d, err := h.cfg.Store.GetRun(r.Context(), r.PathValue("id"))
	if err != nil {
		h.fail(w, r, err)
		return
	}
	v, err := h.runViewOf(r, d, r.URL.Query().Get("from"))
	if err != nil {
		h.fail(w, r, err)
		return
	}
	v.Flash = h.takeFlash(w, r)
	h.render(w, r, runTmpl, http.StatusOK, v)
}

func (h *handler) runViewOf(r *http.Request, d *store.RunDetail, from string) (*runView, error) {
	ctx := r.Context()
	run := &d.Run
	v := &runView{chrome: h.chromeFor(r, "Run "+run.ID, "runs"), Run: run, State: runtext.State(run), Parent: run.Parent}
	if run.Class != 0 {
		v.Class = run.Class.String()
	}
	v.Trace = runtext.FirstTrace(d)
	if v.Trace != "" && h.cfg.TraceURL != "" {
		v.TraceURL = strings.ReplaceAll(h.cfg.TraceURL, "{trace}", urlPathEscape(v.Trace))
	}
	var prev []byte
	for i, a := range d.Attempts {
		if a.Attempt == run.Attempt && a.FinishedAt.IsZero() {
			a.Status = run.Status
		}
		av := attemptView{Number: a.Attempt, Reason: a.Reason, Span: runtext.AttemptSpan(&a)}
		if !a.Version.IsZero() {
			av.Version = a.Version.String()
		}
		if a.Input != nil && (i == 0 || !bytes.Equal(a.Input, prev)) {
			av.Input, av.InputChanged = pretty(a.Input), i > 0
		}
		prev = a.Input
		for _, rec := range d.Steps {
			if rec.RunAttempt != a.Attempt {
				continue
			}
			if rec.TraceID != "" && !slices.Contains(av.Traces, rec.TraceID) {
				av.Traces = append(av.Traces, rec.TraceID)
			}
			av.Steps = append(av.Steps, recordOf(&rec))
		}
		v.Attempts = append(v.Attempts, av)
	}
	if len(d.Attempts) == 0 && len(d.Steps) > 0 {
		av := attemptView{Number: run.Attempt, Reason: "imported"}
		for _, rec := range d.Steps {
			av.Steps = append(av.Steps, recordOf(&rec))
		}
		v.Attempts = append(v.Attempts, av)
	}
	if rv := run.Review; rv != nil {
		v.Review = reviewOf(run, rv)
	}
	var err error
	v.Branches, v.MoreBranches, err = h.branchTree(ctx, run.ID, 0)
	if err != nil {
		return nil, err
	}
	if v.Operator {
		act, err := h.actOf(ctx, d, from)
		if err != nil {
			return nil, err
		}
		v.Act = act
	}
	return v, nil
}

// Branch trees are shown three levels deep, 50 children a level.
const (
	treeDepth = 3
	treeWidth = 50
)

func (h *handler) branchTree(ctx context.Context, id string, depth int) ([]branchNode, int, error) {
	if depth >= treeDepth {
		return nil, 0, nil
	}
	bs, err := h.cfg.Store.Branches(ctx, store.BranchQuery{Parent: id})
	if err != nil {
		return nil, 0, err
	}
	more := 0
	if len(bs) > treeWidth {
		more, bs = len(bs)-treeWidth, bs[:treeWidth]
	}
	var out []branchNode
	for _, b := range bs {
		n := branchNode{ID: b.RunID, Status: string(b.Status), Step: b.FailedStep, Error: firstLine(b.Error, 160),
			Name: fmt.Sprintf("%s #%d", b.Step, b.Branch)}
		if b.Name != "" {
			n.Name = b.Step + " " + b.Name
		}
		if n.Children, n.More, err = h.branchTree(ctx, b.RunID, depth+1); err != nil {
			return nil, 0, err
		}
		out = append(out, n)
	}
	return out, more, nil
}

func recordOf(rec *store.StepRecord) recordView {
	rv := recordView{Num: "?", Name: rec.Step, Status: string(rec.Status), Note: rec.Note, Error: rec.Error,
		Failed: rec.Status == store.StepFailed, Reused: rec.Status == store.StepReused}
	if rec.Index >= 0 {
		rv.Num = fmt.Sprint(rec.Index + 1)
	}
	switch rec.Status {
	case store.StepReview:
		rv.Status = "sent to review"
	case store.StepWaiting:
		rv.Status = "forked its branches, then waited for them"
	case store.StepReused:
		rv.Status = "reused, not run again"
	}
	if rec.Class != 0 {
		rv.Class = rec.Class.String()
	}
	if rec.Note == rec.Error {
		rv.Note = ""
	}
	if rec.By != "" && rec.By != rec.Step {
		rv.By = rec.By
	}
	if !rec.StartedAt.IsZero() && !rec.FinishedAt.IsZero() && !rv.Reused {
		rv.Took = fmtDur(rec.FinishedAt.Sub(rec.StartedAt))
	}
	if rv.Reused {
		return rv
	}
	for i := range rec.Attempts {
		a := &rec.Attempts[i]
		tv := tryView{Number: a.Number, Note: a.Note, Took: fmtDur(a.Duration), Failed: a.Error != "", Abandoned: a.Abandoned,
			Raw: escapeBidiJSON(a.Raw), Stack: a.Stack, Kind: kindName(a.Kind)}
		if a.Step != rec.Step {
			tv.By = a.Step
		}
		switch {
		case a.Error == "":
			tv.Outcome = "ok"
		case a.Class != 0 && a.Unclassified:
			tv.Outcome = "failed: " + a.Class.String() + " (unclassified)"
		case a.Class != 0:
			tv.Outcome = "failed: " + a.Class.String()
		default:
			tv.Outcome = "failed"
		}
		if a.Model != "" {
			tv.Model = fmt.Sprintf("%s, tokens %d in / %d out", a.Model, a.InputTokens, a.OutputTokens)
			if a.Cost > 0 {
				tv.Model += fmt.Sprintf(", $%.4f", a.Cost)
			}
		}
		if a.Wait > 0 {
			tv.Wait = fmtDur(a.Wait)
		}
		tv.Error = a.Error
		if len(a.Violations) > 0 {
			tv.Error, _, _ = strings.Cut(a.Error, "\n")
		}
		for _, vi := range a.Violations {
			tv.Violations = append(tv.Violations, violationView{Path: orRoot(vi.Path), Message: vi.Message})
		}
		if a.ViolationCount > len(a.Violations) {
			tv.More = a.ViolationCount - len(a.Violations)
		}
		// A re-ask's answer against the answer it corrects.
		if a.Kind == step.AttemptReask && a.Raw != "" {
			for j := i - 1; j >= 0; j-- {
				if p := rec.Attempts[j]; p.Raw != "" {
					tv.Diff, tv.DiffOf = lineDiff(prettyText(p.Raw), prettyText(a.Raw)), p.Number
					break
				}
			}
		}
		rv.Tries = append(rv.Tries, tv)
	}
	if rec.Input != nil {
		rv.Input = pretty(rec.Input)
	}
	switch {
	case rec.Output != nil:
		rv.Output = pretty(rec.Output)
	case rec.OutputHash != "":
		rv.OutputHidden = fmt.Sprintf("not kept (%d bytes, sha256 %.16s…)", rec.OutputSize, rec.OutputHash)
	}
	return rv
}

func kindName(k step.AttemptKind) string {
	switch k {
	case step.AttemptReask:
		return "re-ask"
	case step.AttemptRetry:
		return "transport retry"
	case step.AttemptFallbackModel:
		return "fallback model"
	}
	return ""
}

// prettyText indents a model's answer when it is JSON, so that the diff
// compares fields line by line.
func prettyText(s string) string {
	var b bytes.Buffer
	if json.Indent(&b, []byte(s), "", "  ") == nil {
		return escapeBidiJSON(b.String())
	}
	return escapeBidiJSON(s)
}

func orRoot(p string) string {
	if p == "" {
		return "(root)"
	}
	return p
}

func reviewOf(run *store.Run, rv *store.Review) *reviewView {
	v := &reviewView{Step: rv.Step, Reason: rv.Reason, Opened: fmtTime(rv.CreatedAt), Ref: run.ReviewRef().String()}
	if !rv.Deadline.IsZero() {
		v.Deadline = fmtTime(rv.Deadline)
		if rv.Escalated {
			v.Deadline += " (passed; escalated)"
		}
	}
	if rv.Proposed != nil {
		v.Proposed = pretty(rv.Proposed)
	}
	d := rv.Decision
	if d == nil {
		v.Pending = true
		return v
	}
	verdict := "rejected"
	if d.Approved {
		verdict = "approved"
		if d.Edited {
			verdict = "edited and approved"
		}
	}
	by := d.Reviewer
	if d.Default {
		by += " (the deadline's default)"
	}
	v.Decision = verdict + " by " + by + " at " + fmtTime(d.At)
	v.Because = d.Reason
	return v
}

// violationsOf lists a contract failure's violations at their paths.
func violationsOf(err error) []violationView {
	var ve *contract.ValidationError
	if !errors.As(err, &ve) {
		return nil
	}
	var out []violationView
	for _, vi := range ve.Violations {
		out = append(out, violationView{Path: orRoot(vi.Path), Message: vi.Message})
	}
	return out
}
