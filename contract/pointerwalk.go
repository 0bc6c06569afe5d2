package contract

import (
	"bytes"
	"encoding/json"
	"strconv"
	"strings"
)

// walkPointers reads raw's tokens in order, keeping track of the JSON
// pointer of the value being read, and calls visit after each object key
// (key true, path naming that member) and each scalar (key false), with the
// input offset just past the token. It stops when visit reports true, when
// the tokens end, or at the first syntax error. It serves the error paths
// that must name a place in a document (encoding/json's errors name struct
// fields, not array indexes), so it is simple rather than fast.
func walkPointers(raw []byte, visit func(path func() string, tok json.Token, key bool, end int64) bool) {
	type frame struct {
		obj     bool
		wantKey bool
		key     string
		idx     int
	}
	var stack []frame
	path := func() string {
		var b strings.Builder
		for _, f := range stack {
			b.WriteByte('/')
			if f.obj {
				b.WriteString(escapeToken(f.key))
			} else {
				b.WriteString(strconv.Itoa(f.idx))
			}
		}
		return b.String()
	}
	done := func() {
		if len(stack) == 0 {
			return
		}
		if top := &stack[len(stack)-1]; top.obj {
			top.wantKey = true
		} else {
			top.idx++
		}
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber() // 1e400 is JSON too
	for {
		tok, err := dec.Token()
		if err != nil {
			return
		}
		switch tok {
		case json.Delim('{'), json.Delim('['):
			stack = append(stack, frame{obj: tok == json.Delim('{'), wantKey: true})
			continue
		case json.Delim('}'), json.Delim(']'):
			stack = stack[:len(stack)-1]
			done()
			continue
		}
		if s, ok := tok.(string); ok && len(stack) > 0 && stack[len(stack)-1].obj && stack[len(stack)-1].wantKey {
			top := &stack[len(stack)-1]
			top.key, top.wantKey = s, false
			if visit(path, tok, true, dec.InputOffset()) {
				return
			}
			continue
		}
		if visit(path, tok, false, dec.InputOffset()) {
			return
		}
		done()
	}
}
