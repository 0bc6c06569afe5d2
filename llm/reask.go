package llm

import (
	"errors"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/plumb-dev/plumb/contract"
)

// The re-ask prompt is bounded whatever the answer held: a model fixes an
// answer from its first violations as well as from all of them, and a
// prompt the size of a 16 MB answer's violations would cost more than the
// answer and could not be sent.
const (
	// reaskViolations is how many violations a re-ask lists; the rest are
	// counted.
	reaskViolations = 20
	// reaskLineBytes bounds one listed violation, path and message.
	reaskLineBytes = 400
	// reaskListBytes bounds the whole list: under 8 KB with the framing.
	reaskListBytes = 7 << 10
	// echoBytes bounds the model's own answer as the re-ask sends it back:
	// the violations say what to fix, and sending a runaway 16 MB answer
	// back whole would cost more than the answer did (or exceed the
	// context window). The record keeps the whole answer either way.
	echoBytes = 32 << 10
)

// echoed is the answer as a re-ask repeats it to the model: whole when it
// is short, else its start and how much was left out.
func echoed(answer string) string {
	if len(answer) <= echoBytes {
		return answer
	}
	cut := echoBytes
	for cut > 0 && !utf8.RuneStart(answer[cut]) {
		cut--
	}
	return answer[:cut] + "\n… [the rest of this answer, " + strconv.Itoa(len(answer)-cut) + " bytes, is left out]"
}

// reaskMessage tells the model what was wrong with its answer, precisely
// enough to fix it, in a few kilobytes at most.
func reaskMessage(err error) string {
	var b strings.Builder
	if errors.Is(err, ErrTruncated) {
		b.WriteString("Your answer was cut off at the token limit before the JSON document ended. ")
		b.WriteString("Answer again with the complete JSON document only, as briefly as the schema allows.")
		return b.String()
	}
	var ae *contract.AmbiguousError
	if errors.As(err, &ae) {
		// Not a schema problem: the model said two things, and which one it
		// meant is for it to say.
		b.WriteString("Your answer is ambiguous: ")
		b.WriteString(cutLine(ae.Error()))
		b.WriteString(".\nAnswer again with exactly one JSON document, each key written once, and add no commentary.")
		return b.String()
	}
	b.WriteString("Your answer does not match the required JSON schema.\n")
	var ve *contract.ValidationError
	if errors.As(err, &ve) {
		listed := 0
		for _, v := range ve.Violations[:min(len(ve.Violations), reaskViolations)] {
			path := v.Path
			if path == "" {
				path = "(the whole answer)"
			}
			line := cutLine("- " + path + ": " + v.Message)
			if b.Len()+len(line) > reaskListBytes {
				break
			}
			b.WriteString(line)
			b.WriteByte('\n')
			listed++
		}
		if rest := ve.Count() - listed; rest > 0 {
			b.WriteString("- … and " + countText(rest) + " more violations\n")
		}
	} else {
		b.WriteString(cutLine("- " + err.Error()))
		b.WriteByte('\n')
	}
	b.WriteString("Answer again with only the corrected JSON document: fix every problem listed, change nothing else, and add no commentary.")
	return b.String()
}

// cutLine shortens a line to about reaskLineBytes by cutting its middle,
// so that both its path and the end of its message stay ("… and 999,980
// more are not allowed"); it never splits a character.
func cutLine(s string) string {
	if len(s) <= reaskLineBytes {
		return s
	}
	const tail = 80
	head := reaskLineBytes - tail - len(" … ")
	for head > 0 && !utf8.RuneStart(s[head]) {
		head--
	}
	from := len(s) - tail
	for from < len(s) && !utf8.RuneStart(s[from]) {
		from++
	}
	return s[:head] + " … " + s[from:]
}

// countText writes a count with thousands separators, as the contract's
// messages do: 199,980.
func countText(n int) string {
	s := strconv.Itoa(max(n, 0))
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}
