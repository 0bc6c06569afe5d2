package openai

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"io"
	"math"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"syscall"
	"time"

	sdk "github.com/openai/openai-go/v3"

	"github.com/plumb-dev/plumb/llm"
	"github.com/plumb-dev/plumb/retry"
)

// failure classifies a call that got no usable HTTP answer. res is the
// response the SDK saw, if any: its status and headers decide an HTTP
// failure, whatever the body held.
func failure(ctx context.Context, model string, err error, res *http.Response) error {
	e := &llm.Error{Provider: ProviderName, Model: model, Err: err}
	if cerr := ctx.Err(); cerr != nil {
		if errors.Is(cerr, context.Canceled) {
			// The caller gave up: not a provider failure and not worth a retry.
			e.Kind, e.Class = context.Canceled, retry.ClassCancelled
			e.Message = "the call was cancelled: " + context.Cause(ctx).Error()
			return e
		}
		e.Kind, e.Class, e.Message = llm.ErrTimeout, retry.ClassTransient, "the call's deadline passed before the answer came"
		return e
	}
	if res != nil && res.StatusCode >= 400 {
		httpFailure(e, res)
		return e
	}
	switch {
	case retry.IsTimeout(err):
		e.Kind, e.Class = llm.ErrTimeout, retry.ClassTransient
	case isNetwork(err) || (res == nil && (errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF))):
		// Once headers came, an unexpected EOF is the JSON decoder's: a bad body.
		e.Kind, e.Class = llm.ErrConnection, retry.ClassTransient
		if isBadCertificate(err) {
			e.Class = retry.ClassPermanent // retrying will not fix a certificate
		}
	case res != nil:
		// The server answered but the SDK could not read the body.
		e.Kind, e.Class, e.StatusCode = llm.ErrBadResponse, retry.ClassTransient, res.StatusCode
	default:
		// Nothing was sent: the request itself could not be built.
		e.Kind, e.Class = llm.ErrBadRequest, retry.ClassPermanent
	}
	e.Message = err.Error()
	return e
}

// httpFailure classifies an HTTP error answer.
func httpFailure(e *llm.Error, res *http.Response) {
	e.StatusCode = res.StatusCode
	e.Kind, e.Class = llm.ClassOfStatus(res.StatusCode)
	var body []byte
	if res.Body != nil { // the SDK buffered it
		body, _ = io.ReadAll(io.LimitReader(res.Body, 64<<10))
	}
	info := parseErrorBody(body)
	e.Message = info.message
	if e.Message == "" {
		e.Message = http.StatusText(res.StatusCode)
	}
	if res.StatusCode == http.StatusTooManyRequests && (info.code == "insufficient_quota" || info.typ == "insufficient_quota") {
		e.Class = retry.ClassPermanent // a spent quota does not come back by waiting
	}
	// The provider's own verdict, as its SDKs honour it.
	switch res.Header.Get("X-Should-Retry") {
	case "true":
		e.Class = retry.ClassTransient
	case "false":
		e.Class = retry.ClassPermanent
	}
	e.After = retryAfter(res.Header, res.StatusCode, time.Now())
}

// isNetwork reports a failure to reach the server or to hear its answer out.
func isNetwork(err error) bool {
	var ue *url.Error
	var oe *net.OpError
	return errors.As(err, &ue) || errors.As(err, &oe) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.ECONNREFUSED)
}

func isBadCertificate(err error) bool {
	var cv *tls.CertificateVerificationError
	var ua x509.UnknownAuthorityError
	var he x509.HostnameError
	var ci x509.CertificateInvalidError
	return errors.As(err, &cv) || errors.As(err, &ua) || errors.As(err, &he) || errors.As(err, &ci)
}

// errorParam returns the param an OpenAI error names ("response_format").
func errorParam(e *llm.Error) string {
	var ae *sdk.Error
	if errors.As(e.Err, &ae) {
		return ae.Param
	}
	return ""
}

type errorInfo struct{ message, typ, code string }

// parseErrorBody reads an error body in whichever shape the server used:
// OpenAI's {"error": {"message", "type", "code"}}, {"error": "text"},
// {"message": ...} or {"detail": ...} (FastAPI-based servers), or plain
// text and HTML from a proxy.
func parseErrorBody(body []byte) errorInfo {
	var env struct {
		Error   json.RawMessage `json:"error"`
		Message json.RawMessage `json:"message"`
		Detail  json.RawMessage `json:"detail"`
	}
	if json.Unmarshal(body, &env) == nil {
		var obj struct {
			Message json.RawMessage `json:"message"`
			Type    string          `json:"type"`
			Code    json.RawMessage `json:"code"`
		}
		if json.Unmarshal(env.Error, &obj) == nil && (obj.Message != nil || obj.Type != "") {
			return errorInfo{message: jsonText(obj.Message), typ: obj.Type, code: jsonText(obj.Code)}
		}
		for _, raw := range []json.RawMessage{env.Error, env.Message, env.Detail} {
			if s := jsonText(raw); s != "" {
				return errorInfo{message: s}
			}
		}
	}
	return errorInfo{message: clip(strings.Join(strings.Fields(string(body)), " "))}
}

// jsonText returns a JSON string's text, or any other non-null value as JSON.
func jsonText(raw json.RawMessage) string {
	if len(raw) == 0 || string(raw) == "null" {
		return ""
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return clip(s)
	}
	return clip(string(raw))
}

// clip keeps error messages to a readable size.
func clip(s string) string {
	const limit = 500
	if len(s) <= limit {
		return s
	}
	cut := limit
	for cut > 0 && !isRuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}

func isRuneStart(b byte) bool { return b&0xC0 != 0x80 }

// maxWait bounds a server's wait, so that a silly value cannot overflow.
const maxWait = 24 * time.Hour

// retryAfter reads the wait a response asks for: retry-after-ms (the more
// precise), then retry-after in seconds or as an HTTP date, then, on a 429,
// OpenAI's x-ratelimit-reset-* headers.
func retryAfter(h http.Header, status int, now time.Time) time.Duration {
	if d, ok := seconds(h.Get("Retry-After-Ms"), time.Millisecond); ok {
		return d
	}
	if v := h.Get("Retry-After"); v != "" {
		if d, ok := seconds(v, time.Second); ok {
			return d
		}
		if t, err := http.ParseTime(v); err == nil {
			return min(max(t.Sub(now), 0), maxWait)
		}
	}
	if status == http.StatusTooManyRequests {
		return rateLimitReset(h)
	}
	return 0
}

// seconds parses a non-negative number of units.
func seconds(v string, unit time.Duration) (time.Duration, bool) {
	if v == "" {
		return 0, false
	}
	f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
	if err != nil || math.IsNaN(f) || f < 0 {
		return 0, false
	}
	if f*float64(unit) >= float64(maxWait) {
		return maxWait, true
	}
	return time.Duration(f * float64(unit)), true
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
			if d, ok = seconds(v, time.Second); !ok {
				continue
			}
		}
		d = min(max(d, 0), maxWait)
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
