package httpfailure

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"net"
	"net/http"
	"net/url"
	"syscall"
	"time"

	"github.com/plumb-dev/plumb/llm"
	"github.com/plumb-dev/plumb/retry"
)

// Classifier turns one provider's failed calls into *llm.Error values.
type Classifier struct {
	// Provider names the provider in every error.
	Provider string
	// Refine corrects the kind and class that an error answer's status gave
	// (e.StatusCode is set), from what the provider's error body says. An
	// x-should-retry header still has the last word on the class. Defaults
	// to nil: the status decides.
	Refine func(e *llm.Error, body Body)
	// Wait reads the wait an error answer asks for. Defaults to
	// RetryAfter's reading, 0 when the headers ask for none.
	Wait func(h http.Header, status int, now time.Time) time.Duration
}

// maxBody bounds how much of an error body is read.
const maxBody = 64 << 10

// Failure classifies a call that got no usable HTTP answer. res is the
// response the SDK saw, if any: its status and headers decide an HTTP
// failure, whatever the body held.
func (c Classifier) Failure(ctx context.Context, model string, err error, res *http.Response) error {
	e := &llm.Error{Provider: c.Provider, Model: model, Err: err}
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
		c.httpFailure(e, res)
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
func (c Classifier) httpFailure(e *llm.Error, res *http.Response) {
	e.StatusCode = res.StatusCode
	e.Kind, e.Class = llm.ClassOfStatus(res.StatusCode)
	var body []byte
	if res.Body != nil { // the SDK buffered it
		body, _ = io.ReadAll(io.LimitReader(res.Body, maxBody))
	}
	info := ParseBody(body)
	e.Message = info.Message
	if e.Message == "" {
		e.Message = http.StatusText(res.StatusCode)
	}
	if c.Refine != nil {
		c.Refine(e, info)
	}
	// The provider's own verdict, as its SDKs honour it.
	switch res.Header.Get("X-Should-Retry") {
	case "true":
		e.Class = retry.ClassTransient
	case "false":
		e.Class = retry.ClassPermanent
	}
	now := time.Now()
	if c.Wait != nil {
		e.After = c.Wait(res.Header, res.StatusCode, now)
	} else {
		e.After, _ = RetryAfter(res.Header, now)
	}
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
