package notify

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"
)

// Headers of a webhook request. A Webhook with a Secret signs as the
// Standard Webhooks specification says (https://www.standardwebhooks.com),
// so any of its libraries can verify Plumb's requests.
const (
	// DeliveryHeader carries an id that stays the same across the retries of
	// one event, so a receiver can drop duplicates (a retry after a timeout
	// may deliver twice). It is inside the signature.
	DeliveryHeader = standardwebhooks.HeaderWebhookID
	// TimestampHeader carries the Unix time, in seconds, of the attempt. It
	// is inside the signature, so a captured request cannot be replayed
	// with a fresh time.
	TimestampHeader = standardwebhooks.HeaderWebhookTimestamp
	// SignatureHeader carries "v1,<base64 HMAC-SHA256>" of
	// "<id>.<timestamp>.<body>" when the webhook has a secret.
	SignatureHeader = standardwebhooks.HeaderWebhookSignature
)

// DefaultSignatureTolerance is how old (or how far in the future) a signed
// timestamp may be when VerifySignature is given no tolerance. Five minutes
// covers clock skew and slow networks while keeping a captured request from
// being replayed later; it is the Standard Webhooks libraries' own.
const DefaultSignatureTolerance = 5 * time.Minute

// secretPrefix marks a Standard Webhooks secret: the rest is base64.
const secretPrefix = "whsec_"

// minSecretBytes is the shortest key the Standard Webhooks specification
// recommends (192 bits).
const minSecretBytes = 24

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

// signer parses secret. The reference library's own parser also takes a
// secret without the "whsec_" prefix and any key length; requiring both
// keeps a password-like string from being read as base64 by accident.
func signer(secret string) (*standardwebhooks.Webhook, error) {
	b64, ok := strings.CutPrefix(secret, secretPrefix)
	key, err := base64.StdEncoding.DecodeString(b64)
	if !ok || err != nil || len(key) < minSecretBytes {
		return nil, &SignatureError{Reason: SignatureBadSecret}
	}
	return standardwebhooks.NewWebhookRaw(key)
}

// Sign returns the headers that sign body as delivery id sent at t:
// webhook-id, webhook-timestamp and webhook-signature, the last being
// "v1,<base64 HMAC-SHA256(key, "<id>.<unix seconds>.<body>")>" with the
// key that secret ("whsec_<base64>") holds. The body carries the event's
// kind, so the signature covers what a receiver routes on: the delivery
// id, the time and the event.
func Sign(secret, id string, t time.Time, body []byte) (http.Header, error) {
	wh, err := signer(secret)
	if err != nil {
		return nil, err
	}
	h := http.Header{}
	if err := sign(h, wh, id, t, body); err != nil {
		return nil, err
	}
	return h, nil
}

// sign sets the three Standard Webhooks headers on h.
func sign(h http.Header, wh *standardwebhooks.Webhook, id string, t time.Time, body []byte) error {
	sig, err := wh.Sign(id, t, body)
	if err != nil {
		return err
	}
	h.Set(DeliveryHeader, id)
	h.Set(TimestampHeader, strconv.FormatInt(t.Unix(), 10))
	h.Set(SignatureHeader, sig)
	return nil
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
// The Standard Webhooks reference library computes and compares the MAC;
// the timestamp is checked here, since that library reads the system clock
// and a fixed tolerance.
func VerifySignature(secret string, header http.Header, body []byte, now time.Time, tolerance time.Duration) error {
	wh, err := signer(secret)
	if err != nil {
		return err
	}
	switch err := wh.VerifyIgnoringTimestamp(body, header); {
	case err == nil:
	case errors.Is(err, standardwebhooks.ErrRequiredHeaders):
		return &SignatureError{Reason: SignatureMissingHeader}
	case errors.Is(err, standardwebhooks.ErrInvalidHeaders):
		return &SignatureError{Reason: SignatureMalformedHeader}
	default:
		return &SignatureError{Reason: SignatureMismatch}
	}
	sec, err := strconv.ParseInt(header.Get(TimestampHeader), 10, 64)
	if err != nil {
		return &SignatureError{Reason: SignatureMalformedHeader}
	}
	if tolerance <= 0 {
		tolerance = DefaultSignatureTolerance
	}
	if age := now.Sub(time.Unix(sec, 0)); age > tolerance || age < -tolerance {
		return &SignatureError{Reason: SignatureStale}
	}
	return nil
}
