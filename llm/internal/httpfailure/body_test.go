package httpfailure

import (
	"net/http"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestParseBody(t *testing.T) {
	for _, tc := range []struct {
		name, body string
		want       Body
	}{
		{"OpenAI's envelope", `{"error":{"message":"m","type":"t","code":"c","param":"p"}}`, Body{"m", "t", "c"}},
		{"a numeric code", `{"error":{"message":"m","type":"t","code":429}}`, Body{"m", "t", "429"}},
		{"Anthropic's envelope", `{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"},"request_id":"req_1"}`,
			Body{Message: "Overloaded", Type: "overloaded_error"}},
		{"a type without a message", `{"error":{"type":"server_error"}}`, Body{Type: "server_error"}},
		{"a structured message", `{"error":{"message":{"why":"x"}}}`, Body{Message: `{"why":"x"}`}},
		{"an error given as a string", `{"error":"plain"}`, Body{Message: "plain"}},
		{"a top-level message", `{"message":"top level"}`, Body{Message: "top level"}},
		{"a FastAPI detail", `{"detail":"Not Found"}`, Body{Message: "Not Found"}},
		{"a FastAPI detail list", `{"detail":[{"msg":"field required"}]}`, Body{Message: `[{"msg":"field required"}]`}},
		{"an HTML page", "<html>\n  <h1>502</h1>\n</html>", Body{Message: "<html> <h1>502</h1> </html>"}},
		{"plain text", "upstream connect error\n", Body{Message: "upstream connect error"}},
		{"null fields", `{"error":null,"message":null}`, Body{Message: `{"error":null,"message":null}`}},
		{"an empty body", ``, Body{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			assert.Equal(t, tc.want, ParseBody([]byte(tc.body)))
		})
	}
}

func TestParseBodyClipsLongMessages(t *testing.T) {
	long := strings.Repeat("é", 400) // 800 bytes: the cut falls inside a rune
	got := ParseBody([]byte(`{"error":{"message":"` + long + `"}}`)).Message
	assert.True(t, utf8.ValidString(got))
	assert.True(t, strings.HasSuffix(got, "…"))
	assert.Equal(t, strings.Repeat("é", 250)+"…", got)
	assert.Equal(t, strings.Repeat("x", 500), ParseBody([]byte(strings.Repeat("x", 500))).Message, "500 bytes fit")
}

// FuzzUntrustedInput feeds error bodies and wait headers: nothing may
// panic, messages stay short and valid, waits stay in range.
func FuzzUntrustedInput(f *testing.F) {
	f.Add([]byte(`{"error":{"message":"x","code":1}}`), "2", "1500")
	f.Add([]byte(`{"type":"error","error":{"type":"x","message":"é"}}`), "Wed, 21 Oct 2015 07:28:00 GMT", "1e400")
	f.Add([]byte(`<html>`), "1e30", "NaN")
	f.Fuzz(func(t *testing.T, body []byte, ra, ms string) {
		info := ParseBody(body)
		require.LessOrEqual(t, len(info.Message), 510)
		if utf8.Valid(body) {
			require.True(t, utf8.ValidString(info.Message))
		}
		h := http.Header{}
		h.Set("Retry-After", ra)
		h.Set("Retry-After-Ms", ms)
		d, ok := RetryAfter(h, time.Now())
		require.True(t, d >= 0 && d <= MaxWait, "%v", d)
		if !ok {
			require.Zero(t, d)
		}
	})
}
