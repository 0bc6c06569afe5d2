package contract

import (
	"cmp"
	"errors"
	"fmt"
	"slices"
	"strings"
	"unicode/utf8"
)

// Extract finds the JSON in a model's answer and returns it as strict JSON,
// with a note for each repair it made. It takes the complete JSON object or
// array the answer holds, looking first inside markdown code fences
// labelled json, then in bare fences, then in other fences, then in the
// whole text, so prose before and after is ignored.
//
// It never guesses between readings: when the answer holds two or more
// complete values that differ once decoded (in its prose, or in fences of
// the same kind), or an object has a key twice with different values, at
// any depth, the error is an *AmbiguousError. Repeats of the same value
// are accepted. Repairs are lossless
// token fixes outside the data: trailing commas, comments, Python's True,
// False and None, single-quoted strings, unquoted keys and raw control
// characters inside strings. It never adds, drops or converts a value.
//
// When there is no usable JSON the error says why, precisely enough to
// show a person or to re-ask a model: the answer is empty, it ends
// mid-object (the output was probably cut off), it has no JSON at all, or
// the JSON is broken at a given byte offset. Extract runs in time linear in
// the text and never panics.
func Extract(text string) (json []byte, repairs []string, err error) {
	return extract(text, 0)
}

// maxNesting bounds recursion on hostile input; real answers nest a few
// levels.
const maxNesting = 512

type region struct {
	start, end int
	fenced     bool
	closed     bool // the fence has its closing ```
	rank       rank
}

// rank orders where the answer's JSON is looked for; only regions of the
// rank where it was found hold other readings of it.
type rank uint8

const (
	rankJSONFence  rank = iota // ```json
	rankBareFence              // ``` with no info string
	rankOtherFence             // ```python and the like: likely code
	rankText                   // the whole answer
)

// found is a complete value read from the answer.
type found struct {
	out     []byte
	repairs []string
	at, end int     // where it starts and ends in the answer
	dup     *dupKey // a key it has twice with different values
}

// extract looks for a value starting with want ('{' or '['), or for any
// value when want is 0.
func extract(text string, want byte) ([]byte, []string, error) {
	if strings.TrimSpace(text) == "" {
		return nil, nil, errors.New("the answer is empty")
	}
	var truncated, broken error
	wrongKind := -1
	regions := append(fences(text), region{start: 0, end: len(text), rank: rankText})
	for i, r := range regions {
		f, wrong, err := scanRegion(text, r, want, r.start)
		if wrongKind < 0 {
			wrongKind = wrong
		}
		if err == nil {
			if err := ambiguity(text, regions[i:], want, f); err != nil {
				return nil, nil, err
			}
			repairs := f.repairs
			if r.fenced {
				repairs = append([]string{"took the JSON from a markdown code fence"}, repairs...)
			}
			return f.out, repairs, nil
		}
		var pe *parseError
		if errors.As(err, &pe) {
			switch {
			case pe.fatal:
				return nil, nil, err
			case pe.eof && truncated == nil:
				truncated = err
			case !pe.eof && pe.evidence > 0 && broken == nil:
				broken = err
			}
		}
	}
	switch {
	case truncated != nil:
		return nil, nil, truncated
	case broken != nil:
		return nil, nil, broken
	}
	what, other := "JSON object", "an array"
	switch want {
	case '[':
		what, other = "JSON array", "an object"
	case 0:
		what = "JSON object or array"
	}
	if wrongKind >= 0 {
		return nil, nil, fmt.Errorf("no %s found in the answer: the JSON at offset %d is %s", what, wrongKind, other)
	}
	return nil, nil, fmt.Errorf("no %s found in the answer (it starts with: %q)", what, preview(text))
}

func preview(text string) string {
	s := strings.Join(strings.Fields(text), " ")
	if utf8.RuneCountInString(s) <= 60 {
		return s
	}
	n := 0
	for i := range s {
		if n == 57 {
			return s[:i] + "..."
		}
		n++
	}
	return s
}

// fences returns the bodies of markdown code fences, in order. An
// unclosed fence runs to the end of the text, as a cut-off answer's would.
func fences(text string) []region {
	var rs []region
	for pos := 0; len(rs) < 16; {
		i := strings.Index(text[pos:], "```")
		if i < 0 {
			break
		}
		open := pos + i + 3
		body := open
		if nl := strings.IndexByte(text[open:], '\n'); nl >= 0 && !strings.Contains(text[open:open+nl], "```") {
			body = open + nl + 1 // skip the info string ("json")
		}
		info := strings.ToLower(strings.TrimSpace(text[open:body]))
		rk := rankOtherFence
		switch {
		case strings.HasPrefix(info, "json"):
			rk = rankJSONFence
		case info == "":
			rk = rankBareFence
		}
		end := strings.Index(text[body:], "```")
		if end < 0 {
			rs = append(rs, region{start: body, end: len(text), fenced: true, rank: rk})
			break
		}
		rs = append(rs, region{start: body, end: body + end, fenced: true, closed: true, rank: rk})
		pos = body + end + 3
	}
	// Fences labelled json first, then bare ones: an answer may show code
	// before its JSON.
	slices.SortStableFunc(rs, func(a, b region) int { return cmp.Compare(a.rank, b.rank) })
	return rs
}

// scanRegion tries candidate starts left to right. A failed attempt
// resumes the scan where it failed, never inside what it consumed, which
// keeps the whole search linear. A complete value of the other kind is
// skipped whole: the object inside an array is not the answer's top level.
// wrong is the offset of the first such value, or -1.
//
// from is where to start: r.start, or the end of a value found before when
// looking for other readings of the answer.
func scanRegion(text string, r region, want byte, from int) (f found, wrong int, err error) {
	var firstErr error
	wrong = -1
	pos := from
	for pos < r.end {
		i := pos
		for i < r.end && text[i] != '{' && text[i] != '[' {
			i++
		}
		if i >= r.end {
			break
		}
		p := &parser{src: text[:r.end], pos: i, region: r}
		err := p.value(0)
		switch {
		case err == nil && (want == 0 || text[i] == want):
			repairs := p.repairList()
			if strings.TrimSpace(text[r.start:i]) != "" || strings.TrimSpace(text[p.pos:r.end]) != "" {
				repairs = append([]string{"ignored text around the JSON"}, repairs...)
			}
			return found{out: p.out, repairs: repairs, at: i, end: p.pos, dup: p.dup}, wrong, nil
		case err == nil:
			if wrong < 0 {
				wrong = i
			}
		case err.(*parseError).fatal:
			return found{}, wrong, err
		case firstErr == nil || err.(*parseError).eof:
			firstErr = err
		}
		next := max(p.pos, i+1)
		if err != nil && err.(*parseError).evidence > 0 {
			// It was JSON, only broken: resume after it, so that a value
			// nested inside it is not mistaken for the answer.
			next = max(next, closingEnd(text[:r.end], i))
		}
		pos = next
	}
	if want == 0 && firstErr == nil && from == r.start {
		// A scalar answer: the whole region must be one value.
		trimmed := strings.TrimSpace(text[r.start:r.end])
		if trimmed != "" {
			start := r.start + strings.Index(text[r.start:r.end], trimmed)
			p := &parser{src: text[:start+len(trimmed)], pos: start, region: r}
			if err := p.value(0); err == nil && p.pos == len(p.src) {
				return found{out: p.out, repairs: p.repairList(), at: start, end: p.pos}, wrong, nil
			}
		}
	}
	if firstErr == nil {
		firstErr = &parseError{msg: "no JSON found"}
	}
	return found{}, wrong, firstErr
}

type parseError struct {
	msg      string // the whole message, or "" to build it from:
	pos      int
	format   string
	args     []any
	eof      bool
	fatal    bool // nesting too deep: stop looking
	evidence int  // keys and elements read before failing: JSON, not prose
}

func (e *parseError) Error() string {
	if e.msg != "" {
		return e.msg
	}
	return fmt.Sprintf("invalid JSON at offset %d: ", e.pos) + fmt.Sprintf(e.format, e.args...)
}

// closingEnd returns the offset just after the bracket that closes the one
// at start, counting brackets outside double-quoted strings, or len(s).
func closingEnd(s string, start int) int {
	depth, inStr := 0, false
	for i := start; i < len(s); i++ {
		c := s[i]
		switch {
		case inStr && c == '\\':
			i++
		case c == '"':
			inStr = !inStr
		case inStr:
		case c == '{' || c == '[':
			depth++
		case c == '}' || c == ']':
			depth--
			if depth == 0 {
				return i + 1
			}
		}
	}
	return len(s)
}
