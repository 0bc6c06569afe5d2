package reviewhttp

import (
	"fmt"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/plumb-dev/plumb/contract"
	"github.com/plumb-dev/plumb/store"
)

// The view models below hold what the templates print, already formatted:
// the templates stay free of logic, and html/template escapes every value.

// chrome is what every page's layout needs.
type chrome struct {
	Title    string
	Heading  string
	Base     string
	Nonce    string
	Reviewer string
}

type inboxView struct {
	chrome
	Flash    string
	Pipeline string
	// Query is the customer's id searched for; QueryValue is it in the
	// search box, whose text cannot be isolated: without its directional
	// controls (the heading names them). ClearURL lists the same pipeline
	// without it.
	Query, QueryValue, ClearURL string
	Items                       []itemView
	Truncated                   bool
}

type itemView struct {
	ID, URL, Pipeline, PipelineURL, Step, Reason string
	// Source and ExternalID are the trigger's; ExternalURL lists every
	// review of that item.
	Source, ExternalID, ExternalURL string
	Age, Opened                     string
	Deadline, DeadlineAt            string
	Overdue, Escalated, Proposal    bool
}

type pageView struct {
	chrome
	Run      store.Run
	Created  string
	InboxURL string
	// Pending: the review waits for a decision, so the forms are shown,
	// unless ReadOnly: this reader may not decide (Config.CanDecide).
	Pending, ReadOnly bool
	Review            *reviewView
	// Decision describes a decided review.
	Decision, DecidedOutput string
	Approved, Edited        bool
	// Error is a refusal of the last action, shown above the forms.
	Error                 string
	CSRF                  string
	ApproveURL, RejectURL string
	Attempts              []attemptView
}

type reviewView struct {
	Step, Reason                 string
	Input, Proposal, Schema      string
	HasProposal                  bool
	Edit                         string
	Rows                         int
	Violations                   []violationView
	Opened, Age                  string
	Deadline, DeadlineAt         string
	Overdue, Escalated           bool
	RejectReason, RejectProblems string
}

type violationView struct{ Path, Message, Value string }

type attemptView struct {
	Number                            int
	Current                           bool
	Reason, Status, Started, Duration string
	Error, Class                      string
	Steps                             []stepView
}

type stepView struct {
	Index                                int
	Name, Status, By, Note, Error, Class string
	Started, Duration                    string
	Input, Output                        string
	Tries                                []tryView
}

type tryView struct {
	Number                                    int
	Failed                                    bool
	Step, Note, Duration, Error, Class, Model string
	Tokens, Wait, Raw, Stack                  string
	Violations                                []violationView
	// Omitted counts the violations the record did not keep.
	Omitted int
}

// form is what a reviewer sent, kept when the page is shown again with a
// refusal.
type form struct {
	edit, reason string
	editSet      bool
	err          string
	violations   []contract.Violation
	rejectErr    string
}

func (h *handler) pageURL(id string) string { return h.runURL(id, "") }

// runURL is the path of a run's page (action "") or of one of its forms'
// targets ("approve", "reject"). An id of "." or ".." cannot be a path
// segment: URL resolvers drop it even percent-encoded, so the link would
// lead elsewhere. Such a run is named in the query instead. Stores refuse
// these ids (store.ValidID), but one may hold a run from before.
func (h *handler) runURL(id, action string) string {
	if id == "." || id == ".." {
		return h.base + "reviews/" + action + "?id=" + url.QueryEscape(id)
	}
	p := h.base + "reviews/" + url.PathEscape(id)
	if action != "" {
		p += "/" + action
	}
	return p
}

func (h *handler) inboxView(runs []store.Run, truncated bool, q query, now time.Time) inboxView {
	v := inboxView{Pipeline: q.pipeline, Query: q.id, QueryValue: strings.Map(dropBidi, q.id), ClearURL: h.listURL(query{pipeline: q.pipeline}), Truncated: truncated}
	for _, run := range runs {
		rv := run.Review
		it := itemView{ID: run.ID, URL: h.pageURL(run.ID), Pipeline: run.Pipeline,
			PipelineURL: h.listURL(query{pipeline: run.Pipeline}), Step: rv.Step, Reason: rv.Reason,
			Source: run.Trigger.Source, ExternalID: run.Trigger.ExternalID,
			Age: human(now.Sub(rv.CreatedAt)), Opened: stamp(rv.CreatedAt), Escalated: rv.Escalated, Proposal: rv.Proposed != nil}
		if it.ExternalID != "" {
			it.ExternalURL = h.listURL(query{id: it.ExternalID})
		}
		it.Deadline, it.DeadlineAt, it.Overdue = deadline(rv, now)
		v.Items = append(v.Items, it)
	}
	return v
}

// listURL is the inbox's address for a query.
func (h *handler) listURL(q query) string {
	v := url.Values{}
	if q.pipeline != "" {
		v.Set("pipeline", q.pipeline)
	}
	if q.id != "" {
		v.Set("q", q.id)
	}
	if len(v) == 0 {
		return h.base
	}
	return h.base + "?" + v.Encode()
}

// deadline describes a review's deadline relative to now.
func deadline(rv *store.Review, now time.Time) (rel, at string, late bool) {
	if rv.Deadline.IsZero() {
		return "", "", false
	}
	if overdue(rv, now) {
		return "overdue by " + human(now.Sub(rv.Deadline)), stamp(rv.Deadline), true
	}
	return "due in " + human(rv.Deadline.Sub(now)), stamp(rv.Deadline), false
}

func (h *handler) pageView(d *store.RunDetail, reviewer string, decide bool, now time.Time, f form) pageView {
	run := d.Run
	v := pageView{Run: run, Created: stamp(run.CreatedAt), InboxURL: h.base, Error: f.err, ReadOnly: !decide,
		ApproveURL: h.runURL(run.ID, "approve"), RejectURL: h.runURL(run.ID, "reject")}
	if rv := run.Review; rv != nil {
		v.Pending = run.Status == store.AwaitingReview && rv.Decision == nil
		r := &reviewView{Step: rv.Step, Reason: rv.Reason, Input: shownJSON(rv.Input), Proposal: shownJSON(rv.Proposed),
			Schema: shownJSON(rv.OutputSchema), HasProposal: rv.Proposed != nil, Opened: stamp(rv.CreatedAt),
			Age: human(now.Sub(rv.CreatedAt)), Escalated: rv.Escalated, RejectReason: f.reason, RejectProblems: f.rejectErr}
		r.Deadline, r.DeadlineAt, r.Overdue = deadline(rv, now)
		r.Edit = r.Proposal
		if f.editSet {
			r.Edit = escapeBidiJSON(f.edit)
		}
		r.Rows = min(max(strings.Count(r.Edit, "\n")+2, 8), 30)
		r.Violations = violationViews(f.violations)
		if dc := rv.Decision; dc != nil {
			v.Decision, v.Approved, v.Edited = describeDecision(dc), dc.Approved, dc.Edited
			if dc.Approved {
				v.DecidedOutput = shownJSON(dc.Output)
			}
		}
		v.Review = r
	}
	if v.Pending && decide {
		v.CSRF = h.tokens.mint(reviewer)
	}
	v.Attempts = timeline(d)
	return v
}

// timeline groups the run's step records under the run attempts they
// belong to, oldest first.
func timeline(d *store.RunDetail) []attemptView {
	var out []attemptView
	index := map[int]int{}
	for _, a := range d.Attempts {
		av := attemptView{Number: a.Attempt, Reason: a.Reason, Status: string(a.Status), Started: stamp(a.StartedAt),
			Error: a.Error, Class: a.Class.String()}
		if !a.FinishedAt.IsZero() {
			av.Duration = precise(a.FinishedAt.Sub(a.StartedAt))
		}
		index[a.Attempt] = len(out)
		out = append(out, av)
	}
	for _, rec := range d.Steps {
		i, ok := index[rec.RunAttempt]
		if !ok {
			// A record of an attempt with no summary (an imported run).
			index[rec.RunAttempt] = len(out)
			i = len(out)
			out = append(out, attemptView{Number: rec.RunAttempt, Reason: "(no attempt record)"})
		}
		out[i].Steps = append(out[i].Steps, stepViewOf(rec))
	}
	slices.SortStableFunc(out, func(a, b attemptView) int { return a.Number - b.Number })
	for i := range out {
		out[i].Current = out[i].Number == d.Run.Attempt
	}
	return out
}

func stepViewOf(rec store.StepRecord) stepView {
	sv := stepView{Index: rec.Index, Name: rec.Step, Status: string(rec.Status), By: rec.By, Note: rec.Note,
		Error: rec.Error, Class: rec.Class.String(), Started: stamp(rec.StartedAt),
		Input: shownJSON(rec.Input), Output: shownJSON(rec.Output)}
	if sv.Error != "" && strings.HasSuffix(sv.Note, sv.Error) {
		sv.Note = "" // a review or rejection note that only repeats the error
	}
	if !rec.FinishedAt.IsZero() && !rec.StartedAt.IsZero() {
		sv.Duration = precise(rec.FinishedAt.Sub(rec.StartedAt))
	}
	if rec.Output == nil && rec.OutputHash != "" {
		sv.Output = fmt.Sprintf("(not kept: %d bytes, sha256 %s)", rec.OutputSize, rec.OutputHash)
	}
	for _, a := range rec.Attempts {
		t := tryView{Number: a.Number, Failed: a.Error != "", Step: a.Step, Note: a.Note, Duration: precise(a.Duration),
			Error: a.Error, Class: a.Class.String(), Model: a.Model, Raw: a.Raw, Stack: a.Stack,
			Violations: violationViews(a.Violations), Omitted: max(a.ViolationCount-len(a.Violations), 0)}
		if a.InputTokens+a.OutputTokens > 0 {
			t.Tokens = fmt.Sprintf("%d in / %d out tokens", a.InputTokens, a.OutputTokens)
			if a.Cost > 0 {
				t.Tokens += fmt.Sprintf(", $%.4f", a.Cost)
			}
		}
		if a.Wait > 0 {
			t.Wait = precise(a.Wait)
		}
		sv.Tries = append(sv.Tries, t)
	}
	return sv
}

func violationViews(vs []contract.Violation) []violationView {
	out := make([]violationView, 0, len(vs))
	for _, v := range vs {
		p := v.Path
		if p == "" {
			p = "(root)"
		}
		out = append(out, violationView{Path: p, Message: v.Message, Value: v.Value})
	}
	return out
}

// shownJSON is a payload as the pages show it: indented, its directional
// controls escaped (see isolate).
func shownJSON(b []byte) string { return escapeBidiJSON(prettyJSON(b)) }

func stamp(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format("2006-01-02 15:04:05 UTC")
}

// human is a coarse duration for ages and deadlines: "45s", "12m",
// "3h 5m", "2d".
func human(d time.Duration) string {
	if d < 0 {
		d = 0
	}
	switch {
	case d < time.Minute:
		return fmt.Sprintf("%ds", int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%dm", int(d.Minutes()))
	case d < 24*time.Hour:
		return pair(int(d.Hours()), "h", int(d.Minutes())%60, "m")
	}
	return pair(int(d.Hours())/24, "d", int(d.Hours())%24, "h")
}

// pair writes "3h 5m", or "3h" when the smaller unit is zero.
func pair(big int, bigUnit string, small int, smallUnit string) string {
	if small == 0 {
		return fmt.Sprintf("%d%s", big, bigUnit)
	}
	return fmt.Sprintf("%d%s %d%s", big, bigUnit, small, smallUnit)
}

// precise is a duration of work: "350ms", "1.2s", then as human.
func precise(d time.Duration) string {
	switch {
	case d <= 0:
		return "0s"
	case d < time.Millisecond:
		return d.String()
	case d < time.Second:
		return fmt.Sprintf("%dms", d.Milliseconds())
	case d < time.Minute:
		return fmt.Sprintf("%.1fs", d.Seconds())
	}
	return human(d)
}
