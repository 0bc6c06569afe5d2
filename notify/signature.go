package notify

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"net/http"
	"time"

	"github.com/plumb-dev/plumb/internal/stdwebhook"
)

// Headers of a webhook request. A Webhook with a Secret signs as the
// Standard Webhooks specification says (https://www.standardwebhooks.com),
// so any of its libraries can verify Plumb's requests.
const (
	// DeliveryHeader carries an id that stays the same across the retries of
	// one event, so a receiver can drop duplicates (a retry after a timeout
	// may deliver twice). It is inside the signature.
	DeliveryHeader = stdwebhook.IDHeader
	// TimestampHeader carries the Unix time, in seconds, of the attempt. It
	// is inside the signature, so a captured request cannot be replayed
	// with a fresh time.
	TimestampHeader = stdwebhook.TimestampHeader
	// SignatureHeader carries "v1,<base64 HMAC-SHA256>" of
	// "<id>.<timestamp>.<body>" when the webhook has a secret.
	SignatureHeader = stdwebhook.SignatureHeader
)

// DefaultSignatureTolerance is how old (or how far in the future) a signed
// timestamp may be when VerifySignature is given no tolerance. Five minutes
// covers clock skew and slow networks while keeping a captured request from
// being replayed later; it is the Standard Webhooks libraries' own.
const DefaultSignatureTolerance = stdwebhook.DefaultTolerance

// secretPrefix marks a Standard Webhooks secret: the rest is base64.
const secretPrefix = stdwebhook.SecretPrefix

// ErrBadSignature is matched by every *SignatureError.
var ErrBadSignature = errors.New("bad webhook signature")

// SignatureReason says why VerifySignature rejected a request.
type SignatureReason string

// The reasons of a *SignatureError.
const (
	// SignatureBadSecret: the secret is empty or not "whsec_" followed by
	// the base64 of at least 24 bytes.
	SignatureBadSecret SignatureReason = "bad secret"
	// SignatureMissingHeader: webhook-id, webhook-timestamp or
	// webhook-signature is absent.
	SignatureMissingHeader SignatureReason = "missing header"
	// SignatureMalformedHeader: webhook-timestamp is not Unix seconds.
	SignatureMalformedHeader SignatureReason = "malformed header"
	// SignatureStale: the timestamp is further from now than the tolerance.
	SignatureStale SignatureReason = "timestamp outside tolerance"
	// SignatureMismatch: no v1 signature matches id, timestamp and body.
	SignatureMismatch SignatureReason = "signature mismatch"
)

// SignatureError says why a webhook signature was rejected.
type SignatureError struct {
	Reason SignatureReason
}

func (e *SignatureError) Error() string { return "notify: bad webhook signature: " + string(e.Reason) }

// Is reports whether target is ErrBadSignature.
func (e *SignatureError) Is(target error) bool { return target == ErrBadSignature }

// NewSecret returns a fresh random secret in the Standard Webhooks form:
// "whsec_" and the base64 of 32 bytes. Give the same string to the
// Webhook (WebhookConfig.Secret) and to the receiver.
func NewSecret() string {
	key := make([]byte, 32)
	_, _ = rand.Read(key) // crypto/rand.Read never fails
	return secretPrefix + base64.StdEncoding.EncodeToString(key)
}

// signer parses secret (see stdwebhook.ParseSecret).
func signer(secret string) (*stdwebhook.Key, error) {
	k, err := stdwebhook.ParseSecret(secret)
	if err != nil {
		return nil, &SignatureError{Reason: SignatureBadSecret}
	}
	return &k, nil
}

// Sign returns the headers that sign body as delivery id sent at t:
// webhook-id, webhook-timestamp and webhook-signature, the last being
// "v1,<base64 HMAC-SHA256(key, "<id>.<unix seconds>.<body>")>" with the
// key that secret ("whsec_<base64>") holds. The body carries the event's
// kind, so the signature covers what a receiver routes on: the delivery
// id, the time and the event.
func Sign(secret, id string, t time.Time, body []byte) (http.Header, error) {
	k, err := signer(secret)
	if err != nil {
		return nil, err
	}
	h := http.Header{}
	if err := k.Sign(h, id, t, body); err != nil {
		return nil, err
	}
	return h, nil
}

// VerifySignature checks a webhook request's webhook-id, webhook-timestamp
// and webhook-signature headers against its raw body, as a receiver must
// before it trusts it; route on the kind in the verified body. It rejects
// a timestamp further than tolerance from now (DefaultSignatureTolerance
// when tolerance is not positive) and compares MACs in constant time.
// Several space-separated signatures are allowed, any one matching, so
// that a sender may sign with an old and a new secret while the secret is
// rotated. A rejection is a *SignatureError.
//
// The Standard Webhooks reference library computes and compares the MAC
// (internal/stdwebhook, which package intake's receivers share); the
// timestamp is checked there, since that library reads the system clock
// and a fixed tolerance.
func VerifySignature(secret string, header http.Header, body []byte, now time.Time, tolerance time.Duration) error {
	k, err := signer(secret)
	if err != nil {
		return err
	}
	var se *stdwebhook.Error
	if err := stdwebhook.Verify([]stdwebhook.Key{*k}, header, body, now, tolerance); errors.As(err, &se) {
		return &SignatureError{Reason: SignatureReason(se.Reason)}
	} else if err != nil {
		return &SignatureError{Reason: SignatureMismatch}
	}
	return nil
}
