package contract

import (
	"bytes"
	"encoding/json"
	"errors"
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
	found := ""
	walkPointers(raw, func(path func() string, _ json.Token, key bool, end int64) bool {
		if !key && end >= off {
			found = path()
			return true
		}
		return false
	})
	return found
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
