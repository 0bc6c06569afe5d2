package contract

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"reflect"
	"strings"
	"testing"

	"github.com/plumb-dev/plumb/retry"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestExtractAmbiguity(t *testing.T) {
	var many strings.Builder
	many.WriteString("{")
	for i := range 1000 {
		fmt.Fprintf(&many, `"k%d": %d, `, i, i)
	}
	many.WriteString(`"k500": "again"}`)
	tests := []struct {
		name, text string
		want       string // the JSON, when the answer is not ambiguous
		kind       Ambiguity
		values     int
		path, msg  string
	}{
		{name: "two objects differ", text: `{"category": "sales", "n": 1} then {"category": "spam", "n": 1}`, kind: SeveralValues, values: 2,
			msg: "the answer holds 2 different JSON values (at offsets 0 and 35); exactly one is wanted"},
		{name: "identical repeat", text: `{"a": 1} and again {"a": 1}`, want: `{"a":1}`},
		{name: "the same after decoding", text: `{"a": 1, "b": [true], "c": "é"} {b: [True,], 'a': 1, "c": "\u00e9"}`, want: `{"a":1,"b":[true],"c":"é"}`},
		{name: "numbers are compared as written", text: `{"a": 1} {"a": 1.0}`, kind: SeveralValues, values: 2},
		{name: "two arrays", text: `[1] [2]`, kind: SeveralValues, values: 2},
		{name: "an object and an array", text: `{"a": 1} [1]`, kind: SeveralValues, values: 2},
		{name: "three answers, two different", text: `{"a": 1} {"a": 2} {"a": 1}`, kind: SeveralValues, values: 2},
		{name: "separate fences", text: "```json\n{\"a\": 1}\n```\nor\n```json\n{\"a\": 2}\n```", kind: SeveralValues, values: 2},
		{name: "two values in one fence", text: "```json\n{\"a\": 1}\n{\"a\": 2}\n```", kind: SeveralValues, values: 2},
		{name: "prose beside a json fence is not the answer", text: "Like {\"a\": 2}:\n```json\n{\"a\": 1}\n```", want: `{"a":1}`},
		{name: "a code fence beside a bare fence is not the answer", text: "```js\nf({\"a\": 2})\n```\n```\n{\"a\": 1}\n```", want: `{"a":1}`},
		{name: "nested values are not answers", text: `{"a": {"b": 1}, "c": [{"d": 2}]}`, want: `{"a":{"b":1},"c":[{"d":2}]}`},
		{name: "a broken second value is not an answer", text: `{"a": 1} and {"a": 2,`, want: `{"a":1}`},
		{name: "placeholders are not answers", text: `Fill {name} in: {"a": 1}`, want: `{"a":1}`},

		{name: "a duplicate key that differs", text: `{"a": 1, "a": 2}`, kind: DuplicateKey, path: "/a",
			msg: `the key "a" at /a appears more than once with different values (1 and 2); exactly one is wanted`},
		{name: "an identical duplicate key", text: `{"a": 1, "a": 1}`, want: `{"a":1,"a":1}`},
		{name: "a nested duplicate key", text: `{"x": [{"a": {"b": 1, "b": [2]}}]}`, kind: DuplicateKey, path: "/x/0/a/b"},
		{name: "a duplicate key written with an escape", text: `{"a": 1, "\u0061": 2}`, kind: DuplicateKey, path: "/a"},
		{name: "a duplicate key the same after decoding", text: `{"a": {"x": 1, "y": 2}, "a": {y: 2, x: 1}}`, want: `{"a":{"x":1,"y":2},"a":{"y":2,"x":1}}`},
		{name: "a duplicate among many keys", text: many.String(), kind: DuplicateKey, path: "/k500"},
		{name: "a duplicate key needing escapes in its pointer", text: `{"a/b~": 1, "a/b~": 2}`, kind: DuplicateKey, path: "/a~1b~0"},
		{name: "a duplicate key in the second answer", text: `{"a": 1} {"a": 1, "a": 2}`, kind: DuplicateKey, path: "/a"},
		{name: "keys that differ only after a bad byte", text: "{\"\xff\": 1, \"\xfe\": 2}", kind: DuplicateKey, path: "/\ufffd"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, _, err := Extract(tt.text)
			if tt.kind == 0 {
				require.NoError(t, err)
				assert.Equal(t, tt.want, string(got))
				return
			}
			var ae *AmbiguousError
			require.ErrorAs(t, err, &ae)
			assert.ErrorIs(t, err, ErrAmbiguous)
			assert.ErrorIs(t, err, retry.ErrContract)
			assert.Equal(t, tt.kind, ae.Kind)
			assert.Equal(t, tt.path, ae.Path)
			if tt.kind == SeveralValues {
				assert.Equal(t, tt.values, ae.Values)
				assert.Len(t, ae.Offsets, 2)
			}
			if tt.msg != "" {
				assert.Equal(t, tt.msg, err.Error())
			}
			assert.Contains(t, err.Error(), "exactly one is wanted")
		})
	}
}

// TestDecodeAmbiguity: Decode reports an ambiguous answer as one violation
// of keyword "ambiguous" that says why, so that it is re-asked.
func TestDecodeAmbiguity(t *testing.T) {
	lead := `{"name": "Ann", "email": "ann@example.com", "stage": "new", "budget": 1, "qualified": true}`
	_, err := Decode[answerLead](lead + "\n" + strings.Replace(lead, "new", "hot", 1))
	ve := requireViolations(t, err, " ambiguous")
	assert.Equal(t, "the answer holds 2 different JSON objects (at offsets 0 and 92); exactly one is wanted", ve.Violations[0].Message)
	assert.ErrorIs(t, err, retry.ErrContract)
	var ae *AmbiguousError
	require.ErrorAs(t, err, &ae)
	assert.Equal(t, SeveralValues, ae.Kind)

	_, err = Decode[answerLead](strings.Replace(lead, "}", `, "stage": "hot"}`, 1))
	ve = requireViolations(t, err, "/stage ambiguous")
	assert.Equal(t, `the key "stage" appears more than once with different values ("new" and "hot"); exactly one is wanted`, ve.Violations[0].Message)

	_, err = Decode[answerLead](lead + " " + lead)
	assert.NoError(t, err, "an identical repeat is no ambiguity")
}

// differingDuplicate is the fuzz oracle for duplicate keys, written apart
// from the parser: it decodes raw token by token and returns the pointer of
// the first key whose values differ, or "".
func differingDuplicate(raw []byte) (string, error) {
	dec := json.NewDecoder(strings.NewReader(string(raw)))
	dec.UseNumber()
	_, dup, err := refValue(dec, "")
	return dup, err
}

func refValue(dec *json.Decoder, path string) (any, string, error) {
	tok, err := dec.Token()
	if err != nil {
		return nil, "", err
	}
	switch tok {
	case json.Delim('{'):
		obj := map[string]any{}
		found := ""
		for dec.More() {
			k, err := dec.Token()
			if err != nil {
				return nil, "", err
			}
			key := k.(string)
			here := path + "/" + escapeToken(key)
			v, dup, err := refValue(dec, here)
			if err != nil {
				return nil, "", err
			}
			if found == "" {
				found = dup
			}
			if old, ok := obj[key]; ok && !reflect.DeepEqual(old, v) && found == "" {
				found = here
			}
			obj[key] = v
		}
		_, err := dec.Token()
		return obj, found, err
	case json.Delim('['):
		var arr []any
		found := ""
		for i := 0; dec.More(); i++ {
			v, dup, err := refValue(dec, fmt.Sprintf("%s/%d", path, i))
			if err != nil {
				return nil, "", err
			}
			if found == "" {
				found = dup
			}
			arr = append(arr, v)
		}
		_, err := dec.Token()
		return arr, found, err
	}
	return tok, "", nil
}

func TestDifferingDuplicateOracle(t *testing.T) {
	for raw, want := range map[string]string{`{"a":1}`: "", `{"a":1,"a":2}`: "/a", `[{"b":{"c":1,"c":1}},{"d":[1],"d":[2]}]`: "/1/d"} {
		got, err := differingDuplicate([]byte(raw))
		require.NoError(t, err)
		assert.Equal(t, want, got, raw)
	}
}

// checkAmbiguity is FuzzDecode's part for ambiguity. Whatever Extract
// accepts has no key twice with different values; the value it accepts,
// repeated, is accepted; next to a different value, or under a key twice
// with different values, it is ambiguous.
func checkAmbiguity(t *testing.T, text string) {
	raw, _, err := Extract(text)
	if err != nil {
		if errors.As(err, new(*AmbiguousError)) {
			require.ErrorIs(t, err, retry.ErrContract)
		}
		return
	}
	dup, err := differingDuplicate(raw)
	require.NoError(t, err)
	require.Empty(t, dup, "Extract accepted %q with a key twice, differing, from %q", raw, text)
	if raw[0] != '{' && raw[0] != '[' || strings.Contains(string(raw), "```") || nesting(raw) > maxNesting-4 {
		return
	}
	s := string(raw)
	twice, _, err := Extract(s + "\n" + s)
	require.NoError(t, err, "an identical repeat of %q", s)
	require.Equal(t, s, string(twice))

	other := "[" + s + "]"
	var ae *AmbiguousError
	_, _, err = Extract(s + "\n" + other)
	require.ErrorAs(t, err, &ae, "%q next to %q", s, other)
	require.Equal(t, SeveralValues, ae.Kind)
	require.Equal(t, 2, ae.Values)

	_, _, err = Extract(`{"dup":` + s + `,"dup":` + s + `}`)
	require.NoError(t, err, "an identical duplicate of %q", s)
	_, _, err = Extract(`{"dup":` + s + `,"dup":` + other + `}`)
	require.ErrorAs(t, err, &ae)
	require.Equal(t, DuplicateKey, ae.Kind)
	require.Equal(t, "/dup", ae.Path)
}

// nesting is raw's deepest bracket level.
func nesting(raw []byte) int {
	dec := json.NewDecoder(strings.NewReader(string(raw)))
	depth, deepest := 0, 0
	for {
		tok, err := dec.Token()
		if err == io.EOF || err != nil {
			return deepest
		}
		switch tok {
		case json.Delim('{'), json.Delim('['):
			depth++
			deepest = max(deepest, depth)
		case json.Delim('}'), json.Delim(']'):
			depth--
		}
	}
}
