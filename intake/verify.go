package intake

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"net/http"
	"runtime/debug"
	"strings"
	"time"

	"github.com/plumb-dev/plumb/internal/stdwebhook"
)

// ErrSignature is matched by every *SignatureError.
var ErrSignature = errors.New("bad webhook signature")

// SignatureReason says why a delivery's signature was refused.
type SignatureReason string

// The reasons of a *SignatureError.
const (
	// SignatureMissing: the signature header (or another header the
	// scheme signs, such as webhook-timestamp) is absent.
	SignatureMissing SignatureReason = "missing header"
	// SignatureMalformed: the header is not in the scheme's form.
	SignatureMalformed SignatureReason = "malformed header"
	// SignatureStale: the signed timestamp is further from now than the
	// scheme's tolerance, either way.
	SignatureStale SignatureReason = "timestamp outside tolerance"
	// SignatureMismatch: no signature matches the body with any secret.
	SignatureMismatch SignatureReason = "signature mismatch"
	// SignatureRefused: a VerifyFunc refused the delivery; Err says why.
	SignatureRefused SignatureReason = "refused by the verifier"
)

// SignatureError is a delivery refused for its signature (answered 401).
type SignatureError struct {
	Scheme string // "standard-webhooks", "github", "stripe", "shopify", or an HMACScheme's Name
	Reason SignatureReason
	Err    error // a VerifyFunc's error
}

func (e *SignatureError) Error() string {
	s := "intake: bad " + e.Scheme + " signature: " + string(e.Reason)
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

// Is reports whether target is ErrSignature.
func (e *SignatureError) Is(target error) bool { return target == ErrSignature }

// Unwrap returns a VerifyFunc's error.
func (e *SignatureError) Unwrap() error { return e.Err }

// Verifier checks a delivery's signature before anything else reads its
// body. Make one with StandardWebhooks, GitHub, Stripe, Shopify, HMAC,
// VerifyFunc or Unsigned; its problems (an empty or malformed secret)
// reach Handler.Err. Each scheme knows where its deliveries carry their
// id (Source.DeliveryID overrides it).
type Verifier struct {
	scheme string
	check  func(r *http.Request, body []byte, now time.Time) error
	id     DeliveryID
	err    error
}

// Scheme names the verifier's scheme.
func (v *Verifier) Scheme() string { return v.scheme }

func (v *Verifier) refuse(reason SignatureReason) error {
	return &SignatureError{Scheme: v.scheme, Reason: reason}
}

// verify runs the check, turning a panic in a VerifyFunc into a refusal.
func (v *Verifier) verify(r *http.Request, body []byte, now time.Time) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = &SignatureError{Scheme: v.scheme, Reason: SignatureRefused,
				Err: fmt.Errorf("the verifier panicked: %v\n%s", p, debug.Stack())}
		}
	}()
	return v.check(r, body, now)
}

// StandardWebhooks verifies the Standard Webhooks scheme
// (https://www.standardwebhooks.com): webhook-id, webhook-timestamp (Unix
// seconds, at most 5 minutes from now either way) and webhook-signature, a
// space-separated list of "v1,<base64 HMAC-SHA256>" of
// "<id>.<timestamp>.<body>". Each secret is "whsec_" and the base64 of
// the key (notify.NewSecret makes one); a delivery signed with any of them
// passes, so give the new secret and the old one while rotating. The
// delivery id is webhook-id. Plumb's own notify.Webhook signs this way.
func StandardWebhooks(secrets ...string) *Verifier {
	v := &Verifier{scheme: "standard-webhooks", id: DeliveryID{Header: stdwebhook.IDHeader}}
	var keys []stdwebhook.Key
	for i, s := range secrets {
		k, err := stdwebhook.ParseSecret(s)
		if err != nil {
			v.err = errors.Join(v.err, fmt.Errorf("intake: StandardWebhooks secret %d is not \"whsec_\" and the base64 of at least %d bytes: copy it whole from the sender's settings, or make one with notify.NewSecret()", i+1, stdwebhook.MinKeyBytes))
			continue
		}
		keys = append(keys, k)
	}
	if len(secrets) == 0 {
		v.err = errors.New("intake: StandardWebhooks needs at least one secret (\"whsec_...\")")
	}
	v.check = func(r *http.Request, body []byte, now time.Time) error {
		var se *stdwebhook.Error
		if err := stdwebhook.Verify(keys, r.Header, body, now, stdwebhook.DefaultTolerance); errors.As(err, &se) {
			switch se.Reason {
			case stdwebhook.MissingHeader:
				return v.refuse(SignatureMissing)
			case stdwebhook.MalformedHeader:
				return v.refuse(SignatureMalformed)
			case stdwebhook.Stale:
				return v.refuse(SignatureStale)
			}
			return v.refuse(SignatureMismatch)
		} else if err != nil {
			return v.refuse(SignatureMismatch)
		}
		return nil
	}
	return v
}

// GitHub verifies GitHub's scheme: X-Hub-Signature-256 is
// "sha256=<hex HMAC-SHA256 of the body>" with the webhook's secret. The
// delivery id is X-GitHub-Delivery, which GitHub keeps when a delivery is
// redelivered. Several secrets are accepted, for rotation.
func GitHub(secrets ...string) *Verifier {
	v := HMAC(HMACScheme{Name: "github", Header: "X-Hub-Signature-256", Prefix: "sha256=", Encoding: Hex, Secrets: secrets})
	v.id = DeliveryID{Header: "X-GitHub-Delivery"}
	return v
}

// Shopify verifies Shopify's scheme: X-Shopify-Hmac-Sha256 is the base64
// HMAC-SHA256 of the body with the app's client secret. The delivery id
// is X-Shopify-Webhook-Id, the same on Shopify's retries. Several secrets
// are accepted, for rotation.
func Shopify(secrets ...string) *Verifier {
	v := HMAC(HMACScheme{Name: "shopify", Header: "X-Shopify-Hmac-Sha256", Encoding: Base64, Secrets: secrets})
	v.id = DeliveryID{Header: "X-Shopify-Webhook-Id"}
	return v
}

// Encoding is how an HMAC scheme writes its MAC in the header.
type Encoding int

// The encodings of HMACScheme.
const (
	Hex       Encoding = iota // lower or upper case hexadecimal
	Base64                    // standard base64, padded
	Base64URL                 // URL-safe base64, padded or not
)

// HMACScheme describes a signature header of the common shape: one
// header holding a prefix and the encoded HMAC of what is signed.
type HMACScheme struct {
	// Name names the scheme in errors and logs. Defaults to "hmac".
	Name string
	// Header carries the signature. Required.
	Header string
	// Prefix comes before the MAC in the header ("sha256="), if any.
	Prefix string
	// Encoding is how the MAC is written. Defaults to Hex.
	Encoding Encoding
	// Hash makes the hash the HMAC is built on. Defaults to sha256.New.
	Hash func() hash.Hash
	// Secrets are the keys, as bytes of the strings: any one may match
	// (rotation). At least one is required.
	Secrets []string
	// Signed returns what the sender signed: the body, or the body with
	// a header or the URL before it. Defaults to the body. It must not
	// keep or change body.
	Signed func(r *http.Request, body []byte) []byte
	// DeliveryID is where this scheme's deliveries carry their id, when
	// Source.DeliveryID does not say.
	DeliveryID DeliveryID
}

// HMAC verifies a header scheme that the other constructors do not cover.
// The comparison is in constant time.
func HMAC(s HMACScheme) *Verifier {
	if s.Name == "" {
		s.Name = "hmac"
	}
	if s.Hash == nil {
		s.Hash = sha256.New
	}
	v := &Verifier{scheme: s.Name, id: s.DeliveryID}
	if s.Header == "" {
		v.err = errors.Join(v.err, fmt.Errorf("intake: %s scheme: HMACScheme.Header is empty: name the header the sender puts its signature in", s.Name))
	}
	if len(s.Secrets) == 0 {
		v.err = errors.Join(v.err, fmt.Errorf("intake: %s scheme: no secret given: copy the signing secret from the sender's webhook settings", s.Name))
	}
	keys := make([][]byte, 0, len(s.Secrets))
	for i, sec := range s.Secrets {
		if sec == "" {
			v.err = errors.Join(v.err, fmt.Errorf("intake: %s scheme: secret %d is empty", s.Name, i+1))
			continue
		}
		keys = append(keys, []byte(sec))
	}
	decode := decoder(s.Encoding)
	v.check = func(r *http.Request, body []byte, _ time.Time) error {
		h := r.Header.Get(s.Header)
		if h == "" {
			return v.refuse(SignatureMissing)
		}
		enc, ok := strings.CutPrefix(strings.TrimSpace(h), s.Prefix)
		if !ok {
			return v.refuse(SignatureMalformed)
		}
		got, err := decode(enc)
		if err != nil || len(got) == 0 {
			return v.refuse(SignatureMalformed)
		}
		signed := body
		if s.Signed != nil {
			signed = s.Signed(r, body)
		}
		for _, k := range keys {
			m := hmac.New(s.Hash, k)
			m.Write(signed)
			if hmac.Equal(m.Sum(nil), got) {
				return nil
			}
		}
		return v.refuse(SignatureMismatch)
	}
	return v
}

func decoder(e Encoding) func(string) ([]byte, error) {
	switch e {
	case Base64:
		return base64.StdEncoding.DecodeString
	case Base64URL:
		return func(s string) ([]byte, error) {
			return base64.RawURLEncoding.DecodeString(strings.TrimRight(s, "="))
		}
	}
	return hex.DecodeString
}

// VerifyFunc verifies with fn, for a scheme nothing here covers (a
// provider's SDK, mutual TLS, an allow-list): an error refuses the
// delivery with 401, and its text is logged, never answered. fn must not
// keep or change body. Set Source.DeliveryID: fn's scheme has no default.
func VerifyFunc(fn func(r *http.Request, body []byte) error) *Verifier {
	v := &Verifier{scheme: "custom"}
	if fn == nil {
		v.err = errors.New("intake: VerifyFunc(nil): give the function that checks a delivery")
	}
	v.check = func(r *http.Request, body []byte, _ time.Time) error {
		if err := fn(r, body); err != nil {
			return &SignatureError{Scheme: v.scheme, Reason: SignatureRefused, Err: err}
		}
		return nil
	}
	return v
}

// Unsigned accepts every delivery without a signature. Anybody who learns
// the URL can then submit runs: use it only behind something that
// authenticates the sender (a private network, a gateway). It is a
// constructor, not a nil Verifier, so that an unsigned intake is a
// decision written in the code. Set Source.DeliveryID.
func Unsigned() *Verifier {
	return &Verifier{scheme: "unsigned", check: func(*http.Request, []byte, time.Time) error { return nil }}
}
