// Package runtext is the wording of a run's record that the plumb CLI
// and the console share, so that `plumb runs show` and a run's page say
// the same thing: where a run stands, how an attempt ran, its first
// trace, and times and durations as a person reads them.
package runtext

import (
	"fmt"
	"time"

	"github.com/plumb-dev/plumb/retry"
	"github.com/plumb-dev/plumb/store"
)

// TimeLayout shows times in UTC, to the second: logs, traces and
// colleagues in other time zones then agree on what happened when.
const TimeLayout = "2006-01-02 15:04:05 UTC"

// Time shows t in UTC to the second, "-" for the zero time.
func Time(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.UTC().Format(TimeLayout)
}

// Dur prints a duration the way a person reads it: "0s", "850ms",
// "1.2s", "3m04s", "2h05m", "3d04h".
func Dur(d time.Duration) string {
	if d < 0 {
		return "-" + Dur(-d)
	}
	switch {
	case d == 0:
		return "0s"
	case d < time.Millisecond:
		return "<1ms"
	case d < time.Second:
		return fmt.Sprintf("%dms", d.Milliseconds())
	case d < 10*time.Second:
		return fmt.Sprintf("%.1fs", d.Seconds())
	case d < time.Minute:
		return fmt.Sprintf("%ds", int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%dm%02ds", int(d.Minutes()), int(d.Seconds())%60)
	case d < 48*time.Hour && d%time.Hour == 0:
		return fmt.Sprintf("%dh", int(d.Hours()))
	case d < 48*time.Hour:
		return fmt.Sprintf("%dh%02dm", int(d.Hours()), int(d.Minutes())%60)
	case d%(24*time.Hour) == 0:
		return fmt.Sprintf("%dd", int(d.Hours())/24)
	}
	return fmt.Sprintf("%dd%02dh", int(d.Hours())/24, int(d.Hours())%24)
}

// FirstTrace is the trace of the run's first execution: the run's own
// record of it, else the first step record that names one.
func FirstTrace(d *store.RunDetail) string {
	if d.Run.TraceID != "" {
		return d.Run.TraceID
	}
	for _, rec := range d.Steps {
		if rec.TraceID != "" {
			return rec.TraceID
		}
	}
	return ""
}

// State says where a run stands in one phrase.
func State(r *store.Run) string {
	s := string(r.Status)
	switch r.Status {
	case store.DeadLettered, store.Cancelled, store.Held:
		if r.Step != "" {
			s += " at step " + r.Step
		}
		if r.Class != 0 && !(r.Status == store.Cancelled && r.Class == retry.ClassCancelled) {
			s += " (" + r.Class.String() + ")"
		}
	case store.AwaitingReview:
		if r.Review != nil {
			s += " at step " + r.Review.Step
		}
	case store.Queued:
		if !r.NotBefore.IsZero() {
			s += " until " + Time(r.NotBefore)
			switch {
			case r.Step != "" && r.Error == "":
				s += " (step " + r.Step + " waits for an event: plumb events list)"
			case r.Step != "":
				s += " (waiting out a failure of step " + r.Step + ")"
			}
		}
	case store.Waiting:
		switch {
		case r.Parent != nil && r.Parent.Step != "" && r.Step == "":
			s += " for a slot under its fork's limit"
		case r.Step != "":
			s += " for its branches at step " + r.Step
		}
	case store.Running:
		if r.LeaseOwner != "" {
			s += " on worker " + r.LeaseOwner + ", lease until " + Time(r.LeaseExpires)
		}
	}
	return s
}

// AttemptSpan says when a run attempt ran and how it ended.
func AttemptSpan(a *store.RunAttempt) string {
	s := "started " + Time(a.StartedAt)
	if a.FinishedAt.IsZero() {
		return s + " · " + string(a.Status) + " so far"
	}
	s += " · ended " + string(a.Status)
	if a.Step != "" && a.Status != store.Succeeded {
		s += " at step " + a.Step
	}
	if a.Class != 0 {
		s += " (" + a.Class.String() + ")"
	}
	return s + " after " + Dur(a.FinishedAt.Sub(a.StartedAt))
}
