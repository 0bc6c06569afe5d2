package contract

import (
	"bytes"
	"encoding/json"
	"errors"
	"strconv"
	"strings"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

// unmarshalViolation explains JSON the schema accepted but encoding/json
// could not store in the Go type: a number too large for an int64, a
// time.Time with a leap second, a custom UnmarshalJSON's error.
func unmarshalViolation(raw []byte, err error) Violation {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		path := pathAtOffset(raw, te.Offset)
		return Violation{Path: path, Keyword: "type", Message: "cannot be decoded into " + te.Type.String() + ": " + te.Value,
			Value: canonicalValueAt(raw, path)}
	}
	return Violation{Keyword: "unmarshal", Message: "cannot be decoded: " + err.Error()}
}

// pathAtOffset returns the JSON pointer of the scalar that ends at off;
// encoding/json's error names struct fields only, not array indexes.
func pathAtOffset(raw []byte, off int64) string {
	type frame struct {
		obj     bool
		wantKey bool
		key     string
		idx     int
	}
	var stack []frame
	here := func() string {
		var b []byte
		for _, f := range stack {
			b = append(b, '/')
			if f.obj {
				b = append(b, escapeToken(f.key)...)
			} else {
				b = strconv.AppendInt(b, int64(f.idx), 10)
			}
		}
		return string(b)
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
	dec.UseNumber()
	for {
		tok, err := dec.Token()
		if err != nil {
			return ""
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
			stack[len(stack)-1].key, stack[len(stack)-1].wantKey = s, false
			continue
		}
		if dec.InputOffset() >= off {
			return here()
		}
		done()
	}
}

func canonicalValueAt(raw []byte, path string) string {
	doc, err := jsonschemaDecode(raw)
	if err != nil {
		return ""
	}
	var toks []string
	for p := path; p != ""; {
		var t string
		t, p = nextToken(p)
		toks = append(toks, unescapeToken(t))
	}
	return valueAt(doc, toks)
}

func jsonschemaDecode(raw []byte) (any, error) {
	return jsonschema.UnmarshalJSON(bytes.NewReader(raw))
}

func unescapeToken(s string) string {
	return strings.NewReplacer("~1", "/", "~0", "~").Replace(s)
}
