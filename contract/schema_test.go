package contract

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

type tagKinds struct {
	Plain     string            `json:"plain"`
	Optional  string            `json:"optional,omitempty"`
	OptZero   time.Time         `json:"opt_zero,omitzero"`
	Forced    string            `json:"forced,omitempty" jsonschema:"required"`
	Enum      string            `json:"enum" jsonschema:"enum=new,enum=warm,enum=hot"`
	IntEnum   int               `json:"int_enum" jsonschema:"enum=1,enum=2"`
	Bounds    int               `json:"bounds" jsonschema:"minimum=1,maximum=5"`
	Exclusive float64           `json:"exclusive" jsonschema:"exclusiveMinimum=0,exclusiveMaximum=1"`
	Length    string            `json:"length" jsonschema:"minLength=1,maxLength=80"`
	Pattern   string            `json:"pattern" jsonschema:"pattern=^[A-Z]{2}$"`
	Date      string            `json:"date" jsonschema:"format=date"`
	DateTime  string            `json:"date_time" jsonschema:"format=date-time"`
	URI       string            `json:"uri" jsonschema:"format=uri"`
	Email     string            `json:"email" jsonschema:"format=email"`
	Items     []string          `json:"items" jsonschema:"minItems=1,maxItems=3"`
	When      time.Time         `json:"when"`
	Ptr       *int              `json:"ptr,omitempty"`
	Map       map[string]int    `json:"map,omitempty"`
	Nested    struct{ A bool }  `json:"nested"`
	Described string            `json:"described" jsonschema:"description=what it is"`
	Skipped   string            `json:"-"`
	Nullable  *string           `json:"nullable" jsonschema:"nullable"`
	Any       any               `json:"any,omitempty"`
	Matrix    [2][2]int         `json:"matrix"`
	Extra     map[string]string `json:"extra,omitempty"`
}

func TestSchemaGeneration(t *testing.T) {
	s, err := SchemaFor[tagKinds]()
	require.NoError(t, err)
	var doc map[string]json.RawMessage
	require.NoError(t, json.Unmarshal(s.JSON(), &doc))
	assert.JSONEq(t, `"https://json-schema.org/draft/2020-12/schema"`, string(doc["$schema"]))
	assert.JSONEq(t, `"tagKinds"`, string(doc["title"]))
	assert.JSONEq(t, `"object"`, string(doc["type"]))
	assert.JSONEq(t, `false`, string(doc["additionalProperties"]))
	assert.JSONEq(t, `["plain","forced","enum","int_enum","bounds","exclusive","length","pattern","date","date_time","uri","email","items","when","nested","described","nullable","matrix"]`, string(doc["required"]))
	for _, k := range []string{"$defs", "$ref", "$id"} {
		assert.NotContains(t, doc, k, "the schema must be inline")
	}

	var props map[string]json.RawMessage
	require.NoError(t, json.Unmarshal(doc["properties"], &props))
	want := map[string]string{
		"plain":     `{"type":"string"}`,
		"optional":  `{"type":"string"}`,
		"opt_zero":  `{"type":"string","format":"date-time"}`,
		"enum":      `{"type":"string","enum":["new","warm","hot"]}`,
		"int_enum":  `{"type":"integer","enum":[1,2]}`,
		"bounds":    `{"type":"integer","minimum":1,"maximum":5}`,
		"exclusive": `{"type":"number","exclusiveMinimum":0,"exclusiveMaximum":1}`,
		"length":    `{"type":"string","minLength":1,"maxLength":80}`,
		"pattern":   `{"type":"string","pattern":"^[A-Z]{2}$"}`,
		"date":      `{"type":"string","format":"date"}`,
		"date_time": `{"type":"string","format":"date-time"}`,
		"uri":       `{"type":"string","format":"uri"}`,
		"email":     `{"type":"string","format":"email"}`,
		"items":     `{"type":"array","items":{"type":"string"},"minItems":1,"maxItems":3}`,
		"when":      `{"type":"string","format":"date-time"}`,
		"ptr":       `{"type":"integer"}`,
		"map":       `{"type":"object","additionalProperties":{"type":"integer"}}`,
		"nested":    `{"type":"object","properties":{"A":{"type":"boolean"}},"required":["A"],"additionalProperties":false}`,
		"described": `{"type":"string","description":"what it is"}`,
		"nullable":  `{"oneOf":[{"type":"string"},{"type":"null"}]}`,
		"any":       `true`,
		"matrix":    `{"type":"array","items":{"type":"array","items":{"type":"integer"},"minItems":2,"maxItems":2},"minItems":2,"maxItems":2}`,
		"extra":     `{"type":"object","additionalProperties":{"type":"string"}}`,
	}
	for name, w := range want {
		assert.JSONEq(t, w, string(props[name]), name)
	}
	assert.NotContains(t, props, "Skipped")
}

func TestSchemaIsStableAndImmutable(t *testing.T) {
	a, err := SchemaFor[tagKinds]()
	require.NoError(t, err)
	b, err := SchemaFor[tagKinds]()
	require.NoError(t, err)
	assert.Same(t, a, b, "cached per type")
	first := a.JSON()
	first[0] = 'X'
	assert.Equal(t, byte('{'), a.JSON()[0], "JSON returns a copy")
	regenerated, err := generateSchema(typeOf[tagKinds](), "tagKinds")
	require.NoError(t, err)
	assert.Equal(t, string(a.JSON()), string(regenerated), "same bytes every time")
}

func TestCompileSchemaRoundTrip(t *testing.T) {
	orig, err := SchemaFor[answerLead]()
	require.NoError(t, err)
	s, err := CompileSchema(orig.JSON())
	require.NoError(t, err)
	assert.Equal(t, "answerLead", s.Name())
	for _, raw := range []string{
		`{"name":"Ann","email":"ann@example.com","stage":"new","budget":1,"qualified":true}`,
		`{"name":"Ann","email":"ann","stage":"New","budget":-1,"qualified":true,"x":1}`,
		`{"name":`,
	} {
		assert.Equal(t, orig.ValidateJSON([]byte(raw)), s.ValidateJSON([]byte(raw)), raw)
	}
}

func TestCompileSchemaErrors(t *testing.T) {
	for doc, want := range map[string]string{
		`{"type": `:                              "not JSON",
		`{"$ref": "https://example.com/x.json"}`: "self-contained",
		`{"$ref": "file:///etc/passwd"}`:         "self-contained",
		`{"type": "strnig"}`:                     "does not compile",
		`{"pattern": "("}`:                       "does not compile",
	} {
		_, err := CompileSchema([]byte(doc))
		require.Error(t, err, doc)
		assert.Contains(t, err.Error(), want, doc)
	}
	s, err := CompileSchema([]byte(`{"$id": "https://example.com/schemas/lead.json", "type": "object"}`))
	require.NoError(t, err)
	assert.Equal(t, "lead", s.Name())
	assert.NoError(t, s.ValidateJSON([]byte(`{}`)))
}

type recursiveTree struct {
	Label string          `json:"label"`
	Kids  []recursiveTree `json:"kids,omitempty"`
}

func TestRecursiveTypeKeepsDefs(t *testing.T) {
	s, err := SchemaFor[recursiveTree]()
	require.NoError(t, err)
	doc := string(s.JSON())
	assert.Contains(t, doc, `"$defs"`)
	assert.Contains(t, doc, `"$ref":"#/$defs/recursiveTree"`)
	require.NoError(t, Check(recursiveTree{Label: "a", Kids: []recursiveTree{{Label: "b"}}}))
	v, err := Decode[recursiveTree](`{"label": "a", "kids": [{"label": "b", "kids": [{"label": 3}]}]}`)
	ve, ok := asValidationError(err)
	require.True(t, ok, "%v", err)
	assert.Equal(t, "/kids/0/kids/0/label", ve.Violations[0].Path)
	assert.Equal(t, recursiveTree{}, v)
}

type page[T any] struct {
	Items []T `json:"items"`
}

type (
	withChan    struct{ C chan int }
	withFunc    struct{ F func() }
	withComplex struct{ Z complex128 }
	withBadKey  struct{ M map[[2]int]string }
	withUintptr struct{ P uintptr }
	withHidden  struct {
		Secret string `jsonschema:"-"`
	}
	withIgnoredOK struct {
		C chan int `json:"-"`
		A string   `json:"a"`
	}
)

func TestForRejectsTypesWithoutJSONForm(t *testing.T) {
	cases := map[string]func() error{
		"withChan.C (chan int) is a channel":                         func() error { _, err := For[withChan](); return err },
		"withFunc.F (func()) is a function":                          func() error { _, err := For[withFunc](); return err },
		"withComplex.Z (complex128) is a complex number":             func() error { _, err := For[withComplex](); return err },
		"cannot be JSON object keys":                                 func() error { _, err := For[withBadKey](); return err },
		"withUintptr.P (uintptr) is a uintptr":                       func() error { _, err := For[withUintptr](); return err },
		`field withHidden.Secret is written to JSON as "Secret"`:     func() error { _, err := For[withHidden](); return err },
		"type chan int cannot have a JSON contract: chan int (chan ": func() error { _, err := For[chan int](); return err },
	}
	for want, f := range cases {
		err := f()
		require.Error(t, err, want)
		assert.Contains(t, err.Error(), want)
		assert.True(t, strings.HasPrefix(err.Error(), "contract: "), err.Error())
	}
	_, err := For[withIgnoredOK]()
	assert.NoError(t, err)
}

func TestTypeNames(t *testing.T) {
	assert.Equal(t, "page[answerLead]", typeName(typeOf[page[answerLead]]()))
	assert.Equal(t, "[]answerLead", typeName(typeOf[[]answerLead]()))
	assert.Equal(t, "map[string]*answerLead", typeName(typeOf[map[string]*answerLead]()))
	s, err := SchemaFor[page[answerLead]]()
	require.NoError(t, err)
	assert.Equal(t, "page[answerLead]", s.Name())
}

func typeOf[T any]() reflect.Type { return reflect.TypeFor[T]() }
