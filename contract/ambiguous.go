package contract

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"unicode/utf8"

	"github.com/plumb-dev/plumb/retry"
)

// ErrAmbiguous is the sentinel of an ambiguous answer: errors.Is(err,
// ErrAmbiguous) holds for an *AmbiguousError, and for the ValidationError
// Decode makes of one.
var ErrAmbiguous = errors.New("ambiguous answer")

// Ambiguity says how an answer is ambiguous.
type Ambiguity uint8

const (
	// SeveralValues: the answer holds two or more complete JSON values
	// that differ once decoded, such as two objects in prose or in two
	// code fences.
	SeveralValues Ambiguity = iota + 1
	// DuplicateKey: an object has a key twice with different values.
	DuplicateKey
)

// AmbiguousError is what Extract returns for an answer it could only read
// by guessing which of its readings was meant. Such an answer is a
// contract failure (errors.Is(err, retry.ErrContract) holds), re-asked
// like any other, never resolved by taking the first reading. Repeats are
// no ambiguity: values, or a key's values, equal once decoded (key order,
// whitespace, repairs and string escapes aside; numbers are compared as
// written, so 1 and 1.0 differ) are accepted.
type AmbiguousError struct {
	Kind Ambiguity
	// Values counts the different values of a SeveralValues answer.
	Values int
	// Offsets are byte offsets in the answer: where the first two
	// different values start, or the two occurrences of a duplicate key.
	Offsets []int
	// Path is the JSON pointer of a duplicate key, e.g. "/contact/name".
	Path string

	noun string    // "objects", "arrays" or "values"
	key  string    // the duplicate key, decoded
	vals [2]string // its first two different values, rendered
}

// Error says what the answer held and that exactly one reading is wanted.
func (e *AmbiguousError) Error() string {
	if e.Kind == DuplicateKey {
		return e.keyMessage(" at " + displayPath(e.Path))
	}
	return e.message()
}

// message is the violation message: the violation carries the path.
func (e *AmbiguousError) message() string {
	if e.Kind == DuplicateKey {
		return e.keyMessage("")
	}
	at := ""
	if len(e.Offsets) == 2 {
		at = fmt.Sprintf(" (at offsets %d and %d)", e.Offsets[0], e.Offsets[1])
	}
	return "the answer holds " + countText(e.Values) + " different JSON " + e.noun + at + "; exactly one is wanted"
}

func (e *AmbiguousError) keyMessage(where string) string {
	return "the key " + strconv.Quote(truncateRunes(e.key, maxItemRunes)) + where +
		" appears more than once with different values (" + e.vals[0] + " and " + e.vals[1] + "); exactly one is wanted"
}

// Is matches ErrAmbiguous and retry.ErrContract: an ambiguous answer is
// re-asked.
func (e *AmbiguousError) Is(target error) bool {
	return target == ErrAmbiguous || target == retry.ErrContract
}

// validationError is the ValidationError Decode returns for an ambiguous
// answer: one violation of keyword "ambiguous".
func (e *AmbiguousError) validationError(name string) *ValidationError {
	return &ValidationError{Type: name, Err: e, Violations: []Violation{{Path: e.Path, Keyword: "ambiguous",
		Message: truncateRunes(e.message(), maxMessageRunes)}}}
}

// ambiguity looks for other readings of the answer than first, the first
// value found in regions[0]: further values in the same region and in the
// regions of the same rank (the other JSON fences when the first was one).
// Values that are the same once decoded are one reading.
func ambiguity(text string, regions []region, want byte, first found) error {
	if first.dup != nil {
		return first.dup.err(first.out)
	}
	var distinct map[string]bool
	offsets := []int{first.at}
	for j, r := range regions {
		if r.rank != regions[0].rank {
			continue
		}
		from := r.start
		if j == 0 {
			from = first.end
		}
		for from < r.end {
			f, _, err := scanRegion(text, r, want, from)
			if err != nil {
				break
			}
			if f.dup != nil {
				return f.dup.err(f.out)
			}
			if !bytes.Equal(f.out, first.out) {
				if distinct == nil {
					distinct = map[string]bool{canonicalJSON(first.out): true}
				}
				if c := canonicalJSON(f.out); !distinct[c] {
					distinct[c] = true
					if len(offsets) < 2 {
						offsets = append(offsets, f.at)
					}
				}
			}
			from = f.end
		}
	}
	if len(distinct) < 2 {
		return nil
	}
	noun := "values"
	switch want {
	case '{':
		noun = "objects"
	case '[':
		noun = "arrays"
	}
	return &AmbiguousError{Kind: SeveralValues, Values: len(distinct), Offsets: offsets, noun: noun}
}

// canonicalJSON renders strict JSON so that two texts of the same value
// render the same: keys sorted, whitespace and escapes normalised, numbers
// as written.
func canonicalJSON(raw []byte) string {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var v any
	if dec.Decode(&v) != nil {
		return string(raw)
	}
	out, err := json.Marshal(v)
	if err != nil {
		return string(raw)
	}
	return string(out)
}

// dupKey is the first key an object has twice with different values.
type dupKey struct {
	keyEnd int       // where the second occurrence ends in the parser's output
	at     [2]int    // both occurrences' offsets in the answer
	vals   [2]string // both values, rendered
}

func (d *dupKey) err(out []byte) *AmbiguousError {
	path, key := keyPointer(out, d.keyEnd)
	return &AmbiguousError{Kind: DuplicateKey, Path: path, Offsets: d.at[:], key: key, vals: d.vals}
}

// keyPointer returns the JSON pointer and the decoded text of the key that
// ends at keyEnd in compact JSON. It runs only for a duplicate key, so it
// takes the simple road of reading the tokens again.
func keyPointer(raw []byte, keyEnd int) (path, key string) {
	walkPointers(raw, func(here func() string, tok json.Token, isKey bool, end int64) bool {
		if isKey && end == int64(keyEnd) {
			path, key = here(), tok.(string)
			return true
		}
		return false
	})
	return path, key
}

// member is one member of an object being read, as offsets into the
// parser's output, so that keeping it costs no allocation.
type member struct {
	key   [2]int // the quoted key
	val   [2]int // its value
	at    int    // the key's offset in the answer
	plain bool   // the key has no escape and is valid UTF-8: its bytes are its text
}

// indexFrom is the number of members from which an object's keys are
// looked up in a map rather than compared one by one.
const indexFrom = 16

// keyText is the member's key, decoded.
func (p *parser) keyText(m member) string {
	if m.plain {
		return string(p.out[m.key[0]+1 : m.key[1]-1])
	}
	var s string
	if json.Unmarshal(p.out[m.key[0]:m.key[1]], &s) != nil {
		return string(p.out[m.key[0]:m.key[1]])
	}
	return s
}

func (p *parser) sameKey(a, b member) bool {
	if bytes.Equal(p.out[a.key[0]:a.key[1]], p.out[b.key[0]:b.key[1]]) {
		return true
	}
	return !(a.plain && b.plain) && p.keyText(a) == p.keyText(b)
}

// addMember records the member just read, checking it for a duplicate key.
func (p *parser) addMember(mark int, index *map[string]int, m member) {
	raw := p.out[m.key[0]+1 : m.key[1]-1]
	m.plain = bytes.IndexByte(raw, '\\') < 0 && utf8.Valid(raw)
	p.seen(mark, index, m)
	p.keys = append(p.keys, m)
}

// seen checks the member just read, m, against the earlier members of its
// object (p.keys[mark:]), and records the first key found twice with
// different values. index, built once the object is large, keeps the
// check linear.
func (p *parser) seen(mark int, index *map[string]int, m member) {
	if p.dup != nil {
		return
	}
	if *index == nil && len(p.keys)-mark < indexFrom {
		for _, o := range p.keys[mark:] {
			if p.sameKey(o, m) {
				p.compare(o, m)
				return
			}
		}
		return
	}
	if *index == nil {
		*index = make(map[string]int, 2*indexFrom)
		for j := mark; j < len(p.keys); j++ {
			(*index)[p.keyText(p.keys[j])] = j
		}
	}
	k := p.keyText(m)
	if j, ok := (*index)[k]; ok {
		p.compare(p.keys[j], m)
		return
	}
	(*index)[k] = len(p.keys)
}

// compare records a and b, members with the same key, as a duplicate when
// their values differ once decoded.
func (p *parser) compare(a, b member) {
	va, vb := p.out[a.val[0]:a.val[1]], p.out[b.val[0]:b.val[1]]
	if bytes.Equal(va, vb) || canonicalJSON(va) == canonicalJSON(vb) {
		return
	}
	p.dup = &dupKey{keyEnd: b.key[1], at: [2]int{a.at, b.at}, vals: [2]string{canonicalText(va), canonicalText(vb)}}
}
