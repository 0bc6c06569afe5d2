package console

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"html/template"
	"strings"
	"time"
)

// Text from users and models is escaped by html/template and isolated in
// <bdi>, with the explicit directional controls shown by name rather than
// applied, so that a reason of "\u202egnp.exe" cannot read "exe.png".

func isBidiControl(r rune) bool {
	return r >= '\u202a' && r <= '\u202e' || r >= '\u2066' && r <= '\u2069'
}

// isolate is the template function "iso".
func isolate(s string) template.HTML {
	var b strings.Builder
	b.WriteString("<bdi>")
	for {
		i := strings.IndexFunc(s, isBidiControl)
		if i < 0 {
			break
		}
		r := []rune(s[i : i+3])[0]
		b.WriteString(template.HTMLEscapeString(s[:i]))
		fmt.Fprintf(&b, `<abbr class="ctl" title="a bidirectional control character, shown instead of applied">U+%04X</abbr>`, r)
		s = s[i+3:]
	}
	b.WriteString(template.HTMLEscapeString(s))
	b.WriteString("</bdi>")
	return template.HTML(b.String())
}

// escapeBidiJSON writes directional controls in JSON as \u escapes, which
// mean the same value.
func escapeBidiJSON(s string) string {
	if !strings.ContainsFunc(s, isBidiControl) {
		return s
	}
	var b strings.Builder
	for _, r := range s {
		if isBidiControl(r) {
			fmt.Fprintf(&b, `\u%04x`, r)
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}

// pretty indents a JSON payload for reading; anything else is returned as
// it is.
func pretty(raw []byte) string {
	var b bytes.Buffer
	if json.Indent(&b, raw, "", "  ") != nil {
		return escapeBidiJSON(string(raw))
	}
	return escapeBidiJSON(b.String())
}

func fmtTime(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.UTC().Format("2006-01-02 15:04:05 UTC")
}

func fmtDur(d time.Duration) string {
	switch {
	case d <= 0:
		return "0s"
	case d < time.Millisecond:
		return "<1ms"
	case d < time.Second:
		return d.Round(time.Millisecond).String()
	case d < time.Minute:
		return d.Round(100 * time.Millisecond).String()
	}
	return d.Round(time.Second).String()
}

func plural(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return fmt.Sprintf("%d %s", n, many)
}

func decodeFlash(s string) string {
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil || len(b) > 1000 {
		return ""
	}
	return string(b)
}
