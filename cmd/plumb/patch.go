package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"
)

// The --set edits: PATH=VALUE, PATH a JSON pointer into the step's input
// (the leading slash optional, ~1 for a slash and ~0 for a tilde in a
// name; any other "~" is refused), VALUE JSON when it parses as JSON and a string otherwise, so that
// --set /email=ada@example.com and --set /seats=12 both do what they say.

// decodeJSON decodes a document keeping numbers exact (an id above 2^53
// must come out as it went in).
func decodeJSON(raw []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	if dec.More() {
		return nil, fmt.Errorf("more than one JSON value")
	}
	return v, nil
}

// encodeJSON encodes without escaping <, > and &: "Ada <ada@example.com>"
// stays readable in the store and on screen.
func encodeJSON(v any) (json.RawMessage, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimRight(b.Bytes(), "\n"), nil
}

// applySets applies --set expressions to doc in order.
func applySets(doc json.RawMessage, sets []string) (json.RawMessage, error) {
	v, err := decodeJSON(doc)
	if err != nil {
		return nil, failf("the step's stored input is not JSON: %v", err)
	}
	for _, expr := range sets {
		if !utf8.ValidString(expr) {
			// JSON would turn the bad bytes into U+FFFD: the edit would
			// land on another field than the one named.
			return nil, usagef("--set %q: not valid UTF-8", expr)
		}
		path, value, ok := strings.Cut(expr, "=")
		if !ok {
			return nil, usagef("--set %q: want PATH=VALUE, e.g. --set /email=ada@example.com", expr)
		}
		toks, err := pointer(path)
		if err != nil {
			return nil, usagef("--set %q: %v", expr, err)
		}
		val, err := decodeJSON([]byte(value))
		if err != nil {
			val = value
		}
		if v, err = setAt(v, toks, val, ""); err != nil {
			return nil, usagef("--set %q: %v", expr, err)
		}
	}
	return encodeJSON(v)
}

// pointer splits a JSON pointer into its unescaped tokens.
func pointer(path string) ([]string, error) {
	p := strings.TrimPrefix(path, "/")
	if p == "" {
		return nil, fmt.Errorf("the path names the whole input; give it with --patch FILE")
	}
	toks := strings.Split(p, "/")
	for i, t := range toks {
		u, err := unescapeToken(t, i == len(toks)-1)
		if err != nil {
			return nil, err
		}
		toks[i] = u
	}
	return toks, nil
}

// escapeHelp ends every refusal of an escape: the two that exist.
const escapeHelp = `write ~0 for a "~" and ~1 for a "/"`

// unescapeToken undoes ~1 and ~0 (RFC 6901), in one pass so that "~01"
// is "~1", not "/". Any other "~" is refused rather than kept: a pointer
// that meant something else would edit the wrong field.
func unescapeToken(t string, last bool) (string, error) {
	if !strings.Contains(t, "~") {
		return t, nil
	}
	var b strings.Builder
	for i := 0; i < len(t); i++ {
		if t[i] != '~' {
			b.WriteByte(t[i])
			continue
		}
		if i+1 == len(t) {
			if last {
				return "", fmt.Errorf(`a "~" ends the path: %s`, escapeHelp)
			}
			return "", fmt.Errorf(`a "~" ends the token %q: %s`, t, escapeHelp)
		}
		switch t[i+1] {
		case '0':
			b.WriteByte('~')
		case '1':
			b.WriteByte('/')
		default:
			return "", fmt.Errorf(`%q is not an escape in a JSON pointer: %s`, t[i:i+2], escapeHelp)
		}
		i++
	}
	return b.String(), nil
}

func escapeToken(t string) string {
	return strings.ReplaceAll(strings.ReplaceAll(t, "~", "~0"), "/", "~1")
}

// setAt returns node with val set at toks, creating missing objects on the
// way. at is the pointer to node, for errors.
func setAt(node any, toks []string, val any, at string) (any, error) {
	if len(toks) == 0 {
		return val, nil
	}
	tok, rest := toks[0], toks[1:]
	here := at + "/" + escapeToken(tok)
	switch n := node.(type) {
	case map[string]any:
		child, err := setAt(n[tok], rest, val, here)
		if err != nil {
			return nil, err
		}
		n[tok] = child
		return n, nil
	case []any:
		i, err := strconv.Atoi(tok)
		switch {
		case tok == "-":
			i = len(n)
		case err != nil || !arrayIndex(tok) || i > len(n):
			return nil, fmt.Errorf("%s: %s is an array of %d; give an index from 0 to %d, or - to append", here, orRoot(at), len(n), len(n))
		}
		if i == len(n) {
			n = append(n, nil)
		}
		child, err := setAt(n[i], rest, val, here)
		if err != nil {
			return nil, err
		}
		n[i] = child
		return n, nil
	case nil:
		child, err := setAt(nil, rest, val, here)
		if err != nil {
			return nil, err
		}
		return map[string]any{tok: child}, nil
	}
	return nil, fmt.Errorf("%s: %s is %s, not an object or an array", here, orRoot(at), kind(node))
}

func orRoot(p string) string {
	if p == "" {
		return "the input"
	}
	return p
}

func kind(v any) string {
	switch v.(type) {
	case string:
		return "a string"
	case json.Number:
		return "a number"
	case bool:
		return "a boolean"
	}
	return "a value"
}

// changes lists what differs between two JSON documents, one line per
// changed value, so that an operator sees what a patch does before it is
// written.
// doc names the document ("the input", "the output") where a line is
// about the whole of it.
func changes(before, after json.RawMessage, doc string) []string {
	a, errA := decodeJSON(before)
	b, errB := decodeJSON(after)
	if errA != nil || errB != nil {
		return []string{"(the whole " + strings.TrimPrefix(doc, "the ") + " is replaced)"}
	}
	var out []string
	diff(a, b, "", doc, &out)
	return out
}

func diff(a, b any, at, doc string, out *[]string) {
	am, aok := a.(map[string]any)
	bm, bok := b.(map[string]any)
	if aok && bok {
		keys := make([]string, 0, len(am)+len(bm))
		for k := range am {
			keys = append(keys, k)
		}
		for k := range bm {
			if _, ok := am[k]; !ok {
				keys = append(keys, k)
			}
		}
		slices.Sort(keys)
		for _, k := range keys {
			av, ina := am[k]
			bv, inb := bm[k]
			here := at + "/" + escapeToken(k)
			switch {
			case !ina:
				*out = append(*out, fmt.Sprintf("%s: added %s", here, show(bv)))
			case !inb:
				*out = append(*out, fmt.Sprintf("%s: removed (was %s)", here, show(av)))
			default:
				diff(av, bv, here, doc, out)
			}
		}
		return
	}
	as, aok := a.([]any)
	bs, bok := b.([]any)
	if aok && bok && len(as) == len(bs) {
		for i := range as {
			diff(as[i], bs[i], at+"/"+strconv.Itoa(i), doc, out)
		}
		return
	}
	if show(a) != show(b) {
		where := at
		if where == "" {
			where = doc
		}
		*out = append(*out, fmt.Sprintf("%s: %s → %s", where, show(a), show(b)))
	}
}

// show prints a value for a change line, cut to a readable length.
func show(v any) string {
	b, err := encodeJSON(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	return oneLine(string(b), 200)
}

// arrayIndex reports whether tok is an array index as JSON Pointer (RFC
// 6901) spells one: 0, or digits with no leading zero and no sign, so that
// "+0", "-1" and "01" are refused rather than read as numbers.
func arrayIndex(tok string) bool {
	if tok == "" || len(tok) > 1 && tok[0] == '0' {
		return false
	}
	for i := 0; i < len(tok); i++ {
		if tok[i] < '0' || tok[i] > '9' {
			return false
		}
	}
	return true
}
