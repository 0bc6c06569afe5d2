package main

import (
	"bytes"
	"fmt"
	"slices"
	"strings"

	"github.com/plumb-dev/plumb/internal/runtext"
	"github.com/plumb-dev/plumb/step"
	"github.com/plumb-dev/plumb/store"
)

// timeline renders a run's whole record for a terminal, oldest first: what
// triggered it, each attempt of the run and why it started, each step with
// who produced its output, every attempt of the step with its error,
// violations, model and raw answer, and the review. It reads only the
// record (no clock), so that the same record always renders the same.
// With t, it places the run in its tree: a branch run's parent, and a
// parent's branches.
func timeline(d *store.RunDetail, lim limits, t *tree) string {
	var w strings.Builder
	r := &d.Run
	fmt.Fprintf(&w, "Run %s  ·  %s  ·  %s\n", r.ID, r.Pipeline, treeState(r, t))
	if r.Parent != nil {
		prefix := "plumb"
		if t != nil {
			prefix = t.prefix
		}
		fmt.Fprintf(&w, "  parent    %s: %s runs show %s\n", parentLine(r.Parent), prefix, shellQuote(r.Parent.RunID))
	}
	if r.Error != "" {
		w.WriteString("  error     ")
		w.WriteString(firstLines(r.Error, 3, "            "))
	}
	if c := r.Cancel; c != nil {
		w.WriteString("  cancel    ")
		if r.Status == store.Cancelled {
			w.WriteString(escapeControl(cancelNote(c)) + "\n")
		} else {
			fmt.Fprintf(&w, "asked %s\n            not yet ended: its worker stops it at its next heartbeat, and the run ends cancelled\n", escapeControl(cancelNote(c)))
		}
	}
	fmt.Fprintf(&w, "  attempts  %d\n", r.Attempt)
	fmt.Fprintf(&w, "  version   %s\n", escapeControl(r.Version.String()))
	fmt.Fprintf(&w, "  created   %s\n", fmtTime(r.CreatedAt))
	fmt.Fprintf(&w, "  updated   %s\n", fmtTime(r.UpdatedAt))
	if !r.FinishedAt.IsZero() {
		fmt.Fprintf(&w, "  finished  %s (%s after it was created)\n", fmtTime(r.FinishedAt), fmtDur(r.FinishedAt.Sub(r.CreatedAt)))
	}
	if r.IdempotencyKey != "" {
		fmt.Fprintf(&w, "  idempotency key  %s\n", r.IdempotencyKey)
	}
	first := firstTrace(d)
	if first == "" {
		first = "none recorded"
	}
	fmt.Fprintf(&w, "  trace     %s\n", first)
	if r.KeepPayloads {
		w.WriteString("  payloads  kept\n")
	} else {
		w.WriteString("  payloads  hashed once the run ends (a replay needs a new input)\n")
	}
	if n := r.InputReplaced; n > 0 {
		verb := " were"
		if n == 1 {
			verb = " was"
		}
		fmt.Fprintf(&w, "  input     %s%s replaced with U+FFFD when it was submitted\n", plural(n, "invalid UTF-8 byte", "invalid UTF-8 bytes"), verb)
	}

	w.WriteString("\nTriggered by\n")
	if r.Trigger == (step.Trigger{}) {
		w.WriteString("  nothing recorded\n")
	} else {
		fmt.Fprintf(&w, "  source       %s\n", orDash(r.Trigger.Source))
		fmt.Fprintf(&w, "  external id  %s\n", orDash(r.Trigger.ExternalID))
		fmt.Fprintf(&w, "  received at  %s\n", fmtTime(r.Trigger.ReceivedAt))
	}

	var prevInput []byte
	for i, a := range d.Attempts {
		fmt.Fprintf(&w, "\nAttempt %d: %s\n", a.Attempt, a.Reason)
		if a.Attempt == r.Attempt && a.FinishedAt.IsZero() {
			a.Status = r.Status // a live attempt is where the run is (waiting for its branches, say)
		}
		fmt.Fprintf(&w, "  %s\n", attemptSpan(&a))
		if !a.Version.IsZero() {
			fmt.Fprintf(&w, "  under %s\n", escapeControl(a.Version.String()))
		}
		executionTraces(&w, d, a.Attempt)
		switch {
		case a.Input == nil && i == 0 && r.InputHash != "":
			fmt.Fprintf(&w, "  input not kept (%s, sha256 %s)\n", fmtSize(r.InputSize), short(r.InputHash))
		case a.Input != nil && (i == 0 || !bytes.Equal(a.Input, prevInput)):
			label := "input"
			if i > 0 {
				label = "input (changed)"
			}
			payload(&w, "  ", label, a.Input, lim)
		}
		prevInput = a.Input
		for _, rec := range d.Steps {
			if rec.RunAttempt == a.Attempt {
				stepRecord(&w, &rec, a.Input, lim)
			}
		}
	}
	if len(d.Attempts) == 0 {
		// An imported run may have step records but no attempt rows.
		for _, rec := range d.Steps {
			stepRecord(&w, &rec, nil, lim)
		}
	}
	if r.Review != nil {
		review(&w, r.ReviewRef(), r.Review, lim)
	}
	branchesSection(&w, r, t)
	return w.String()
}

// firstTrace is the trace of the run's first execution (runtext.FirstTrace).
func firstTrace(d *store.RunDetail) string { return runtext.FirstTrace(d) }

// executionTraces lists the traces of the executions that wrote a run
// attempt's records (the first, and one more after each deferral, review
// decision or reclaim), in the order they ran.
func executionTraces(w *strings.Builder, d *store.RunDetail, attempt int) {
	first := firstTrace(d)
	var seen []string
	for _, rec := range d.Steps {
		if rec.RunAttempt == attempt && rec.TraceID != "" && !slices.Contains(seen, rec.TraceID) {
			seen = append(seen, rec.TraceID)
		}
	}
	for i, id := range seen {
		label := "            "
		if i == 0 {
			label = "  traces    "
		}
		if id == first {
			id += " (the first)"
		}
		w.WriteString(label + id + "\n")
	}
}

// runState says where a run stands in one phrase (runtext.State).
func runState(r *store.Run) string { return runtext.State(r) }

// attemptSpan says when a run attempt ran and how it ended
// (runtext.AttemptSpan).
func attemptSpan(a *store.RunAttempt) string { return runtext.AttemptSpan(a) }

// stepRecord renders one step of one run attempt.
// runInput is the attempt's input, shown above: a first step's input that
// is the same is not shown twice.
func stepRecord(w *strings.Builder, rec *store.StepRecord, runInput []byte, lim limits) {
	num := "?"
	if rec.Index >= 0 {
		num = fmt.Sprint(rec.Index + 1)
	}
	status := string(rec.Status)
	switch rec.Status {
	case store.StepFailed:
		status = "FAILED"
	case store.StepReview:
		status = "sent to review"
	case store.StepWaiting:
		status = "forked its branches, then waited for them"
	case store.StepAwaiting:
		status = "waited for an event"
	case store.StepReused:
		status = "reused, not run again"
		if strings.HasPrefix(rec.Note, "reused") {
			status = rec.Note + ", not run again"
		}
	}
	if rec.Class != 0 {
		status += ": " + rec.Class.String()
	}
	fmt.Fprintf(w, "\n  %s. %s  %s", num, rec.Step, status)
	if by := producer(rec); by != "" {
		w.WriteString("  " + by)
	}
	if !rec.StartedAt.IsZero() && !rec.FinishedAt.IsZero() && rec.Status != store.StepReused {
		w.WriteString("  in " + fmtDur(rec.FinishedAt.Sub(rec.StartedAt)))
	}
	w.WriteByte('\n')
	if rec.Note != "" && rec.Note != rec.Error && rec.Status != store.StepReused {
		fmt.Fprintf(w, "     note   %s\n", rec.Note)
	}
	if rec.Error != "" {
		w.WriteString("     error  ")
		w.WriteString(firstLines(rec.Error, 4, "            "))
	}
	if rec.Status == store.StepReused {
		return // the output is the earlier attempt's, shown there
	}
	for i := range rec.Attempts {
		attempt(w, rec, &rec.Attempts[i], lim)
	}
	if unclassified(rec) {
		w.WriteString("     " + unclassifiedHint + "\n")
	}
	switch {
	case rec.Input != nil && rec.Index == 0 && bytes.Equal(rec.Input, runInput):
		w.WriteString("     input  the attempt's input, above\n")
	case rec.Input != nil:
		payload(w, "     ", "input", rec.Input, lim)
	}
	switch {
	case rec.Output != nil:
		payload(w, "     ", "output", rec.Output, lim)
	case rec.OutputHash != "":
		fmt.Fprintf(w, "     output not kept (%s, sha256 %s)\n", fmtSize(rec.OutputSize), short(rec.OutputHash))
	}
}

// unclassifiedHint says how to fix a failure nobody classified.
const unclassifiedHint = "unclassified error: wrap it with retry.Permanent(err) if retrying cannot help, or retry.Transient(err) if it can"

// unclassified reports whether a failed step gave up on an error nobody
// classified: its last attempt says so in a typed field.
func unclassified(rec *store.StepRecord) bool {
	n := len(rec.Attempts)
	return rec.Status == store.StepFailed && n > 0 && rec.Attempts[n-1].Unclassified
}

// producer names who produced a step's output when it was not the step
// itself: a fallback, or a person.
func producer(rec *store.StepRecord) string {
	switch {
	case rec.By == "" || rec.By == rec.Step:
		return ""
	case strings.HasPrefix(rec.By, "review:"):
		return "by " + strings.TrimPrefix(rec.By, "review:") + " (review)"
	case rec.By == "join":
		return "by the join of its branches"
	case rec.By == "event" && rec.Status.Done():
		return "on the event it waited for"
	case rec.By == "deadline" && rec.Status.Done():
		return "by its deadline's default"
	case strings.HasPrefix(rec.By, "route:"):
		return "routed to " + quoteName(strings.TrimPrefix(rec.By, "route:"))
	}
	return "by " + rec.By + " (fallback)"
}

// attempt renders one attempt of a step: a call of its function or of a
// model.
func attempt(w *strings.Builder, rec *store.StepRecord, a *store.AttemptRecord, lim limits) {
	fmt.Fprintf(w, "     attempt %d", a.Number)
	if a.Step != "" && a.Step != rec.Step {
		fmt.Fprintf(w, "  by %s", a.Step)
	}
	if a.Note != "" {
		fmt.Fprintf(w, "  (%s)", a.Note)
	}
	switch {
	case a.Error == "":
		w.WriteString("  ok")
	case a.Class != 0 && a.Unclassified:
		w.WriteString("  failed: " + a.Class.String() + " (unclassified)")
	case a.Class != 0:
		w.WriteString("  failed: " + a.Class.String())
	default:
		w.WriteString("  failed")
	}
	w.WriteString("  " + fmtDur(a.Duration))
	if a.Model != "" {
		fmt.Fprintf(w, "  model %s, tokens %d in / %d out", a.Model, a.InputTokens, a.OutputTokens)
		if a.Cost > 0 {
			fmt.Fprintf(w, ", $%.4f", a.Cost)
		}
	}
	if a.Wait > 0 {
		fmt.Fprintf(w, "  then waited %s", fmtDur(a.Wait))
	}
	w.WriteByte('\n')
	if a.Abandoned {
		w.WriteString("       abandoned  the function ignored its context and was left running at the timeout; it may still have had side effects\n")
	}
	if a.Error != "" {
		// A contract error's message lists its violations, which follow
		// one a line: its first line is enough.
		msg := firstLines(a.Error, 4, "              ")
		if len(a.Violations) > 0 {
			msg, _, _ = strings.Cut(a.Error, "\n")
			msg += "\n"
		}
		w.WriteString("       error  ")
		w.WriteString(msg)
	}
	if len(a.Violations) > 0 {
		if a.ViolationCount > len(a.Violations) {
			fmt.Fprintf(w, "       violations (the first %d of %d)\n", len(a.Violations), a.ViolationCount)
		} else {
			w.WriteString("       violations\n")
		}
		for _, v := range a.Violations {
			path := v.Path
			if path == "" {
				path = "(root)"
			}
			fmt.Fprintf(w, "         %s: %s\n", path, oneLine(v.Message, 200))
		}
	}
	if a.Raw != "" {
		fmt.Fprintf(w, "       raw answer (%s)\n", fmtSize(len(a.Raw)))
		block(w, "         | ", a.Raw, pick(lim, rawLimits))
	}
	if a.Stack != "" {
		w.WriteString("       stack\n")
		block(w, "         ", a.Stack, pick(lim, rawLimits))
	}
}

// review renders the run's review: why, what was proposed, who decided.
func review(w *strings.Builder, ref store.ReviewRef, rv *store.Review, lim limits) {
	fmt.Fprintf(w, "\nReview at step %s\n", rv.Step)
	if rv.Decision == nil {
		fmt.Fprintf(w, "  review    %s (decide exactly this one with --review %s)\n", ref, ref)
	} else {
		fmt.Fprintf(w, "  review    %s\n", ref)
	}
	w.WriteString("  reason    " + firstLines(rv.Reason, 3, "            "))
	fmt.Fprintf(w, "  opened    %s\n", fmtTime(rv.CreatedAt))
	if !rv.Deadline.IsZero() {
		esc := ""
		if rv.Escalated {
			esc = " (passed; escalated)"
		}
		fmt.Fprintf(w, "  deadline  %s%s\n", fmtTime(rv.Deadline), esc)
	}
	if rv.Proposed != nil {
		payload(w, "  ", "proposed output", rv.Proposed, lim)
	} else {
		w.WriteString("  proposed output  none: the step failed, so an approval must supply the output (--edit)\n")
	}
	d := rv.Decision
	if d == nil {
		w.WriteString("  decision  pending\n")
		return
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
	fmt.Fprintf(w, "  decision  %s by %s at %s\n", verdict, by, fmtTime(d.At))
	if d.Reason != "" {
		fmt.Fprintf(w, "  because   %s\n", oneLine(d.Reason, 300))
	}
	switch {
	case d.Approved && d.Edited && d.Output != nil && rv.Proposed != nil:
		w.WriteString("  the edit changed\n")
		for _, l := range changes(rv.Proposed, d.Output, "the output") {
			fmt.Fprintf(w, "    %s\n", l)
		}
	case d.Approved && d.Edited && d.Output != nil:
		payload(w, "  ", "approved output", d.Output, lim)
	}
}

// payload renders a labelled JSON payload with its size.
func payload(w *strings.Builder, indent, label string, raw []byte, lim limits) {
	fmt.Fprintf(w, "%s%s (%s)\n", indent, label, fmtSize(len(raw)))
	block(w, indent+"  ", prettyJSON(raw), pick(lim, payloadLimits))
}

// pick returns def unless the limits were lifted (--full).
func pick(lim, def limits) limits {
	if lim == noLimits {
		return noLimits
	}
	return def
}

// firstLines keeps the first n lines of s, the later ones indented, and
// ends with a newline.
func firstLines(s string, n int, indent string) string {
	lines := strings.Split(strings.TrimRight(escapeControl(s), "\n"), "\n")
	more := ""
	if len(lines) > n {
		more = fmt.Sprintf("\n%s… (%d more lines)", indent, len(lines)-n)
		lines = lines[:n]
	}
	return strings.Join(lines, "\n"+indent) + more + "\n"
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// short abbreviates a hash.
func short(h string) string {
	if len(h) > 16 {
		return h[:16] + "…"
	}
	return h
}
