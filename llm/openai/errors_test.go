package openai

import (
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/plumb-dev/plumb/llm/internal/httpfailure"
)

func TestRetryAfter(t *testing.T) {
	now := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name   string
		header map[string]string
		status int
		want   time.Duration
	}{
		{"seconds", map[string]string{"Retry-After": "2"}, 429, 2 * time.Second},
		{"fractional seconds", map[string]string{"Retry-After": "0.5"}, 503, 500 * time.Millisecond},
		{"milliseconds first", map[string]string{"Retry-After-Ms": "1500", "Retry-After": "2"}, 429, 1500 * time.Millisecond},
		{"an HTTP date", map[string]string{"Retry-After": "Thu, 01 Jan 2026 12:00:30 GMT"}, 429, 30 * time.Second},
		{"garbage", map[string]string{"Retry-After": "soon", "Retry-After-Ms": "-1"}, 429, 0},
		{"NaN", map[string]string{"Retry-After": "NaN"}, 429, 0},
		{"retry-after before reset headers", map[string]string{"Retry-After": "1", "X-Ratelimit-Reset-Requests": "1m"}, 429, time.Second},
		{"the spent limit's reset", map[string]string{"X-Ratelimit-Reset-Requests": "1m", "X-Ratelimit-Remaining-Requests": "3",
			"X-Ratelimit-Reset-Tokens": "20ms", "X-Ratelimit-Remaining-Tokens": "0"}, 429, 20 * time.Millisecond},
		{"the longer reset when none says it is spent", map[string]string{"X-Ratelimit-Reset-Requests": "1m", "X-Ratelimit-Reset-Tokens": "2"}, 429, time.Minute},
		{"reset headers count only on a 429", map[string]string{"X-Ratelimit-Reset-Requests": "1m"}, 500, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := http.Header{}
			for k, v := range tc.header {
				h.Set(k, v)
			}
			assert.Equal(t, tc.want, retryAfter(h, tc.status, now))
		})
	}
}

// FuzzRetryAfter feeds untrusted wait headers: nothing may panic, waits
// stay in range. Error bodies are fuzzed in package httpfailure.
func FuzzRetryAfter(f *testing.F) {
	f.Add("2", "1500", "6m0s")
	f.Add("Wed, 21 Oct 2015 07:28:00 GMT", "1e400", "-1s")
	f.Fuzz(func(t *testing.T, ra, ms, reset string) {
		h := http.Header{}
		h.Set("Retry-After", ra)
		h.Set("Retry-After-Ms", ms)
		h.Set("X-Ratelimit-Reset-Tokens", reset)
		d := retryAfter(h, http.StatusTooManyRequests, time.Now())
		require.GreaterOrEqual(t, d, time.Duration(0))
		require.LessOrEqual(t, d, httpfailure.MaxWait)
	})
}
