package notify

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"strconv"
	"strings"
	"time"
)

// Headers of a webhook request.
const (
	// SignatureHeader carries "t=<unix seconds>,v1=<hex HMAC-SHA256>" when
	// the webhook has a secret.
	SignatureHeader = "Plumb-Signature"
	// EventHeader carries the event's kind, so a receiver can route before
	// it parses the body.
	EventHeader = "Plumb-Event"
	// DeliveryHeader carries an id that stays the same across the retries of
	// one event, so a receiver can drop duplicates (a retry after a timeout
	// may deliver twice).
	DeliveryHeader = "Plumb-Delivery"
)

// DefaultSignatureTolerance is how old (or how far in the future) a signed
// timestamp may be when VerifySignature is given no tolerance. Five minutes
// covers clock skew and slow networks while keeping a captured request from
// being replayed later.
const DefaultSignatureTolerance = 5 * time.Minute

// ErrBadSignature is matched by every *SignatureError.
var ErrBadSignature = errors.New("bad webhook signature")

// SignatureError says why a webhook signature was rejected.
type SignatureError struct {
	// Reason is one of "no secret", "malformed header", "no v1 signature",
	// "timestamp outside tolerance", "signature mismatch".
	Reason string
}

func (e *SignatureError) Error() string { return "notify: bad webhook signature: " + e.Reason }

// Is reports whether target is ErrBadSignature.
func (e *SignatureError) Is(target error) bool { return target == ErrBadSignature }

// Sign returns the Plumb-Signature header value for body sent at t:
// "t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>". The
// timestamp is inside the MAC so that a captured request cannot be replayed
// with a fresh time.
func Sign(secret string, t time.Time, body []byte) string {
	ts := strconv.FormatInt(t.Unix(), 10)
	return "t=" + ts + ",v1=" + hex.EncodeToString(mac(secret, ts, body))
}

func mac(secret, ts string, body []byte) []byte {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(ts))
	m.Write([]byte{'.'})
	m.Write(body)
	return m.Sum(nil)
}

// VerifySignature checks a Plumb-Signature header against the raw request
// body, as a receiver must before it trusts a webhook. It rejects a
// timestamp further than tolerance from now (DefaultSignatureTolerance when
// tolerance is not positive) and compares MACs in constant time. Several v1
// entries are allowed, any one matching, so that a sender may sign with an
// old and a new secret while the secret is rotated. A rejection is a
// *SignatureError.
func VerifySignature(secret, header string, body []byte, now time.Time, tolerance time.Duration) error {
	if secret == "" {
		return &SignatureError{Reason: "no secret"}
	}
	var ts string
	var sigs [][]byte
	for part := range strings.SplitSeq(header, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok {
			return &SignatureError{Reason: "malformed header"}
		}
		switch k {
		case "t":
			if ts != "" {
				return &SignatureError{Reason: "malformed header"}
			}
			ts = v
		case "v1":
			sig, err := hex.DecodeString(v)
			if err != nil || len(sig) != sha256.Size {
				return &SignatureError{Reason: "malformed header"}
			}
			sigs = append(sigs, sig)
		}
		// Other schemes are skipped, so a receiver keeps working when a
		// later sender adds one.
	}
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return &SignatureError{Reason: "malformed header"}
	}
	if len(sigs) == 0 {
		return &SignatureError{Reason: "no v1 signature"}
	}
	if tolerance <= 0 {
		tolerance = DefaultSignatureTolerance
	}
	if age := now.Sub(time.Unix(sec, 0)); age > tolerance || age < -tolerance {
		return &SignatureError{Reason: "timestamp outside tolerance"}
	}
	want := mac(secret, ts, body)
	for _, sig := range sigs {
		if hmac.Equal(sig, want) {
			return nil
		}
	}
	return &SignatureError{Reason: "signature mismatch"}
}
