package anthropic

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
	// Anthropic's error type is more precise than the status: an overloaded
	// API may answer 500 or 529 with {"type": "overloaded_error"}.
	switch info.typ {
	case "overloaded_error":
		e.Kind, e.Class = llm.ErrOverloaded, retry.ClassTransient
	case "rate_limit_error":
		e.Kind, e.Class = llm.ErrRateLimited, retry.ClassTransient
	case "timeout_error":
		e.Kind, e.Class = llm.ErrTimeout, retry.ClassTransient
	}
	// The provider's own verdict, as its SDKs honour it.
	switch res.Header.Get("X-Should-Retry") {
	case "true":
		e.Class = retry.ClassTransient
	case "false":
		e.Class = retry.ClassPermanent
	}
	e.After = retryAfter(res.Header, time.Now())
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

type errorInfo struct{ message, typ string }

// parseErrorBody reads an error body in whichever shape the server used:
// Anthropic's {"type": "error", "error": {"type", "message"}}, a gateway's
// {"error": "text"}, {"message": ...} or {"detail": ...}, or plain text and
// HTML from a proxy.
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
		}
		if json.Unmarshal(env.Error, &obj) == nil && (obj.Message != nil || obj.Type != "") {
			return errorInfo{message: jsonText(obj.Message), typ: obj.Type}
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
// precise), then retry-after in seconds or as an HTTP date.
func retryAfter(h http.Header, now time.Time) time.Duration {
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
