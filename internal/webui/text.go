package webui

import (
	"fmt"
	"html/template"
	"strings"
)

// Text from users and models (reasons, names, errors, payloads) is shown
// so that it cannot rearrange the page around it, nor itself: a reason of
// "\u202egnp.exe" must not read "exe.png". Two measures, because either
// alone falls short:
//
//   - every such string is wrapped in <bdi>, which isolates its direction
//     from the text around it (an Arabic step name does not flip the
//     column next to it);
//   - the explicit directional formatting characters (embeddings,
//     overrides, isolates and their terminators, the ones "Trojan Source"
//     attacks use) are shown by name instead of applied, since an
//     override inside an isolate still reverses the rest of the isolate.
//     In JSON they are written as \u escapes, which mean the same value.
//
// Marks (LRM, RLM, ALM) stay as they are: right-to-left text needs them,
// and they cannot reverse a run of letters.

// IsBidiControl reports the explicit directional formatting characters.
func IsBidiControl(r rune) bool {
	return r >= '\u202a' && r <= '\u202e' || r >= '\u2066' && r <= '\u2069'
}

// Isolate is the template function "iso": s escaped, isolated, with its
// directional controls shown by name.
func Isolate(s string) template.HTML {
	var b strings.Builder
	b.WriteString("<bdi>")
	for {
		i := strings.IndexFunc(s, IsBidiControl)
		if i < 0 {
			break
		}
		r := []rune(s[i : i+3])[0] // every control is 3 bytes in UTF-8
		b.WriteString(template.HTMLEscapeString(s[:i]))
		fmt.Fprintf(&b, `<abbr class="ctl" title="a bidirectional control character, shown instead of applied">U+%04X</abbr>`, r)
		s = s[i+3:]
	}
	b.WriteString(template.HTMLEscapeString(s))
	b.WriteString("</bdi>")
	return template.HTML(b.String())
}

// EscapeBidiJSON writes the directional controls in JSON text as \u
// escapes. In valid JSON they can only stand inside strings, where the
// escape means the same character, so the document keeps its value.
func EscapeBidiJSON(s string) string {
	if !strings.ContainsFunc(s, IsBidiControl) {
		return s
	}
	var b strings.Builder
	for _, r := range s {
		if IsBidiControl(r) {
			fmt.Fprintf(&b, `\u%04x`, r)
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}

// DropBidi removes the directional controls (for strings.Map): for text
// put where no markup can name them, such as an input's value.
func DropBidi(r rune) rune {
	if IsBidiControl(r) {
		return -1
	}
	return r
}
