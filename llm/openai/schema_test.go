package openai

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/plumb-dev/plumb/llm/internal/outputschema"
)

func mustDecode(t testing.TB, s string) any {
	t.Helper()
	v, err := outputschema.Decode([]byte(s))
	require.NoError(t, err)
	return v
}

func mustEncode(t testing.TB, v any) string {
	t.Helper()
	b, err := outputschema.Encode(v)
	require.NoError(t, err)
	return string(b)
}

func TestStrictify(t *testing.T) {
	for _, tc := range []struct {
		name, in, want string // want "" means no strict form
	}{
		{"closes objects and keeps property order",
			`{"type":"object","properties":{"z":{"type":"string"},"a":{"type":"object","properties":{"x":{"type":"integer"}},"required":["x"]}},"required":["z","a"]}`,
			`{"type":"object","properties":{"z":{"type":"string"},"a":{"type":"object","properties":{"x":{"type":"integer"}},"required":["x"],"additionalProperties":false}},"required":["z","a"],"additionalProperties":false}`},
		{"optional becomes nullable and required",
			`{"type":"object","properties":{"e":{"type":"string","enum":["a","b"]},"r":{"$ref":"#/$defs/T"},"u":{"anyOf":[{"type":"string"},{"type":"integer"}]},"n":{"type":["string","null"]},"c":{"type":"string","const":"k"}},"$defs":{"T":{"type":"string"}}}`,
			`{"type":"object","$defs":{"T":{"type":"string"}},"properties":{"e":{"type":["string","null"],"enum":["a","b",null]},"r":{"anyOf":[{"$ref":"#/$defs/T"},{"type":"null"}]},"u":{"anyOf":[{"type":"string"},{"type":"integer"},{"type":"null"}]},"n":{"type":["string","null"]},"c":{"anyOf":[{"type":"string","const":"k"},{"type":"null"}]}},"required":["e","r","u","n","c"],"additionalProperties":false}`},
		{"drops what strict mode rejects, keeps what it knows",
			`{"type":"object","properties":{"s":{"type":"string","minLength":1,"format":"uri","pattern":"^a"},"d":{"type":"string","format":"date-time","default":"x"},"o":{"oneOf":[{"type":"string"},{"type":"integer","minimum":1}]}},"required":["s","d","o"]}`,
			`{"type":"object","properties":{"s":{"type":"string","pattern":"^a"},"d":{"type":"string","format":"date-time"},"o":{"anyOf":[{"type":"string"},{"type":"integer","minimum":1}]}},"required":["s","d","o"],"additionalProperties":false}`},
		{"a map", `{"type":"object","additionalProperties":{"type":"string"}}`, ""},
		{"an open object", `{"type":"object","properties":{"a":{"type":"string"}},"additionalProperties":true}`, ""},
		{"an empty schema", `{"type":"object","properties":{"a":{}}}`, ""},
		{"allOf", `{"type":"object","properties":{"a":{"allOf":[{"type":"string"}]}}}`, ""},
		{"tuple items", `{"type":"object","properties":{"a":{"type":"array","items":[{"type":"string"}]}}}`, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := strictify(mustDecode(t, tc.in))
			if tc.want == "" {
				assert.False(t, ok)
				return
			}
			require.True(t, ok)
			assert.Equal(t, tc.want, mustEncode(t, got))
		})
	}
}

func TestDropNulls(t *testing.T) {
	const schema = `{"type":"object","properties":{` +
		`"name":{"type":"string"},"note":{"type":["string","null"]},"phone":{"type":"string"},` +
		`"items":{"type":"array","items":{"$ref":"#/$defs/Item"}},"pick":{"anyOf":[{"type":"string"},{"$ref":"#/$defs/Item"}]}},` +
		`"required":["name"],"$defs":{"Item":{"type":"object","properties":{"sku":{"type":"string"},"qty":{"type":"integer"}},"required":["sku"]}}}`
	root := mustDecode(t, schema).(outputschema.Object)
	for _, tc := range []struct{ name, in, want string }{
		{"optional nulls go, nullable ones stay", `{"name":"a","note":null,"phone":null}`, `{"name":"a","note":null}`},
		{"a required null stays for the contract to report", `{"name":null}`, `{"name":null}`},
		{"through arrays and references", `{"name":"a","items":[{"sku":"x","qty":null},{"sku":null}]}`, `{"name":"a","items":[{"sku":"x"},{"sku":null}]}`},
		{"through anyOf", `{"name":"a","pick":{"sku":"x","qty":null}}`, `{"name":"a","pick":{"sku":"x"}}`},
		{"unknown keys are left alone", `{"name":"a","extra":null}`, `{"name":"a","extra":null}`},
		{"not an object", `[null]`, `[null]`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := guide{root}.dropNulls(mustDecode(t, tc.in), root)
			assert.Equal(t, tc.want, mustEncode(t, got))
		})
	}
}

// FuzzStructuredOutput feeds untrusted schemas and answers through every
// transformation: none may panic, and every document written must be JSON.
func FuzzStructuredOutput(f *testing.F) {
	f.Add(`{"type":"object","properties":{"a":{"type":"string"}}}`, `{"a":null}`)
	f.Add(`{"$ref":"#/$defs/T","$defs":{"T":{"type":"array","items":{"$ref":"#/$defs/T"}}}}`, `{"value":[[[]]]}`)
	f.Add(`{"anyOf":[{"$ref":"#/$defs/A"}],"$defs":{"A":{"$ref":"#/$defs/A"}}}`, `{"value":{"x":null}}`)
	f.Add(`{"type":"object","properties":{"a":{"type":"string","enum":"x"}}}`, `[1,2`)
	f.Add(`{"properties":{"a":{"$ref":"#/$defs/A"}},"$defs":{"A":{"anyOf":[{"$ref":"#/$defs/A"},{"$ref":"#/$defs/A"}]}}}`, `{"a":null}`)
	f.Fuzz(func(t *testing.T, schema, answer string) {
		v, err := outputschema.Decode([]byte(schema))
		if err != nil {
			return
		}
		root, _ := outputschema.Root(v)
		if s, ok := strictify(root); ok {
			b := mustEncode(t, s)
			require.True(t, json.Valid([]byte(b)), b)
		}
		if a, err := outputschema.Decode([]byte(answer)); err == nil {
			out := mustEncode(t, guide{root}.dropNulls(a, root))
			require.True(t, json.Valid([]byte(out)), out)
		}
	})
}
