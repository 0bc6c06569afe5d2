package openai

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
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

// explainNotFound says what to change when a 404 comes from a BaseURL
// without an API version in its path: compatible servers (vLLM, Ollama, LM
// Studio) serve the API under /v1 and answer a bare "404 page not found"
// elsewhere, which names neither the URL nor the fix.
func (m *Model) explainNotFound(err error, res *http.Response) {
	var e *llm.Error
	if !errors.As(err, &e) || e.StatusCode != http.StatusNotFound || hasVersion(m.baseURL) {
		return
	}
	target := ""
	if res != nil && res.Request != nil && res.Request.URL != nil {
		target = " for " + res.Request.URL.Redacted()
	}
	hint := fmt.Sprintf("the server answered 404 Not Found%s; the BaseURL %s has no /v1: OpenAI-compatible servers serve the API under /v1, try %s/v1",
		target, m.baseURL, strings.TrimRight(m.baseURL, "/"))
	if e.Message != "" && e.Message != http.StatusText(http.StatusNotFound) {
		hint += " (the server said: " + e.Message + ")"
	}
	e.Message = hint
}

// hasVersion reports whether a base URL's path has a version segment
// ("/v1", "/api/v1", "/v1beta/openai"): then a 404 is about something else,
// such as an unknown model.
func hasVersion(baseURL string) bool {
	u, err := url.Parse(baseURL)
	if err != nil {
		return false
	}
	for seg := range strings.SplitSeq(u.Path, "/") {
		if len(seg) >= 2 && seg[0] == 'v' && seg[1] >= '0' && seg[1] <= '9' {
			return true
		}
	}
	return false
}
