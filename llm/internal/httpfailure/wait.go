package httpfailure

import (
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// MaxWait bounds a server's wait, so that a silly value cannot overflow.
const MaxWait = 24 * time.Hour

// RetryAfter reads the wait a response's standard headers ask for:
// retry-after-ms (the more precise), then retry-after in seconds or as an
// HTTP date, a date already past being no wait. ok is false, and the wait
// 0, when neither header is there in a form it reads.
func RetryAfter(h http.Header, now time.Time) (wait time.Duration, ok bool) {
	if d, ok := ParseWait(h.Get("Retry-After-Ms"), time.Millisecond); ok {
		return d, true
	}
	if v := h.Get("Retry-After"); v != "" {
		if d, ok := ParseWait(v, time.Second); ok {
			return d, true
		}
		if t, err := http.ParseTime(v); err == nil {
			return min(max(t.Sub(now), 0), MaxWait), true
		}
	}
	return 0, false
}

// ParseWait parses a non-negative number of units ("2", "0.5"), up to
// MaxWait.
func ParseWait(v string, unit time.Duration) (time.Duration, bool) {
	if v == "" {
		return 0, false
	}
	f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
	if err != nil || math.IsNaN(f) || f < 0 {
		return 0, false
	}
	if f*float64(unit) >= float64(MaxWait) {
		return MaxWait, true
	}
	return time.Duration(f * float64(unit)), true
}
