package stdwebhook

import (
	"encoding/base64"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"
)

// The headers of a signed request.
const (
	IDHeader        = standardwebhooks.HeaderWebhookID
	TimestampHeader = standardwebhooks.HeaderWebhookTimestamp
	SignatureHeader = standardwebhooks.HeaderWebhookSignature
)

// DefaultTolerance is how far from now a signed timestamp may be, both
// ways: the reference libraries' own.
const DefaultTolerance = 5 * time.Minute

// SecretPrefix marks a Standard Webhooks secret: the rest is base64.
const SecretPrefix = "whsec_"

// MinKeyBytes is the shortest key the specification recommends (192 bits).
const MinKeyBytes = 24

// Reason says why a secret or a request was refused.
type Reason string

// The reasons of an *Error.
const (
	BadSecret       Reason = "bad secret"
	MissingHeader   Reason = "missing header"
	MalformedHeader Reason = "malformed header"
	Stale           Reason = "timestamp outside tolerance"
	Mismatch        Reason = "signature mismatch"
)

// Error is a refusal with its reason; callers turn it into their own
// typed error.
type Error struct{ Reason Reason }

func (e *Error) Error() string { return "standard webhooks: " + string(e.Reason) }

// Key is a parsed secret.
type Key struct{ wh *standardwebhooks.Webhook }

// ParseSecret parses "whsec_" followed by the base64 of at least
// MinKeyBytes bytes. The reference library's own parser also takes a
// secret without the prefix and any key length; requiring both keeps a
// password-like string from being read as base64 by accident.
func ParseSecret(secret string) (Key, error) {
	b64, ok := strings.CutPrefix(secret, SecretPrefix)
	key, err := base64.StdEncoding.DecodeString(b64)
	if !ok || err != nil || len(key) < MinKeyBytes {
		return Key{}, &Error{Reason: BadSecret}
	}
	wh, err := standardwebhooks.NewWebhookRaw(key)
	if err != nil {
		return Key{}, &Error{Reason: BadSecret}
	}
	return Key{wh: wh}, nil
}

// Sign sets the three headers on h: body signed as delivery id sent at t.
func (k Key) Sign(h http.Header, id string, t time.Time, body []byte) error {
	sig, err := k.wh.Sign(id, t, body)
	if err != nil {
		return err
	}
	h.Set(IDHeader, id)
	h.Set(TimestampHeader, strconv.FormatInt(t.Unix(), 10))
	h.Set(SignatureHeader, sig)
	return nil
}

// Verify checks header and body against every key, any one matching any
// of the space-separated "v1,<base64>" signatures, then the timestamp
// against now (DefaultTolerance when tolerance is not positive). The MAC
// comes first, so that an unsigned request learns nothing of the clock.
// A refusal is an *Error.
func Verify(keys []Key, header http.Header, body []byte, now time.Time, tolerance time.Duration) error {
	if len(keys) == 0 {
		return &Error{Reason: BadSecret}
	}
	matched := false
	for _, k := range keys {
		switch err := k.wh.VerifyIgnoringTimestamp(body, header); {
		case err == nil:
			matched = true
		case errors.Is(err, standardwebhooks.ErrRequiredHeaders):
			return &Error{Reason: MissingHeader}
		case errors.Is(err, standardwebhooks.ErrInvalidHeaders):
			return &Error{Reason: MalformedHeader}
		}
		if matched {
			break
		}
	}
	if !matched {
		return &Error{Reason: Mismatch}
	}
	sec, err := strconv.ParseInt(header.Get(TimestampHeader), 10, 64)
	if err != nil {
		return &Error{Reason: MalformedHeader}
	}
	if tolerance <= 0 {
		tolerance = DefaultTolerance
	}
	if age := now.Sub(time.Unix(sec, 0)); age > tolerance || age < -tolerance {
		return &Error{Reason: Stale}
	}
	return nil
}
