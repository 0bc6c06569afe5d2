package llm

import (
	"errors"
	"fmt"
	"time"

	"github.com/plumb-dev/plumb/retry"
)

// Sentinels for the ways a model call fails. Each *Error also matches the
// retry sentinel of its class: errors.Is(err, retry.ErrTransient) holds for a
// 429, errors.Is(err, ErrRateLimited) says which transient failure it was. A
// model that declines to answer is retry.ErrRefusal, the one refusal
// sentinel; ErrModelNotFound is a missing model or endpoint, not to be
// confused with store.ErrNotFound, a missing record.
var (
	ErrRateLimited   = errors.New("rate limited")
	ErrOverloaded    = errors.New("provider overloaded")
	ErrServer        = errors.New("provider server error")
	ErrTimeout       = errors.New("model call timed out")
	ErrConnection    = errors.New("connection to provider failed")
	ErrBadResponse   = errors.New("malformed response from provider")
	ErrBadRequest    = errors.New("request refused as invalid")
	ErrAuth          = errors.New("authentication or permission refused")
	ErrModelNotFound = errors.New("model or endpoint not found")
	ErrContentFilter = errors.New("answer blocked by content filter")
	ErrTruncated     = errors.New("answer cut off at the token limit")
)

// Error is a failed model call, classified. Adapters return it for every
// failure, so that the step around them knows whether to retry (Class
// transient, honouring RetryAfter), give up (permanent), route to review
// (refusal) or re-ask (contract: a truncated answer).
type Error struct {
	// Provider and Model name the call.
	Provider string
	Model    string
	// Kind is one of this package's sentinels (ErrRateLimited,
	// ErrContentFilter...), retry.ErrRefusal when the model declined to
	// answer (with Class retry.ClassRefusal: there is one refusal
	// sentinel), or context.Canceled when the caller cancelled the call
	// (with Class retry.ClassCancelled).
	Kind error
	// Class decides the path: retry.ClassTransient, ClassPermanent,
	// ClassRefusal or ClassContract.
	Class retry.Class
	// StatusCode is the HTTP status, 0 when the call got no answer.
	StatusCode int
	// Message is what the provider said, or what went wrong.
	Message string
	// After is the wait the provider asked for (Retry-After), zero when none.
	After time.Duration
	// Err is the underlying error, if any.
	Err error
}

func (e *Error) Error() string {
	s := e.Provider
	if e.Model != "" {
		s += " " + e.Model
	}
	s += ": " + e.Kind.Error()
	if e.StatusCode != 0 {
		s += fmt.Sprintf(" (HTTP %d)", e.StatusCode)
	}
	if e.Message != "" {
		s += ": " + e.Message
	}
	if e.After > 0 {
		s += fmt.Sprintf("; retry after %s", e.After)
	}
	return s
}

// Unwrap returns the underlying error.
func (e *Error) Unwrap() error { return e.Err }

// Is matches the error's Kind and its class's retry sentinel.
func (e *Error) Is(target error) bool {
	return target != nil && (target == e.Kind || target == e.Class.Sentinel())
}

// RetryAfter returns the wait the provider asked for.
func (e *Error) RetryAfter() time.Duration { return e.After }

// ClassOfStatus maps an HTTP status from a provider to a Kind and a Class:
// 429 rate limited and 408/409/5xx (529 overloaded) transient; 400, 401,
// 403, 404, 422 and other 4xx permanent.
func ClassOfStatus(status int) (kind error, class retry.Class) {
	switch {
	case status == 429:
		return ErrRateLimited, retry.ClassTransient
	case status == 529:
		return ErrOverloaded, retry.ClassTransient
	case status == 503:
		return ErrOverloaded, retry.ClassTransient
	case status == 408:
		return ErrTimeout, retry.ClassTransient
	case status == 409:
		return ErrServer, retry.ClassTransient
	case status >= 500:
		return ErrServer, retry.ClassTransient
	case status == 401 || status == 403:
		return ErrAuth, retry.ClassPermanent
	case status == 404:
		return ErrModelNotFound, retry.ClassPermanent
	case status >= 400:
		return ErrBadRequest, retry.ClassPermanent
	}
	return ErrBadResponse, retry.ClassTransient
}
