package anthropic

import (
	"encoding/json"
	"net/http"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestRetryAfter(t *testing.T) {
	now := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		header map[string]string
		want   time.Duration
	}{
		{map[string]string{"Retry-After": "7"}, 7 * time.Second},
		{map[string]string{"Retry-After-Ms": "250", "Retry-After": "1"}, 250 * time.Millisecond},
		{map[string]string{"Retry-After": "Thu, 01 Jan 2026 12:01:00 GMT"}, time.Minute},
		{map[string]string{"Retry-After": "-3"}, 0},
		{map[string]string{"Retry-After": "1e30"}, maxWait},
		{nil, 0},
	} {
		h := http.Header{}
		for k, v := range tc.header {
			h.Set(k, v)
		}
		assert.Equal(t, tc.want, retryAfter(h, now), "%v", tc.header)
	}
}

func TestParseErrorBody(t *testing.T) {
	assert.Equal(t, errorInfo{"Overloaded", "overloaded_error"},
		parseErrorBody([]byte(`{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"},"request_id":"req_1"}`)))
	assert.Equal(t, errorInfo{message: "upstream connect error"}, parseErrorBody([]byte("upstream connect error\n")))
	assert.Equal(t, errorInfo{message: "no tools"}, parseErrorBody([]byte(`{"error":"no tools"}`)))
}

func TestToolName(t *testing.T) {
	assert.Equal(t, "output", toolName(""))
	assert.Equal(t, "my_lead", toolName("my lead"))
	assert.Len(t, toolName(string(make([]byte, 80))), 64)
}

// FuzzUntrustedInput feeds error bodies, headers, schemas and tool inputs:
// nothing may panic, messages stay short, waits stay in range, and every
// schema sent is an object schema.
func FuzzUntrustedInput(f *testing.F) {
	f.Add([]byte(`{"type":"error","error":{"type":"x","message":"é"}}`), "2", `{"$ref":"#/$defs/A","$defs":{"A":{"type":"array"}}}`, `{"value":[1]}`)
	f.Add([]byte(`<html>`), "Wed, 21 Oct 2015 07:28:00 GMT", `true`, `[`)
	f.Fuzz(func(t *testing.T, body []byte, ra, schema, input string) {
		info := parseErrorBody(body)
		require.LessOrEqual(t, len(info.message), 510)
		if utf8.Valid(body) {
			require.True(t, utf8.ValidString(info.message))
		}
		h := http.Header{}
		h.Set("Retry-After", ra)
		d := retryAfter(h, time.Now())
		require.True(t, d >= 0 && d <= maxWait)
		if out, wrapped, err := toolSchema(json.RawMessage(schema)); err == nil {
			var root map[string]json.RawMessage
			require.NoError(t, json.Unmarshal(out, &root), "%s", out)
			require.JSONEq(t, `"object"`, string(root["type"]), "%s", out)
			_ = toolAnswer([]byte(input), wrapped)
		}
	})
}
