package notify

import (
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
)

var raNow = time.Date(2026, 11, 27, 2, 17, 0, 0, time.UTC)

func TestRetryAfter(t *testing.T) {
	for _, tc := range []struct {
		header string
		want   time.Duration
	}{
		{"", 0},
		{"120", 2 * time.Minute},
		{" 7 ", 7 * time.Second},
		{"0", 0},
		{"-5", 0},
		{"1.5", 0}, // RFC 9110 allows whole seconds only
		{"soon", 0},
		{"99999999999999999999", maxRetryAfter},
		{"86401", maxRetryAfter},
		{raNow.Add(90 * time.Second).Format(http.TimeFormat), 90 * time.Second},
		{raNow.Add(-time.Hour).Format(http.TimeFormat), 0},
		// A date far ahead must not ask for centuries: it is capped as
		// delay seconds are.
		{"Fri, 31 Dec 9999 23:59:59 GMT", maxRetryAfter},
	} {
		assert.Equal(t, tc.want, retryAfter(tc.header, raNow), "Retry-After: %q", tc.header)
	}
}

// FuzzRetryAfter feeds the receiver's Retry-After header, which is
// untrusted: parsing never panics and the wait is never negative nor more
// than maxRetryAfter, whatever the header and the clock say.
func FuzzRetryAfter(f *testing.F) {
	for _, h := range []string{
		"", "0", "120", "-1", "1.5", "+3", " 42 ", "0x10", "1e3",
		"9223372036854775807", "99999999999999999999", "-9223372036854775808",
		"Wed, 21 Oct 2015 07:28:00 GMT", "Fri, 31 Dec 9999 23:59:59 GMT",
		"Sunday, 06-Nov-94 08:49:37 GMT", "Sun Nov  6 08:49:37 1994",
		"Mon, 32 Foo 2026 99:99:99 GMT", "soon", "\x00\xff",
	} {
		f.Add(h, raNow.Unix())
	}
	f.Add("Thu, 01 Jan 1970 00:00:00 GMT", int64(-1<<62))
	f.Fuzz(func(t *testing.T, h string, unix int64) {
		d := retryAfter(h, time.Unix(unix, 0))
		if d < 0 || d > maxRetryAfter {
			t.Fatalf("retryAfter(%q) = %v, want 0..%v", h, d, maxRetryAfter)
		}
	})
}
