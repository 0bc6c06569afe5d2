package intake

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/plumb-dev/plumb/notify"
)

// FuzzStripeHeader: any header parses or is refused, never panics, and
// what parses has one timestamp and at least one 32-byte signature.
func FuzzStripeHeader(f *testing.F) {
	for _, s := range []string{
		"t=1492774577,v1=5257a869e7ecebeda32affa62cdca3fa51cad7e77a0e56ff536d0ce8e108d8bd,v0=6ffbb59b2300aae63f272406069a9788598b792a944a07aba816edb039989a39",
		"t=1,v1=" + strings.Repeat("ab", 32) + ",v1=" + strings.Repeat("cd", 32),
		"t=1,t=2,v1=00", "v1=", "t=", "=,=", ",,,", "t=-1,v1=" + strings.Repeat("0", 64),
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, h string) {
		s, err := parseStripeHeader(h)
		if err != nil {
			return
		}
		if s.t < 0 || len(s.v1) == 0 || len(s.v1) > stripeMaxSignatures {
			t.Fatalf("%q parsed as %+v", h, s)
		}
		for _, m := range s.v1 {
			if len(m) != sha256.Size {
				t.Fatalf("%q: a signature of %d bytes", h, len(m))
			}
		}
	})
}

// FuzzSignatureHeaders runs every scheme's verifier on arbitrary header
// values and bodies: none panics, and none accepts what its secret did
// not sign (a random header matching is as likely as guessing the MAC).
func FuzzSignatureHeaders(f *testing.F) {
	now := time.Unix(1_700_000_000, 0)
	std := notify.NewSecret()
	good, _ := notify.Sign(std, "msg_1", now, []byte(`{"id":1}`))
	f.Add("msg_1", good.Get("webhook-timestamp"), good.Get("webhook-signature"), []byte(`{"id":1}`))
	f.Add("", "", "", []byte{})
	f.Add("x", "-1", "v1,AAAA v1,BBBB", []byte("x"))
	f.Add("x", "99999999999999999999", "v1,"+strings.Repeat("A", 44), []byte("{}"))
	f.Add("t=1700000000,v1=00", "sha256=00", "AAAA", []byte(`{"id":"evt"}`))
	verifiers := map[string]*Verifier{
		"standard": StandardWebhooks(std),
		"github":   GitHub("s"),
		"stripe":   Stripe(0, "whsec_s"),
		"shopify":  Shopify("s"),
		"hmac": HMAC(HMACScheme{Header: "X-Sig", Prefix: "v=", Encoding: Base64URL, Secrets: []string{"s"},
			Signed: func(r *http.Request, b []byte) []byte { return append([]byte(r.Header.Get("X-Time")), b...) }}),
	}
	f.Fuzz(func(t *testing.T, a, b, c string, body []byte) {
		r := httptest.NewRequest(http.MethodPost, "/", nil)
		for _, k := range []string{"webhook-id", "Stripe-Signature", "X-Time"} {
			r.Header.Set(k, a)
		}
		for _, k := range []string{"webhook-timestamp", "X-Hub-Signature-256", "X-Sig"} {
			r.Header.Set(k, b)
		}
		for _, k := range []string{"webhook-signature", "X-Shopify-Hmac-Sha256"} {
			r.Header.Set(k, c)
		}
		for name, v := range verifiers {
			err := v.verify(r, body, now)
			if err == nil && name != "standard" {
				t.Fatalf("%s accepted a fuzzed delivery: %q %q %q %q", name, a, b, c, body)
			}
			if err == nil && (a != "msg_1" || string(body) != `{"id":1}`) {
				t.Fatalf("standard webhooks accepted what was not signed: %q %q %q %q", a, b, c, body)
			}
		}
	})
}

// FuzzStripeRoundTrip: a header Stripe would send for any timestamp and
// body verifies; changing the body refuses it.
func FuzzStripeRoundTrip(f *testing.F) {
	f.Add(int64(1_700_000_000), []byte(`{"id":"evt_1"}`))
	f.Fuzz(func(t *testing.T, ts int64, body []byte) {
		if ts < 0 {
			ts = -ts
		}
		if ts < 0 {
			return
		}
		m := hmac.New(sha256.New, []byte("whsec_k"))
		m.Write([]byte(strconv.FormatInt(ts, 10) + "."))
		m.Write(body)
		r := httptest.NewRequest(http.MethodPost, "/", nil)
		r.Header.Set(StripeHeader, "t="+strconv.FormatInt(ts, 10)+",v1="+hex.EncodeToString(m.Sum(nil)))
		v := Stripe(0, "whsec_k")
		if err := v.verify(r, body, time.Unix(ts, 0)); err != nil {
			t.Fatalf("a signed delivery was refused: %v", err)
		}
		if err := v.verify(r, append(body, ' '), time.Unix(ts, 0)); err == nil {
			t.Fatal("a changed body was accepted")
		}
	})
}

// FuzzDeliveryID: the id found in any body or header is empty-free,
// bounded and printable, or refused with an error.
func FuzzDeliveryID(f *testing.F) {
	f.Add("/id", "", []byte(`{"id":"evt_1"}`))
	f.Add("/data/0/id", "", []byte(`{"data":[{"id":12.5e3}]}`))
	f.Add("/a~1b/~0c", "", []byte(`{"a/b":{"~c":"x"}}`))
	f.Add("", "d-1", []byte(`not json`))
	f.Add("/id", "", []byte(`{"id":"\u0000"}`))
	f.Add("/01", "", []byte(`[1,2]`))
	f.Fuzz(func(t *testing.T, pointer, header string, raw []byte) {
		d := DeliveryID{Field: pointer}
		h := http.Header{}
		if pointer == "" {
			d = DeliveryID{Header: "X-Id"}
			h.Set("X-Id", header)
		}
		id, err := deliveryID(d, h, &body{raw: raw})
		if err != nil {
			return
		}
		if id == "" || len(id) > maxDeliveryID || strings.ContainsFunc(id, func(r rune) bool { return r < ' ' || r > '~' }) {
			t.Fatalf("delivery id %q accepted", id)
		}
	})
}

// FuzzPointer: parsing and looking up any pointer in any document never
// panics.
func FuzzPointer(f *testing.F) {
	f.Add("/a/0/b", []byte(`{"a":[{"b":1}]}`))
	f.Add("/~", []byte(`{}`))
	f.Add("/-", []byte(`[]`))
	f.Fuzz(func(t *testing.T, p string, raw []byte) {
		toks, err := parsePointer(p)
		if err != nil {
			return
		}
		b := &body{raw: raw}
		if doc, err := b.decoded(); err == nil {
			lookup(doc, toks)
		}
		_, _ = b.field(p)
	})
}
