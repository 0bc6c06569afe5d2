package contract

import (
	"cmp"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/plumb-dev/plumb/retry"
)

// Violation is one way a value breaks its contract.
type Violation struct {
	// Path is a JSON pointer to the offending value, "" for the root,
	// e.g. "/contacts/0/email".
	Path string `json:"path"`
	// Keyword names the broken rule: a JSON Schema keyword ("required",
	// "type", "enum", "pattern", "format", "minLength", "maximum",
	// "additionalProperties", ...), "validate" for an error from a Validate
	// method, "syntax" for text that is not JSON, "ambiguous" for an answer
	// with two different readings (see AmbiguousError), "marshal" for a Go value
	// encoding/json refuses to encode and "unmarshal" for JSON that cannot be
	// decoded into the Go type.
	Keyword string `json:"keyword"`
	// Message says what is wrong in words meant for a person and for a model
	// being re-asked, e.g. `"Hot" is not one of "new", "warm", "hot"`.
	Message string `json:"message"`
	// Value is the offending value as JSON, truncated to about 80 characters.
	Value string `json:"value,omitempty"`
}

// ValidationError lists the violations of a contract. It is the typed error
// of the contract failure class: errors.Is(err, retry.ErrContract) holds.
//
// It is bounded, because it travels into re-ask prompts, attempt records
// and the review inbox: it keeps the first MaxViolations violations in
// path order, each message cut to a readable length, and counts the rest
// in Total. The verdict is exact either way; only the listing is bounded.
type ValidationError struct {
	// Type is the contract's name, usually the Go type's name.
	Type string `json:"type"`
	// Violations lists the violations, sorted by path then keyword: every
	// one, or the first MaxViolations when there were more.
	Violations []Violation `json:"violations"`
	// Total counts every violation found when Violations left some out;
	// it is zero when Violations lists them all. Count reads it either way.
	Total int `json:"total,omitempty"`
	// Err is the first error a Validate method returned, or the
	// *AmbiguousError of an ambiguous answer, so that errors.As reaches it.
	Err error `json:"-"`
}

// MaxViolations bounds the violations a ValidationError built by this
// package keeps: a hundred say what is wrong with an answer as well as
// two hundred thousand do.
const MaxViolations = 100

// maxListedViolations bounds the violations Error lists; the rest are
// counted.
const maxListedViolations = 20

// Count returns how many violations were found, whether or not Violations
// lists them all.
func (e *ValidationError) Count() int { return max(e.Total, len(e.Violations)) }

// Omitted returns how many violations were found but are not in
// Violations.
func (e *ValidationError) Omitted() int { return e.Count() - len(e.Violations) }

// Error reads well to a person and to a model. It lists the first twenty
// violations and counts the rest:
//
//	contract violated: Lead: 2 violations:
//	- /email: "bob" is not a valid email: missing @
//	- /stage: "Hot" is not one of "new", "warm", "hot"
func (e *ValidationError) Error() string {
	var b strings.Builder
	b.WriteString("contract violated: ")
	if e.Type != "" {
		b.WriteString(e.Type)
		b.WriteString(": ")
	}
	n := e.Count()
	switch n {
	case 0:
		if e.Err != nil {
			b.WriteString(e.Err.Error())
		} else {
			b.WriteString("no violations recorded")
		}
		return b.String()
	case 1:
		b.WriteString("1 violation:")
	default:
		b.WriteString(countText(n))
		b.WriteString(" violations:")
	}
	listed := e.Violations[:min(len(e.Violations), maxListedViolations)]
	for _, v := range listed {
		b.WriteString("\n- ")
		b.WriteString(displayPath(v.Path))
		b.WriteString(": ")
		b.WriteString(v.Message)
	}
	if rest := n - len(listed); rest > 0 {
		b.WriteString("\n- … and ")
		b.WriteString(countText(rest))
		b.WriteString(" more")
	}
	return b.String()
}

// Is reports whether target is retry.ErrContract, so that retry.Classify
// sends a broken contract down the re-ask and repair path.
func (e *ValidationError) Is(target error) bool { return target == retry.ErrContract }

// Unwrap returns the error a Validate method returned, if any.
func (e *ValidationError) Unwrap() error { return e.Err }

// displayPath shows the root pointer, which is the empty string, as "(root)"
// so that a reader sees where the problem is.
func displayPath(p string) string {
	if p == "" {
		return "(root)"
	}
	return p
}

// sortViolations orders violations by path (numeric tokens compared as
// numbers, so /items/2 comes before /items/10), then keyword, then message.
func sortViolations(vs []Violation) {
	slices.SortStableFunc(vs, func(a, b Violation) int {
		if c := comparePointers(a.Path, b.Path); c != 0 {
			return c
		}
		if c := cmp.Compare(a.Keyword, b.Keyword); c != 0 {
			return c
		}
		return cmp.Compare(a.Message, b.Message)
	})
}

func comparePointers(a, b string) int {
	for a != "" && b != "" {
		var ta, tb string
		ta, a = nextToken(a)
		tb, b = nextToken(b)
		if c := compareTokens(ta, tb); c != 0 {
			return c
		}
	}
	return cmp.Compare(len(a), len(b))
}

// nextToken splits "/a/b" into "a" and "/b".
func nextToken(p string) (tok, rest string) {
	p = p[1:]
	if i := strings.IndexByte(p, '/'); i >= 0 {
		return p[:i], p[i:]
	}
	return p, ""
}

func compareTokens(a, b string) int {
	na, aNum := isIndex(a)
	nb, bNum := isIndex(b)
	switch {
	case aNum && bNum:
		return cmp.Compare(na, nb)
	case aNum:
		return -1
	case bNum:
		return 1
	}
	return cmp.Compare(a, b)
}

func isIndex(s string) (int, bool) {
	if s == "" || len(s) > 9 || (len(s) > 1 && s[0] == '0') {
		return 0, false
	}
	n := 0
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, false
		}
		n = n*10 + int(s[i]-'0')
	}
	return n, true
}

// escapeToken escapes a property name for a JSON pointer (RFC 6901).
func escapeToken(s string) string {
	if !strings.ContainsAny(s, "~/") {
		return s
	}
	return strings.NewReplacer("~", "~0", "/", "~1").Replace(s)
}

// pointer builds a JSON pointer from unescaped tokens.
func pointer(tokens []string) string {
	var b strings.Builder
	for _, t := range tokens {
		b.WriteByte('/')
		b.WriteString(escapeToken(t))
	}
	return b.String()
}

// maxValueRunes bounds Violation.Value: enough to recognise a value, short
// enough that a list of violations stays readable in a prompt.
const maxValueRunes = 80

// maxMessageRunes bounds Violation.Message: a Validate method's error or a
// syntax error quoting the answer may be as long as the answer.
const maxMessageRunes = 500

// truncate shortens s to about maxValueRunes characters without splitting a
// character, marking the cut with an ellipsis.
func truncate(s string) string { return truncateRunes(s, maxValueRunes) }

// truncateRunes shortens s to n characters, the last an ellipsis, when it
// is longer.
func truncateRunes(s string, n int) string {
	if len(s) <= n || utf8.RuneCountInString(s) <= n {
		return s
	}
	k := 0
	for i := range s {
		if k == n-1 {
			return s[:i] + "…"
		}
		k++
	}
	return s
}

// countText writes a count with thousands separators: 999,980.
func countText(n int) string {
	s := strconv.Itoa(n)
	if n < 0 {
		return s
	}
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}

// syntaxError is the ValidationError for text that holds no usable JSON.
func syntaxError(name, msg string) *ValidationError {
	return &ValidationError{Type: name, Violations: []Violation{{Keyword: "syntax", Message: truncateRunes(msg, maxMessageRunes)}}}
}

// newValidationError sorts vs and wraps them, bounded: the first
// MaxViolations, messages cut, with omitted more counted (violations a
// Validate method's own ValidationError left out). Nil when there are none.
func newValidationError(name string, vs []Violation, first error, omitted int) error {
	if len(vs) == 0 {
		return nil
	}
	sortViolations(vs)
	total := len(vs) + omitted
	if len(vs) > MaxViolations {
		vs = slices.Clone(vs[:MaxViolations]) // let the long list go
	}
	for i := range vs {
		vs[i].Message = truncateRunes(vs[i].Message, maxMessageRunes)
	}
	ve := &ValidationError{Type: name, Violations: vs, Err: first}
	if total > len(vs) {
		ve.Total = total
	}
	return ve
}

// asValidationError finds a *ValidationError in err's chain.
func asValidationError(err error) (*ValidationError, bool) {
	var ve *ValidationError
	ok := errors.As(err, &ve)
	return ve, ok
}

// panicError is what a panicking Validate, IsZero or MarshalJSON method
// becomes: the library never lets a user's panic escape a check. A
// Validate panic is also ValidationError.Err, whose Stack method has the
// goroutine's stack at the panic.
type panicError struct {
	where string
	value any
	stack []byte
}

func (e *panicError) Error() string {
	return fmt.Sprintf("panic in %s: %v", e.where, e.value)
}

// Stack returns the stack trace captured when the panic was recovered.
func (e *panicError) Stack() []byte { return e.stack }
