package notify

import (
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// title names a kind for people, in lower case as a log message is.
func title(k Kind) string {
	switch k {
	case DeadLettered:
		return "run dead-lettered"
	case ReviewNeeded:
		return "review needed"
	case ReviewOverdue:
		return "review overdue"
	case Paused:
		return "pipeline paused"
	case Resumed:
		return "pipeline resumed"
	case BudgetExceeded:
		return "budget exceeded"
	case SinkFailed:
		return "dead-letter sink failed"
	case Silent:
		return "pipeline silent"
	case Cancelled:
		return "run cancelled"
	case Held:
		return "run held"
	}
	if k == "" {
		return "event"
	}
	return strings.ReplaceAll(string(k), "_", " ")
}

// Summary returns a readable one-line summary of e, for chat messages, e-mail
// subjects and pager titles, e.g.
//
//	Run dead-lettered in leads at step enrich (contract)
//	Run dead-lettered ×499 in leads at step enrich (contract)
func Summary(e Event) string {
	var b strings.Builder
	t := title(e.Kind)
	r, n := utf8.DecodeRuneInString(t)
	b.WriteRune(unicode.ToUpper(r))
	b.WriteString(t[n:])
	if e.Count > 1 {
		b.WriteString(" ×")
		b.WriteString(strconv.Itoa(e.Count))
	}
	if e.Pipeline != "" {
		b.WriteString(" in ")
		b.WriteString(e.Pipeline)
	}
	if e.Step != "" {
		b.WriteString(" at step ")
		b.WriteString(e.Step)
	}
	if e.Class != "" {
		b.WriteString(" (")
		b.WriteString(e.Class)
		b.WriteString(")")
	}
	return oneLine(b.String())
}

// oneLine folds line breaks so a summary built from user strings stays one
// line in a log or a chat preview.
func oneLine(s string) string {
	if !strings.ContainsAny(s, "\r\n") {
		return s
	}
	return strings.Join(strings.Fields(s), " ")
}

// humanDuration prints d for people: whole seconds, without the zero units
// time.Duration.String leaves in ("2h" rather than "2h0m0s").
func humanDuration(d time.Duration) string {
	if d < time.Second {
		return d.String()
	}
	s := d.Round(time.Second).String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

// truncate cuts s to at most n runes, marking the cut.
func truncate(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	i := 0
	for j := range s {
		if i == n-1 {
			return s[:j] + "…"
		}
		i++
	}
	return s
}
