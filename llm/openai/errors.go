package openai

import (
	"errors"
	"net/http"
	"time"

	sdk "github.com/openai/openai-go/v3"

	"github.com/plumb-dev/plumb/llm"
	"github.com/plumb-dev/plumb/llm/internal/httpfailure"
	"github.com/plumb-dev/plumb/retry"
)

// classifier classifies failed calls the way every adapter does, with
// OpenAI's spent quota and rate-limit reset headers.
var classifier = httpfailure.Classifier{Provider: ProviderName, Refine: refine, Wait: retryAfter}

// refine reads OpenAI's error codes.
func refine(e *llm.Error, body httpfailure.Body) {
	if e.StatusCode == http.StatusTooManyRequests && (body.Code == "insufficient_quota" || body.Type == "insufficient_quota") {
		e.Class = retry.ClassPermanent // a spent quota does not come back by waiting
	}
}

// errorParam returns the param an OpenAI error names ("response_format").
func errorParam(e *llm.Error) string {
	var ae *sdk.Error
	if errors.As(e.Err, &ae) {
		return ae.Param
	}
	return ""
}

// retryAfter reads the wait a response asks for: the standard headers
// first, then, on a 429, OpenAI's x-ratelimit-reset-* headers.
func retryAfter(h http.Header, status int, now time.Time) time.Duration {
	if d, ok := httpfailure.RetryAfter(h, now); ok {
		return d
	}
	if status == http.StatusTooManyRequests {
		return rateLimitReset(h)
	}
	return 0
}

// rateLimitReset reads x-ratelimit-reset-requests and -tokens ("1s",
// "6m0s"): the wait for the limit that is spent, or the longer one when the
// remaining counts do not say which.
func rateLimitReset(h http.Header) time.Duration {
	var spent, longest time.Duration
	for _, limit := range []string{"requests", "tokens"} {
		v := h.Get("X-Ratelimit-Reset-" + limit)
		if v == "" {
			continue
		}
		d, err := time.ParseDuration(v)
		if err != nil {
			var ok bool
			if d, ok = httpfailure.ParseWait(v, time.Second); !ok {
				continue
			}
		}
		d = min(max(d, 0), httpfailure.MaxWait)
		longest = max(longest, d)
		if h.Get("X-Ratelimit-Remaining-"+limit) == "0" {
			spent = max(spent, d)
		}
	}
	if spent > 0 {
		return spent
	}
	return longest
}
