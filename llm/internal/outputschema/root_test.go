package outputschema

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestRoot(t *testing.T) {
	for _, tc := range []struct {
		name, in, want string
		wrapped        bool
	}{
		{"object", `{"type":"object","properties":{"a":{"type":"string"}}}`, `{"type":"object","properties":{"a":{"type":"string"}}}`, false},
		{"untyped object", `{"properties":{"a":{}}}`, `{"properties":{"a":{}},"type":"object"}`, false},
		{"root reference", `{"$schema":"x","$ref":"#/$defs/T","$defs":{"T":{"type":"object","properties":{"b":{},"a":{}}}}}`,
			`{"type":"object","properties":{"b":{},"a":{}},"$defs":{"T":{"type":"object","properties":{"b":{},"a":{}}}}}`, false},
		{"a recursive root reference, property order kept",
			`{"$schema":"https://json-schema.org/draft/2020-12/schema","$ref":"#/$defs/Node","$defs":{"Node":{"type":"object","properties":{"z":{"type":"string"},"kids":{"type":"array","items":{"$ref":"#/$defs/Node"}}},"required":["z"]}}}`,
			`{"type":"object","properties":{"z":{"type":"string"},"kids":{"type":"array","items":{"$ref":"#/$defs/Node"}}},"required":["z"],"$defs":{"Node":{"type":"object","properties":{"z":{"type":"string"},"kids":{"type":"array","items":{"$ref":"#/$defs/Node"}}},"required":["z"]}}}`, false},
		{"the target's keywords win over the root's", `{"$ref":"#/definitions/T","description":"root","title":"R","definitions":{"T":{"type":"object","title":"T"}}}`,
			`{"type":"object","title":"T","description":"root","definitions":{"T":{"type":"object","title":"T"}}}`, false},
		{"an escaped reference", `{"$ref":"#/$defs/a~1b~0c","$defs":{"a/b~c":{"type":"object"}}}`,
			`{"type":"object","$defs":{"a/b~c":{"type":"object"}}}`, false},
		{"a reference to a non-object is wrapped with its definitions", `{"$ref":"#/$defs/A","$defs":{"A":{"type":"array"}}}`,
			`{"type":"object","properties":{"value":{"type":"array"}},"required":["value"],"additionalProperties":false,"$defs":{"A":{"type":"array"}}}`, true},
		{"a reference with siblings is not followed", `{"$ref":"#/$defs/T","type":"object","$defs":{"T":{"type":"string"}}}`,
			`{"$ref":"#/$defs/T","type":"object","$defs":{"T":{"type":"string"}}}`, false},
		{"a reference that resolves nowhere", `{"$ref":"https://example.com/s.json"}`,
			`{"type":"object","properties":{"value":{"$ref":"https://example.com/s.json"}},"required":["value"],"additionalProperties":false}`, true},
		{"array", `{"type":"array","items":{"$ref":"#/definitions/T"},"definitions":{"T":{"type":"string"}}}`,
			`{"type":"object","properties":{"value":{"type":"array","items":{"$ref":"#/definitions/T"}}},"required":["value"],"additionalProperties":false,"definitions":{"T":{"type":"string"}}}`, true},
		{"nullable object", `{"type":["object","null"]}`,
			`{"type":"object","properties":{"value":{"type":["object","null"]}},"required":["value"],"additionalProperties":false}`, true},
		{"anyOf", `{"$id":"x","anyOf":[{"type":"string"},{"type":"integer"}]}`,
			`{"type":"object","properties":{"value":{"anyOf":[{"type":"string"},{"type":"integer"}]}},"required":["value"],"additionalProperties":false}`, true},
		{"boolean", `true`, `{"type":"object","properties":{"value":true},"required":["value"],"additionalProperties":false}`, true},
		{"null", `null`, `{"type":"object","properties":{"value":null},"required":["value"],"additionalProperties":false}`, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := mustDecode(t, tc.in)
			before := mustEncode(t, in)
			root, wrapped := Root(in)
			assert.Equal(t, tc.want, mustEncode(t, root))
			assert.Equal(t, tc.wrapped, wrapped)
			assert.Equal(t, before, mustEncode(t, in), "the schema given is left as it was")
		})
	}
}

func TestUnwrap(t *testing.T) {
	for _, tc := range []struct {
		in, want string
		ok       bool
	}{
		{`{"value":["a","b"]}`, `["a","b"]`, true},
		{`{"value":null}`, `null`, true},
		{`{"other":1,"value":{"z":1,"a":2}}`, `{"z":1,"a":2}`, true},
		{`{"other":1}`, ``, false},
		{`["value"]`, ``, false},
		{`"value"`, ``, false},
	} {
		v, ok := Unwrap(mustDecode(t, tc.in))
		assert.Equal(t, tc.ok, ok, tc.in)
		if ok {
			assert.Equal(t, tc.want, mustEncode(t, v), tc.in)
		}
	}
}

func TestLookupRef(t *testing.T) {
	root := mustDecode(t, `{"$defs":{"A":{"type":"string"},"a/b":{"type":"integer"}},"definitions":{"B":{"type":"boolean"}}}`).(Object)
	for ref, want := range map[string]string{
		"#/$defs/A":         `{"type":"string"}`,
		"#/$defs/a~1b":      `{"type":"integer"}`,
		"#/definitions/B":   `{"type":"boolean"}`,
		"#/$defs/B":         `null`,
		"#/$defs/A/type":    `null`,
		"#/properties/A":    `null`,
		"other.json#/$defs": `null`,
	} {
		assert.Equal(t, want, mustEncode(t, LookupRef(root, ref)), ref)
	}
}

func TestName(t *testing.T) {
	for in, want := range map[string]string{
		"":          "output",
		"my lead":   "my_lead",
		"lead.v2-x": "lead_v2-x",
		"Ok_9-":     "Ok_9-",
		"é":         "__",
	} {
		assert.Equal(t, want, Name(in), "%q", in)
	}
	assert.Len(t, Name(string(make([]byte, 100))), 64)
}

func TestInstructions(t *testing.T) {
	got := Instructions([]byte(`{"type":"object"}`))
	assert.Contains(t, got, "JSON", "JSON mode requires the word")
	assert.Contains(t, got, "\n\nJSON Schema:\n{\"type\":\"object\"}")
}

// FuzzRoot feeds untrusted schemas and answers: nothing may panic, every
// root is an object schema, and a wrapped answer comes back out.
func FuzzRoot(f *testing.F) {
	f.Add(`{"$ref":"#/$defs/A","$defs":{"A":{"type":"array"}}}`, `{"value":[1]}`)
	f.Add(`{"$ref":"#/$defs/T","$defs":{"T":{"type":"array","items":{"$ref":"#/$defs/T"}}}}`, `{"value":[[[]]]}`)
	f.Add(`true`, `[`)
	f.Add(`{"properties":{"a":{}},"$id":"x"}`, `{"a":"<&>"}`)
	f.Fuzz(func(t *testing.T, schema, answer string) {
		v, err := Decode([]byte(schema))
		if err != nil {
			return
		}
		root, wrapped := Root(v)
		out := mustEncode(t, root)
		var got map[string]json.RawMessage
		require.NoError(t, json.Unmarshal([]byte(out), &got), out)
		require.JSONEq(t, `"object"`, string(got["type"]), out)
		a, err := Decode([]byte(answer))
		if err != nil || !wrapped {
			return
		}
		if inner, ok := Unwrap(a); ok {
			b := mustEncode(t, inner)
			require.True(t, json.Valid([]byte(b)), b)
		}
	})
}
