package intake

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// DefaultStripeTolerance is how far from now a Stripe-Signature timestamp
// may be when Stripe is given no tolerance: Stripe's libraries' own.
const DefaultStripeTolerance = 5 * time.Minute

// StripeHeader carries Stripe's signature.
const StripeHeader = "Stripe-Signature"

// stripeMaxSignatures bounds the v1 entries read from one header: Stripe
// sends one per active secret (two while one is rolled).
const stripeMaxSignatures = 8

// Stripe verifies Stripe's scheme: Stripe-Signature is
// "t=<unix seconds>,v1=<hex>,v1=<hex>,…", each v1 the HMAC-SHA256 of
// "<t>.<body>" with an endpoint secret ("whsec_…", used as it is, not
// decoded). t must be within tolerance of now either way
// (DefaultStripeTolerance when tolerance is not positive), so that a
// captured request cannot be replayed later. Several secrets are
// accepted, for rotation. The delivery id is the event's "id" in the body
// (evt_…), which Stripe keeps across its retries.
func Stripe(tolerance time.Duration, secrets ...string) *Verifier {
	if tolerance <= 0 {
		tolerance = DefaultStripeTolerance
	}
	v := &Verifier{scheme: "stripe", id: DeliveryID{Field: "/id"}}
	if len(secrets) == 0 {
		v.err = errors.New("intake: Stripe needs the endpoint's signing secret (\"whsec_…\", in the Dashboard's webhook settings)")
	}
	keys := make([][]byte, 0, len(secrets))
	for i, s := range secrets {
		if !strings.HasPrefix(s, "whsec_") || len(s) <= len("whsec_") {
			v.err = errors.Join(v.err, fmt.Errorf("intake: Stripe secret %d does not start with \"whsec_\": give the endpoint's signing secret, not an API key", i+1))
			continue
		}
		keys = append(keys, []byte(s))
	}
	v.check = func(r *http.Request, body []byte, now time.Time) error {
		h := r.Header.Get(StripeHeader)
		if h == "" {
			return v.refuse(SignatureMissing)
		}
		sig, err := parseStripeHeader(h)
		if err != nil {
			return v.refuse(SignatureMalformed)
		}
		var ts [20]byte
		prefix := append(strconv.AppendInt(ts[:0], sig.t, 10), '.')
		matched := false
		for _, k := range keys {
			m := hmac.New(sha256.New, k)
			m.Write(prefix)
			m.Write(body)
			want := m.Sum(nil)
			for _, got := range sig.v1 {
				if hmac.Equal(want, got) {
					matched = true
				}
			}
		}
		if !matched {
			return v.refuse(SignatureMismatch)
		}
		if age := now.Sub(time.Unix(sig.t, 0)); age > tolerance || age < -tolerance {
			return v.refuse(SignatureStale)
		}
		return nil
	}
	return v
}

// stripeSignature is a parsed Stripe-Signature header.
type stripeSignature struct {
	t  int64
	v1 [][]byte
}

var errStripeHeader = errors.New("malformed Stripe-Signature header")

// parseStripeHeader reads "t=…,v1=…[,v1=…][,v0=…]". Unknown keys (v0, a
// future scheme) are skipped; exactly one t and at least one v1 of 32
// bytes are required.
func parseStripeHeader(h string) (stripeSignature, error) {
	var s stripeSignature
	seenT := false
	for part := range strings.SplitSeq(h, ",") {
		k, val, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok {
			return s, errStripeHeader
		}
		switch k {
		case "t":
			t, err := strconv.ParseInt(val, 10, 64)
			if err != nil || seenT || t < 0 {
				return s, errStripeHeader
			}
			s.t, seenT = t, true
		case "v1":
			mac, err := hex.DecodeString(val)
			if err != nil || len(mac) != sha256.Size {
				continue // a signature that cannot match is no reason to refuse the others
			}
			if len(s.v1) < stripeMaxSignatures {
				s.v1 = append(s.v1, mac)
			}
		}
	}
	if !seenT || len(s.v1) == 0 {
		return s, errStripeHeader
	}
	return s, nil
}
