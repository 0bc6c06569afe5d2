package outputschema

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func mustDecode(t testing.TB, s string) any {
	t.Helper()
	v, err := Decode([]byte(s))
	require.NoError(t, err)
	return v
}

func mustEncode(t testing.TB, v any) string {
	t.Helper()
	b, err := Encode(v)
	require.NoError(t, err)
	return string(b)
}

func TestJSONKeepsOrderAndNumbers(t *testing.T) {
	const doc = `{"z":1,"a":{"y":[true,null,"<&>"],"b":12345678901234567890.5},"m":"é"}`
	assert.Equal(t, doc, mustEncode(t, mustDecode(t, doc)))
	_, err := Decode([]byte(`{"a":1} {"b":2}`))
	assert.Error(t, err)
	v := mustDecode(t, `{"a":1,"a":2}`)
	assert.Equal(t, `{"a":2}`, mustEncode(t, v), "the last of a repeated key wins, as in encoding/json")
}

func TestDecodeRejects(t *testing.T) {
	for _, in := range []string{``, `{`, `[1,]`, `{"a" 1}`, `nul`, strings.Repeat("[", 600) + strings.Repeat("]", 600)} {
		_, err := Decode([]byte(in))
		assert.Error(t, err, "%.20q", in)
	}
	_, err := Decode([]byte(strings.Repeat("[", 500) + strings.Repeat("]", 500)))
	assert.NoError(t, err, "deep but within bounds")
}

func TestObject(t *testing.T) {
	o := Object{{"a", 1}, {"b", nil}}
	v, ok := o.Lookup("b")
	assert.True(t, ok, "a null value is there")
	assert.Nil(t, v)
	assert.Nil(t, o.Get("c"))
	assert.False(t, o.Has("c"))

	o.Set("a", "one")
	o.Set("c", true)
	o.Delete("b")
	o.Delete("missing")
	assert.Equal(t, Object{{"a", "one"}, {"c", true}}, o)

	// MarshalJSON keeps the order inside other values too.
	b, err := json.Marshal(map[string]any{"x": Object{{"z", 1}, {"a", 2}}})
	require.NoError(t, err)
	assert.Equal(t, `{"x":{"z":1,"a":2}}`, string(b))
}
