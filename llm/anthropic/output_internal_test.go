package anthropic

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/require"
)

// FuzzToolSchema feeds untrusted schemas and tool inputs: nothing may panic,
// and every schema sent is an object schema. Error bodies and headers are
// fuzzed in package httpfailure.
func FuzzToolSchema(f *testing.F) {
	f.Add(`{"$ref":"#/$defs/A","$defs":{"A":{"type":"array"}}}`, `{"value":[1]}`)
	f.Add(`true`, `[`)
	f.Fuzz(func(t *testing.T, schema, input string) {
		if out, wrapped, err := toolSchema(json.RawMessage(schema)); err == nil {
			var root map[string]json.RawMessage
			require.NoError(t, json.Unmarshal(out, &root), "%s", out)
			require.JSONEq(t, `"object"`, string(root["type"]), "%s", out)
			_ = toolAnswer([]byte(input), wrapped)
		}
	})
}
