package httpfailure

import (
	"context"
	"crypto/x509"
	"errors"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/plumb-dev/plumb/llm"
	"github.com/plumb-dev/plumb/retry"
)

// answer is an error answer as an SDK hands it over: status, headers and
// the buffered body.
func answer(status int, header map[string]string, body string) *http.Response {
	res := &http.Response{StatusCode: status, Header: http.Header{}, Body: io.NopCloser(strings.NewReader(body))}
	for k, v := range header {
		res.Header.Set(k, v)
	}
	return res
}

// timeoutError is a net.Error that timed out, as a client timeout is.
type timeoutError struct{}

func (timeoutError) Error() string   { return "i/o timeout" }
func (timeoutError) Timeout() bool   { return true }
func (timeoutError) Temporary() bool { return true }

var _ net.Error = timeoutError{}

func TestFailureWithoutAnHTTPError(t *testing.T) {
	post := func(err error) error { return &url.Error{Op: "Post", URL: "http://x/v1", Err: err} }
	for _, tc := range []struct {
		name   string
		err    error
		res    *http.Response
		kind   error
		class  retry.Class
		status int
	}{
		{"a client timeout", post(timeoutError{}), nil, llm.ErrTimeout, retry.ClassTransient, 0},
		{"a deadline inside the SDK", context.DeadlineExceeded, nil, llm.ErrTimeout, retry.ClassTransient, 0},
		{"a refused connection", post(&net.OpError{Op: "dial", Err: syscall.ECONNREFUSED}), nil, llm.ErrConnection, retry.ClassTransient, 0},
		{"a reset connection", syscall.ECONNRESET, nil, llm.ErrConnection, retry.ClassTransient, 0},
		{"a connection closed before the answer", io.EOF, nil, llm.ErrConnection, retry.ClassTransient, 0},
		{"an answer cut before its headers", io.ErrUnexpectedEOF, nil, llm.ErrConnection, retry.ClassTransient, 0},
		{"an unknown certificate authority", post(x509.UnknownAuthorityError{}), nil, llm.ErrConnection, retry.ClassPermanent, 0},
		{"a certificate for another host", post(x509.HostnameError{Certificate: &x509.Certificate{}, Host: "x"}), nil, llm.ErrConnection, retry.ClassPermanent, 0},
		{"a body cut after the headers", io.ErrUnexpectedEOF, &http.Response{StatusCode: 200}, llm.ErrBadResponse, retry.ClassTransient, 200},
		{"a body that is not JSON", errors.New("invalid character '<'"), &http.Response{StatusCode: 200}, llm.ErrBadResponse, retry.ClassTransient, 200},
		{"a request that could not be built", errors.New("cannot marshal params"), nil, llm.ErrBadRequest, retry.ClassPermanent, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := Classifier{Provider: "p"}.Failure(context.Background(), "m", tc.err, tc.res)
			var le *llm.Error
			require.ErrorAs(t, err, &le)
			assert.ErrorIs(t, err, tc.kind)
			assert.Equal(t, tc.class, le.Class)
			assert.Equal(t, tc.status, le.StatusCode)
			assert.Equal(t, "p", le.Provider)
			assert.Equal(t, "m", le.Model)
			assert.Equal(t, tc.err.Error(), le.Message)
			assert.ErrorIs(t, err, tc.err, "the cause stays reachable")
		})
	}
}

// The caller's context decides before anything the SDK saw.
func TestFailureAfterTheCallerGaveUp(t *testing.T) {
	ctx, cancel := context.WithCancelCause(context.Background())
	cancel(errors.New("shutting down"))
	err := Classifier{Provider: "p"}.Failure(ctx, "m", context.Canceled, answer(500, nil, "boom"))
	var le *llm.Error
	require.ErrorAs(t, err, &le)
	assert.ErrorIs(t, err, context.Canceled)
	assert.Equal(t, retry.ClassCancelled, le.Class)
	assert.Equal(t, "the call was cancelled: shutting down", le.Message)
	assert.Zero(t, le.StatusCode)

	ctx, stop := context.WithDeadline(context.Background(), time.Now().Add(-time.Second))
	defer stop()
	err = Classifier{Provider: "p"}.Failure(ctx, "m", context.DeadlineExceeded, nil)
	require.ErrorAs(t, err, &le)
	assert.ErrorIs(t, err, llm.ErrTimeout)
	assert.Equal(t, retry.ClassTransient, le.Class)
	assert.Equal(t, "the call's deadline passed before the answer came", le.Message)
}

func TestHTTPFailure(t *testing.T) {
	// refine stands for a provider's own error types.
	refine := func(e *llm.Error, body Body) {
		if body.Type == "overloaded_error" {
			e.Kind, e.Class = llm.ErrOverloaded, retry.ClassTransient
		}
		if e.StatusCode == 429 && body.Code == "insufficient_quota" {
			e.Class = retry.ClassPermanent
		}
	}
	for _, tc := range []struct {
		name    string
		status  int
		header  map[string]string
		body    string
		kind    error
		class   retry.Class
		after   time.Duration
		message string
	}{
		{name: "the status decides", status: 401, body: `{"error":{"message":"bad key"}}`,
			kind: llm.ErrAuth, class: retry.ClassPermanent, message: "bad key"},
		{name: "the status text when the body says nothing", status: 503,
			kind: llm.ErrOverloaded, class: retry.ClassTransient, message: "Service Unavailable"},
		{name: "retry-after is read", status: 429, header: map[string]string{"Retry-After": "3"}, body: "{}",
			kind: llm.ErrRateLimited, class: retry.ClassTransient, after: 3 * time.Second, message: "{}"},
		{name: "the body refines the status", status: 500, body: `{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}`,
			kind: llm.ErrOverloaded, class: retry.ClassTransient, message: "Overloaded"},
		{name: "the body refines the class", status: 429, body: `{"error":{"message":"quota","code":"insufficient_quota"}}`,
			kind: llm.ErrRateLimited, class: retry.ClassPermanent, message: "quota"},
		{name: "x-should-retry true overrides the status", status: 400, header: map[string]string{"X-Should-Retry": "true"},
			body: `{"error":{"message":"try again"}}`, kind: llm.ErrBadRequest, class: retry.ClassTransient, message: "try again"},
		{name: "x-should-retry false overrides the refinement", status: 529, header: map[string]string{"X-Should-Retry": "false"},
			body: `{"error":{"type":"overloaded_error","message":"Overloaded"}}`, kind: llm.ErrOverloaded, class: retry.ClassPermanent, message: "Overloaded"},
		{name: "x-should-retry true overrides a spent quota", status: 429, header: map[string]string{"X-Should-Retry": "true"},
			body: `{"error":{"message":"quota","code":"insufficient_quota"}}`, kind: llm.ErrRateLimited, class: retry.ClassTransient, message: "quota"},
		{name: "any other x-should-retry is ignored", status: 500, header: map[string]string{"X-Should-Retry": "maybe"},
			body: "oops", kind: llm.ErrServer, class: retry.ClassTransient, message: "oops"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cause := errors.New("sdk error")
			err := Classifier{Provider: "p", Refine: refine}.Failure(context.Background(), "m", cause, answer(tc.status, tc.header, tc.body))
			var le *llm.Error
			require.ErrorAs(t, err, &le)
			assert.ErrorIs(t, err, tc.kind)
			assert.ErrorIs(t, err, cause)
			assert.Equal(t, tc.class, le.Class)
			assert.Equal(t, tc.status, le.StatusCode)
			assert.Equal(t, tc.after, le.After)
			assert.Equal(t, tc.message, le.Message)
		})
	}
}

func TestHTTPFailureWait(t *testing.T) {
	var gotStatus int
	c := Classifier{Provider: "p", Wait: func(h http.Header, status int, now time.Time) time.Duration {
		gotStatus = status
		if d, ok := RetryAfter(h, now); ok {
			return d
		}
		return time.Minute
	}}
	var le *llm.Error
	require.ErrorAs(t, c.Failure(context.Background(), "m", errors.New("x"), answer(429, nil, "")), &le)
	assert.Equal(t, time.Minute, le.After, "the provider's own reading")
	assert.Equal(t, 429, gotStatus)
	require.ErrorAs(t, c.Failure(context.Background(), "m", errors.New("x"), answer(503, map[string]string{"Retry-After-Ms": "20"}, "")), &le)
	assert.Equal(t, 20*time.Millisecond, le.After)
}

// Only the first 64 KiB of a body are read: a proxy's huge page costs no
// more than that.
func TestHTTPFailureReadsABoundedBody(t *testing.T) {
	body := strings.Repeat("a", maxBody) + " tail"
	var le *llm.Error
	require.ErrorAs(t, Classifier{Provider: "p"}.Failure(context.Background(), "m", errors.New("x"), answer(502, nil, body)), &le)
	assert.NotContains(t, le.Message, "tail")
	assert.LessOrEqual(t, len(le.Message), 510)

	// An SDK that kept no body still gets a classification.
	res := answer(502, nil, "")
	res.Body = nil
	require.ErrorAs(t, Classifier{Provider: "p"}.Failure(context.Background(), "m", errors.New("x"), res), &le)
	assert.Equal(t, "Bad Gateway", le.Message)
}
