package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/plumb-dev/plumb/internal/runtext"
)

// Times are shown in UTC, to the second (runtext.Time): logs, traces
// and colleagues in other time zones then agree on what happened when.
const timeLayout = runtext.TimeLayout

func fmtTime(t time.Time) string { return runtext.Time(t) }

// fmtDur prints a duration the way a person reads it (runtext.Dur):
// "0s", "850ms", "1.2s", "3m04s", "2h05m", "3d04h".
func fmtDur(d time.Duration) string { return runtext.Dur(d) }

// ago is how long before now t was.
func ago(now, t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return fmtDur(now.Sub(t).Truncate(time.Second)) + " ago"
}

// fmtSize prints a byte count.
func fmtSize(n int) string {
	switch {
	case n < 1000:
		return fmt.Sprintf("%d bytes", n)
	case n < 1_000_000:
		return fmt.Sprintf("%.1f KB", float64(n)/1000)
	}
	return fmt.Sprintf("%.1f MB", float64(n)/1_000_000)
}

// limits bound what a terminal shows of a payload or a model's answer; a
// longer one is cut with a note of its full size. --full lifts them.
type limits struct {
	lines, bytes int
}

var (
	payloadLimits = limits{lines: 30, bytes: 3000}
	rawLimits     = limits{lines: 15, bytes: 1500}
	noLimits      = limits{}
)

// prettyJSON indents a JSON payload, keeping its keys in their order;
// text that is not JSON is shown as is.
func prettyJSON(raw []byte) string {
	var b bytes.Buffer
	if err := json.Indent(&b, raw, "", "  "); err != nil {
		return string(raw)
	}
	return unescapeHTML(b.String())
}

// unescapeHTML undoes encoding/json's escaping of <, > and & inside
// strings, so that "Ada <ada@example.com>" reads as it was typed. It steps
// over every escape sequence whole, so an escaped backslash followed by
// "u003c" stays as it is.
func unescapeHTML(s string) string {
	if !strings.Contains(s, `\u00`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '\\' || i+1 >= len(s) {
			b.WriteByte(s[i])
			continue
		}
		if s[i+1] == 'u' && i+6 <= len(s) {
			switch s[i+2 : i+6] {
			case "003c":
				b.WriteByte('<')
				i += 5
				continue
			case "003e":
				b.WriteByte('>')
				i += 5
				continue
			case "0026":
				b.WriteByte('&')
				i += 5
				continue
			}
		}
		b.WriteString(s[i : i+2])
		i++
	}
	return b.String()
}

// block prints text indented under a label, cut to the limits with a note
// of the full size, so that one huge payload does not scroll the rest of
// the run out of sight.
func block(w *strings.Builder, indent, text string, lim limits) {
	text = strings.TrimRight(text, "\n")
	full := len(text)
	lines := strings.Split(text, "\n")
	cut := false
	if lim.lines > 0 && len(lines) > lim.lines {
		lines, cut = lines[:lim.lines], true
	}
	if lim.bytes > 0 {
		n := 0
		for i, l := range lines {
			if n+len(l) > lim.bytes {
				lines[i] = clip(l, max(lim.bytes-n, 20))
				lines, cut = lines[:i+1], true
				break
			}
			n += len(l) + 1
		}
	}
	for _, l := range lines {
		w.WriteString(indent)
		w.WriteString(l)
		w.WriteByte('\n')
	}
	if cut {
		fmt.Fprintf(w, "%s… (cut; %s in all, %d lines; --full shows everything)\n", indent, fmtSize(full), strings.Count(text, "\n")+1)
	}
}

// clip shortens s to at most n bytes, on a rune boundary, marking the cut.
func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	i := n - len("…")
	for i > 0 && !utf8.RuneStart(s[i]) {
		i--
	}
	return s[:max(i, 0)] + "…"
}

// oneLine flattens s for a table cell, its control characters escaped.
func oneLine(s string, n int) string {
	s = strings.Join(strings.Fields(s), " ")
	return clip(escapeControl(s), n)
}

// escapeControl writes the control characters of text a run recorded (an
// error, a name) as Go escapes, so that none reaches the terminal raw: an
// ESC in an error message could otherwise recolour, move or hide what
// follows. Newlines and tabs stay; invalid UTF-8 is shown as \x escapes.
func escapeControl(s string) string {
	if !strings.ContainsFunc(s, isControl) && utf8.ValidString(s) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			fmt.Fprintf(&b, `\x%02x`, s[i])
		case isControl(r):
			q := strconv.QuoteRune(r)
			b.WriteString(q[1 : len(q)-1])
		default:
			b.WriteString(s[i : i+size])
		}
		i += size
	}
	return b.String()
}

func isControl(r rune) bool { return r != '\n' && r != '\t' && unicode.IsControl(r) }

// stepErrorPrefix is how a step's error begins: `step "parse" failed
// (permanent) after 1 attempt: permanent: `. Tables show the step and the
// class in columns of their own, so the cell keeps what follows.
var stepErrorPrefix = regexp.MustCompile(`^step "[^"]*" failed \([a-z_]+\) after \d+ attempts?: (?:(?:transient|permanent|contract|needs_review|cancelled|budget|refusal): )?`)

// shortError is a run's error for a table cell or a group's sample.
func shortError(s string) string {
	return stepErrorPrefix.ReplaceAllString(s, "")
}

// plural returns "1 run", "2 runs".
func plural(n int, one, many string) string {
	if n == 1 {
		return fmt.Sprintf("%d %s", n, one)
	}
	return fmt.Sprintf("%d %s", n, many)
}
