package httpfailure

import (
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
)

func TestRetryAfter(t *testing.T) {
	now := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name   string
		header map[string]string
		want   time.Duration
		ok     bool
	}{
		{"seconds", map[string]string{"Retry-After": "7"}, 7 * time.Second, true},
		{"fractional seconds", map[string]string{"Retry-After": "0.5"}, 500 * time.Millisecond, true},
		{"spaces around a number", map[string]string{"Retry-After": " 3 "}, 3 * time.Second, true},
		{"zero", map[string]string{"Retry-After": "0"}, 0, true},
		{"milliseconds first", map[string]string{"Retry-After-Ms": "250", "Retry-After": "1"}, 250 * time.Millisecond, true},
		{"milliseconds alone", map[string]string{"Retry-After-Ms": "1500"}, 1500 * time.Millisecond, true},
		{"unreadable milliseconds fall back to seconds", map[string]string{"Retry-After-Ms": "-1", "Retry-After": "2"}, 2 * time.Second, true},
		{"an HTTP date", map[string]string{"Retry-After": "Thu, 01 Jan 2026 12:01:00 GMT"}, time.Minute, true},
		{"a date already past", map[string]string{"Retry-After": "Wed, 21 Oct 2015 07:28:00 GMT"}, 0, true},
		{"a date too far ahead", map[string]string{"Retry-After": "Fri, 01 Jan 2027 12:00:00 GMT"}, MaxWait, true},
		{"a number too large to represent", map[string]string{"Retry-After": "1e30"}, MaxWait, true},
		{"milliseconds too large", map[string]string{"Retry-After-Ms": "1e300"}, MaxWait, true},
		{"negative", map[string]string{"Retry-After": "-3"}, 0, false},
		{"NaN", map[string]string{"Retry-After": "NaN"}, 0, false},
		{"infinity", map[string]string{"Retry-After": "+Inf"}, MaxWait, true},
		{"garbage", map[string]string{"Retry-After": "soon", "Retry-After-Ms": "-1"}, 0, false},
		{"none", nil, 0, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := http.Header{}
			for k, v := range tc.header {
				h.Set(k, v)
			}
			got, ok := RetryAfter(h, now)
			assert.Equal(t, tc.want, got)
			assert.Equal(t, tc.ok, ok)
		})
	}
}

func TestParseWait(t *testing.T) {
	for _, tc := range []struct {
		in   string
		unit time.Duration
		want time.Duration
		ok   bool
	}{
		{"2", time.Second, 2 * time.Second, true},
		{"2", time.Millisecond, 2 * time.Millisecond, true},
		{"0.25", time.Second, 250 * time.Millisecond, true},
		{"86400", time.Second, MaxWait, true},
		{"", time.Second, 0, false},
		{"1s", time.Second, 0, false},
		{"-0.1", time.Second, 0, false},
	} {
		got, ok := ParseWait(tc.in, tc.unit)
		assert.Equal(t, tc.want, got, "%q", tc.in)
		assert.Equal(t, tc.ok, ok, "%q", tc.in)
	}
}
