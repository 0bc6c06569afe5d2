package contract

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"reflect"
	"slices"
	"strconv"
	"strings"

	invopop "github.com/invopop/jsonschema"
	"github.com/santhosh-tekuri/jsonschema/v6"
)

// draft2020 is the dialect of every schema this package writes and the
// default for the documents it compiles.
const draft2020 = "https://json-schema.org/draft/2020-12/schema"

// Schema is a compiled JSON Schema document (draft 2020-12). It is usable
// without the Go type it came from: a review record stores Schema.JSON so
// that a reviewer's edit can be validated by code that does not have the type.
type Schema struct {
	name string
	doc  []byte
	root *jsonschema.Schema
}

// JSON returns the schema document: draft 2020-12, self-contained (no
// external $ref), the same bytes every time for the same type.
func (s *Schema) JSON() json.RawMessage { return slices.Clone(s.doc) }

// Name returns the schema's name: the Go type's name ("Lead") for a
// generated schema, the document's "title" for a compiled one.
func (s *Schema) Name() string { return s.name }

// ValidateJSON validates raw JSON against the schema. It returns nil or a
// *ValidationError listing every violation; text that is not JSON is one
// violation with keyword "syntax".
func (s *Schema) ValidateJSON(raw []byte) error {
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(raw))
	if err != nil {
		return syntaxError(s.name, jsonSyntaxMessage(err))
	}
	return s.validateDoc(doc)
}

// validateDoc validates an instance decoded by jsonschema.UnmarshalJSON,
// whose numbers are json.Number so that large integers compare exactly.
func (s *Schema) validateDoc(doc any) error {
	err := s.root.Validate(doc)
	if err == nil {
		return nil
	}
	return newValidationError(s.name, flatten(nil, err, doc, ""), nil, 0)
}

func jsonSyntaxMessage(err error) string {
	var se *json.SyntaxError
	if errors.As(err, &se) {
		return fmt.Sprintf("invalid JSON at offset %d: %v", se.Offset, err)
	}
	return "invalid JSON: " + err.Error()
}

// CompileSchema compiles a JSON Schema document, such as one Schema.JSON
// returned. Documents without "$schema" are read as draft 2020-12. Format
// assertions are on, and references to other documents are refused: a
// contract must be self-contained.
func CompileSchema(doc []byte) (*Schema, error) {
	name := ""
	var head struct {
		Title string `json:"title"`
		ID    string `json:"$id"`
	}
	if err := json.Unmarshal(doc, &head); err == nil {
		name = head.Title
		if name == "" && head.ID != "" {
			name = idName(head.ID)
		}
	}
	return compileDoc(doc, name)
}

// idName turns "https://example.com/schemas/lead.json" into "lead".
func idName(id string) string {
	if u, err := url.Parse(id); err == nil && u.Path != "" {
		id = u.Path
	}
	id = id[strings.LastIndexByte(id, '/')+1:]
	if i := strings.IndexByte(id, '.'); i > 0 {
		id = id[:i]
	}
	return id
}

func compileDoc(doc []byte, name string) (*Schema, error) {
	v, err := jsonschema.UnmarshalJSON(bytes.NewReader(doc))
	if err != nil {
		return nil, fmt.Errorf("contract: schema %q is not JSON: %w", name, err)
	}
	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft2020)
	c.AssertFormat()
	c.UseLoader(refuseLoader{})
	const loc = "mem:///contract.json"
	if err := c.AddResource(loc, v); err != nil {
		return nil, fmt.Errorf("contract: schema %q: %w", name, err)
	}
	root, err := c.Compile(loc)
	if err != nil {
		return nil, fmt.Errorf("contract: schema %q does not compile: %w", name, err)
	}
	var compact bytes.Buffer
	if err := json.Compact(&compact, doc); err != nil {
		return nil, fmt.Errorf("contract: schema %q: %w", name, err)
	}
	return &Schema{name: name, doc: compact.Bytes(), root: root}, nil
}

// refuseLoader keeps compilation offline: a schema that points at another
// document is rejected instead of fetching or reading a file.
type refuseLoader struct{}

func (refuseLoader) Load(u string) (any, error) {
	return nil, fmt.Errorf("external reference %q is not allowed: a contract schema must be self-contained", u)
}

// generateSchema writes the JSON Schema of t with invopop/jsonschema. The
// reflector settings are deliberate, because the document is sent to models
// and OpenAI's strict structured output wants inline objects:
//   - DoNotReference and ExpandedStruct inline every type, so there is no
//     $ref or $defs; a recursive type cannot be inlined, so it keeps $defs
//     and a root $ref (which its plan and the validator both follow);
//   - additionalProperties is false on every struct (invopop's default),
//     since an unknown key in a model's answer is a mistake to report;
//   - required lists the fields without omitempty/omitzero (invopop's
//     default), which is exactly when encoding/json always writes them;
//   - Anonymous drops the $id, which would be a URL nobody serves; "title"
//     carries the type's name instead, so CompileSchema can recover it;
//   - integer kinds narrower than 64 bits, and unsigned ones, state their
//     range (minimum/maximum, which tags still override), so that a model
//     is told and an overflow is a schema violation with its path rather
//     than a decoding failure.
func generateSchema(t reflect.Type, name string) (doc []byte, err error) {
	recursive := isRecursive(t)
	r := &invopop.Reflector{
		Anonymous:      true,
		DoNotReference: !recursive,
		ExpandedStruct: !recursive,
		Namer:          defName,
		Mapper:         integerRange,
	}
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("contract: type %s has no JSON schema: %v (give it a JSONSchema() *jsonschema.Schema method)", name, p)
		}
	}()
	s := r.ReflectFromType(t)
	s.Version = draft2020
	s.Title = name
	return json.Marshal(s)
}

type jsonSchemaer interface{ JSONSchema() *invopop.Schema }

// integerRange writes the range of bounded integer kinds. Types that
// describe or encode themselves are left to invopop.
func integerRange(t reflect.Type) *invopop.Schema {
	if implementsAny(t) || t.Implements(reflect.TypeFor[jsonSchemaer]()) {
		return nil
	}
	var lo, hi string
	switch t.Kind() {
	case reflect.Int8, reflect.Int16, reflect.Int32:
		bits := t.Bits()
		lo, hi = strconv.FormatInt(-1<<(bits-1), 10), strconv.FormatInt(1<<(bits-1)-1, 10)
	case reflect.Uint8, reflect.Uint16, reflect.Uint32:
		lo, hi = "0", strconv.FormatUint(1<<t.Bits()-1, 10)
	case reflect.Uint, reflect.Uint64:
		lo = "0"
	default:
		return nil
	}
	return &invopop.Schema{Type: "integer", Minimum: json.Number(lo), Maximum: json.Number(hi)}
}

// defName names a $defs entry. Generic type names carry import paths and
// brackets, which do not belong in a JSON pointer.
func defName(t reflect.Type) string {
	if t.Name() == "" {
		return ""
	}
	return strings.Map(func(r rune) rune {
		if r == '[' || r == ']' || r == ',' || r == ' ' || r == '*' {
			return '_'
		}
		return r
	}, typeName(t))
}

// typeName is a Go type's name without import paths: "Lead", "Page[Lead]",
// "[]Lead", "map[string]*Lead".
func typeName(t reflect.Type) string {
	s := t.Name()
	if s == "" {
		s = t.String()
	}
	var b strings.Builder
	start := 0
	flush := func(end int) {
		tok := s[start:end]
		if i := strings.LastIndexByte(tok, '.'); i >= 0 && i+1 < len(tok) {
			tok = tok[i+1:]
		}
		b.WriteString(tok)
	}
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '[', ']', ',', ' ', '*':
			flush(i)
			b.WriteByte(s[i])
			start = i + 1
		}
	}
	flush(len(s))
	return b.String()
}

// isRecursive reports whether t reaches itself through fields, elements or
// pointers, in which case its schema cannot be written inline.
func isRecursive(t reflect.Type) bool {
	onPath := map[reflect.Type]bool{}
	done := map[reflect.Type]bool{}
	var visit func(reflect.Type) bool
	visit = func(t reflect.Type) bool {
		if onPath[t] {
			return true
		}
		if done[t] {
			return false
		}
		onPath[t] = true
		defer func() { onPath[t] = false; done[t] = true }()
		switch t.Kind() {
		case reflect.Pointer, reflect.Slice, reflect.Array, reflect.Map:
			return visit(t.Elem())
		case reflect.Struct:
			for i := 0; i < t.NumField(); i++ {
				if f := t.Field(i); (f.IsExported() || f.Anonymous) && visit(f.Type) {
					return true
				}
			}
		}
		return false
	}
	return visit(t)
}
