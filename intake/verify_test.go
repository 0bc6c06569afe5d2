package intake_test

import (
	"context"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/plumb-dev/plumb/intake"
	"github.com/plumb-dev/plumb/notify"
	"github.com/plumb-dev/plumb/store"
)

// scheme is one signature scheme under test: its verifier for a list of
// secrets, and the sender's signing.
type scheme struct {
	name      string
	secrets   func() (current, old, wrong string)
	verifier  func(secrets ...string) *intake.Verifier
	sign      func(t *testing.T, secret, id string, at time.Time, body []byte) http.Header
	header    string   // the signature header
	timed     bool     // the signature carries a timestamp
	malformed []string // values of header that are not the scheme's form
}

func schemes() []scheme {
	std := func() (string, string, string) { return notify.NewSecret(), notify.NewSecret(), notify.NewSecret() }
	plain := func() (string, string, string) { return "s3cret-current", "s3cret-old", "s3cret-wrong" }
	stripeSecrets := func() (string, string, string) { return "whsec_current", "whsec_old", "whsec_wrong" }
	return []scheme{
		{
			name: "standard-webhooks", secrets: std, verifier: intake.StandardWebhooks, header: "Webhook-Signature", timed: true,
			sign: func(t *testing.T, secret, id string, at time.Time, body []byte) http.Header {
				return stdSign(t, secret, id, at, body)
			},
			malformed: []string{"v1", "v1,", "v2,AAAA", "v1,not base64!", "garbage", ","},
		},
		{
			name: "github", secrets: plain, verifier: intake.GitHub, header: "X-Hub-Signature-256",
			sign: func(_ *testing.T, secret, id string, _ time.Time, body []byte) http.Header {
				return githubSign(secret, id, body)
			},
			malformed: []string{"sha256=", "sha256=zz", "sha1=abcd", "abcdef", "sha256=abc"},
		},
		{
			name: "stripe", secrets: stripeSecrets, header: "Stripe-Signature", timed: true,
			verifier: func(secrets ...string) *intake.Verifier { return intake.Stripe(0, secrets...) },
			sign: func(_ *testing.T, secret, _ string, at time.Time, body []byte) http.Header {
				return stripeSign(at, body, secret)
			},
			malformed: []string{"t=,v1=00", "v1=" + fmt.Sprintf("%064x", 1), "t=12", "t=1,t=2,v1=" + fmt.Sprintf("%064x", 1), "t=x,v1=ab", "nonsense"},
		},
		{
			name: "shopify", secrets: plain, verifier: intake.Shopify, header: "X-Shopify-Hmac-Sha256",
			sign: func(_ *testing.T, secret, id string, _ time.Time, body []byte) http.Header {
				return shopifySign(secret, id, body)
			},
			malformed: []string{"!!!", "====", "AAAA=AAAA"},
		},
	}
}

func TestSchemes(t *testing.T) {
	for _, sc := range schemes() {
		t.Run(sc.name, func(t *testing.T) {
			e := newEnv(t)
			current, old, wrong := sc.secrets()
			_, url := e.serve(intake.Source{Name: sc.name, Verify: sc.verifier(current, old)})
			client := &http.Client{}
			n := 0
			deliver := func(secret string, at time.Time, change func(h http.Header, body []byte) []byte) reply {
				n++
				id := fmt.Sprintf("%s-%d", sc.name, n)
				body := leadBody(id, "ada@example.com")
				h := sc.sign(t, secret, id, at, body)
				if sc.name == "standard-webhooks" {
					// webhook-id is the delivery id; keep it the signed one.
					id = h.Get("Webhook-Id")
				}
				if change != nil {
					body = change(h, body)
				}
				return post(t, client, url, h, body)
			}
			now := e.clock.Now()
			accepted := 0
			expect := func(name string, r reply, code int) {
				t.Helper()
				assert.Equal(t, code, r.code, "%s: %+v", name, r.answer)
				if code == http.StatusAccepted {
					accepted++
					assert.Equal(t, intake.Accepted, r.answer.Status, name)
					assert.NotEmpty(t, r.answer.RunID, name)
				} else {
					assert.Equal(t, intake.Unauthorized, r.answer.Status, name)
					assert.Empty(t, r.answer.RunID, name)
					assert.Contains(t, r.answer.Error, sc.name, name)
				}
			}
			expect("valid", deliver(current, now, nil), http.StatusAccepted)
			expect("signed with the old secret, during rotation", deliver(old, now, nil), http.StatusAccepted)
			expect("wrong secret", deliver(wrong, now, nil), http.StatusUnauthorized)
			expect("tampered body", deliver(current, now, func(_ http.Header, b []byte) []byte {
				return []byte(string(b[:len(b)-1]) + `,"seats":1}`)
			}), http.StatusUnauthorized)
			expect("missing header", deliver(current, now, func(h http.Header, b []byte) []byte { h.Del(sc.header); return b }),
				http.StatusUnauthorized)
			for _, m := range sc.malformed {
				expect("malformed "+m, deliver(current, now, func(h http.Header, b []byte) []byte { h.Set(sc.header, m); return b }),
					http.StatusUnauthorized)
			}
			if sc.timed {
				expect("4 minutes old", deliver(current, now.Add(-4*time.Minute), nil), http.StatusAccepted)
				expect("4 minutes ahead", deliver(current, now.Add(4*time.Minute), nil), http.StatusAccepted)
				expect("stale", deliver(current, now.Add(-6*time.Minute), nil), http.StatusUnauthorized)
				expect("from the future", deliver(current, now.Add(6*time.Minute), nil), http.StatusUnauthorized)
			}
			// Only what was accepted is stored.
			page, err := e.st.ListRuns(context.Background(), store.RunFilter{Pipeline: "leads", Limit: 100})
			require.NoError(t, err)
			assert.Len(t, page.Runs, accepted)
			for _, r := range page.Runs {
				assert.Equal(t, "webhook:"+sc.name, r.Trigger.Source)
				assert.Equal(t, e.clock.Now(), r.Trigger.ReceivedAt.UTC())
			}
		})
	}
}

func TestStripeRotationSendsTwoSignatures(t *testing.T) {
	// While a secret is rolled, Stripe signs with both, in one header.
	e := newEnv(t)
	_, url := e.serve(intake.Source{Name: "stripe", Verify: intake.Stripe(time.Minute, "whsec_new")})
	body := leadBody("evt_1", "ada@example.com")
	r := post(t, http.DefaultClient, url, stripeSign(e.clock.Now(), body, "whsec_old", "whsec_new"), body)
	assert.Equal(t, http.StatusAccepted, r.code, "%+v", r.answer)
	// Its own tolerance: a minute.
	body = leadBody("evt_2", "ada@example.com")
	r = post(t, http.DefaultClient, url, stripeSign(e.clock.Now().Add(-90*time.Second), body, "whsec_new"), body)
	assert.Equal(t, http.StatusUnauthorized, r.code, "%+v", r.answer)
}

func TestCustomHMACAndVerifyFunc(t *testing.T) {
	e := newEnv(t)
	// A sender that signs "<timestamp header>.<body>" in URL-safe base64.
	_, url := e.serve(intake.Source{Name: "forms", Verify: intake.HMAC(intake.HMACScheme{
		Name: "forms", Header: "X-Forms-Signature", Prefix: "v1=", Encoding: intake.Base64URL, Secrets: []string{"k1"},
		Signed: func(r *http.Request, body []byte) []byte {
			return append([]byte(r.Header.Get("X-Forms-Time")+"."), body...)
		},
		DeliveryID: intake.DeliveryID{Header: "X-Forms-Delivery"},
	})})
	body := leadBody("f1", "ada@example.com")
	sig := hmacRaw("k1", []byte("1700000000."), body)
	h := http.Header{"X-Forms-Signature": {"v1=" + sig}, "X-Forms-Time": {"1700000000"}, "X-Forms-Delivery": {"d1"}}
	assert.Equal(t, http.StatusAccepted, post(t, http.DefaultClient, url, h, body).code)
	h.Set("X-Forms-Time", "1700000001") // the signed header changed
	h.Set("X-Forms-Delivery", "d2")
	assert.Equal(t, http.StatusUnauthorized, post(t, http.DefaultClient, url, h, body).code)

	_, url = e.serve(intake.Source{Name: "gateway", DeliveryID: intake.DeliveryID{Field: "/id"},
		Verify: intake.VerifyFunc(func(r *http.Request, _ []byte) error {
			if r.Header.Get("X-Api-Key") != "let-me-in" {
				return fmt.Errorf("wrong api key")
			}
			return nil
		})})
	assert.Equal(t, http.StatusAccepted, post(t, http.DefaultClient, url, http.Header{"X-Api-Key": {"let-me-in"}}, leadBody("g1", "a@example.com")).code)
	r := post(t, http.DefaultClient, url, http.Header{"X-Api-Key": {"guess"}}, leadBody("g2", "a@example.com"))
	assert.Equal(t, http.StatusUnauthorized, r.code)
	assert.NotContains(t, r.answer.Error, "wrong api key", "a verifier's reason is logged, never answered")

	_, url = e.serve(intake.Source{Name: "panicky", DeliveryID: intake.DeliveryID{Field: "/id"},
		Verify: intake.VerifyFunc(func(*http.Request, []byte) error { panic("boom") })})
	assert.Equal(t, http.StatusUnauthorized, post(t, http.DefaultClient, url, nil, leadBody("p1", "a@example.com")).code,
		"a panicking verifier refuses, and the server lives")
}

func TestBuildErrors(t *testing.T) {
	e := newEnv(t)
	for _, tc := range []struct {
		name string
		src  intake.Source
		want string
	}{
		{"no verifier", intake.Source{Name: "x"}, "intake.Unsigned()"},
		{"no name", intake.Source{Verify: intake.GitHub("s")}, "Source.Name"},
		{"bad name", intake.Source{Name: "a b", Verify: intake.GitHub("s")}, "Source.Name"},
		{"no secret", intake.Source{Name: "x", Verify: intake.GitHub()}, "no secret"},
		{"empty secret", intake.Source{Name: "x", Verify: intake.Shopify("")}, "secret 1 is empty"},
		{"bad whsec", intake.Source{Name: "x", Verify: intake.StandardWebhooks("whsec_short")}, "notify.NewSecret()"},
		{"no whsec", intake.Source{Name: "x", Verify: intake.StandardWebhooks()}, "at least one secret"},
		{"stripe api key", intake.Source{Name: "x", Verify: intake.Stripe(0, "sk_live_123")}, "not an API key"},
		{"unsigned without id", intake.Source{Name: "x", Verify: intake.Unsigned()}, "Source.DeliveryID"},
		{"hmac without header", intake.Source{Name: "x", Verify: intake.HMAC(intake.HMACScheme{Secrets: []string{"k"}}), DeliveryID: intake.DeliveryID{Header: "X-Id"}}, "HMACScheme.Header"},
		{"bad pointer", intake.Source{Name: "x", Verify: intake.GitHub("s"), ExternalID: "id"}, "JSON pointer"},
		{"both ids", intake.Source{Name: "x", Verify: intake.GitHub("s"), DeliveryID: intake.DeliveryID{Header: "A", Field: "/b"}}, "set one"},
		{"bad content type", intake.Source{Name: "x", Verify: intake.GitHub("s"), ContentTypes: []string{"json"}}, "media type"},
		{"negative rate", intake.Source{Name: "x", Verify: intake.GitHub("s"), RateLimit: intake.RateLimit{Rate: -1}}, "RateLimit"},
		{"nil verify func", intake.Source{Name: "x", Verify: intake.VerifyFunc(nil), DeliveryID: intake.DeliveryID{Header: "X"}}, "VerifyFunc(nil)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := intake.New(e.p, tc.src)
			require.Error(t, h.Err())
			assert.Contains(t, h.Err().Error(), tc.want)
		})
	}
	t.Run("nil pipeline", func(t *testing.T) {
		var p *pipelineOfLeads
		h := intake.New(p, intake.Source{Name: "x", Verify: intake.GitHub("s")})
		assert.ErrorContains(t, h.Err(), "pipeline is nil")
	})
	t.Run("no store", func(t *testing.T) {
		h := intake.New(leadPipeline(nil), intake.Source{Name: "x", Verify: intake.GitHub("s")})
		assert.ErrorContains(t, h.Err(), "has no store")
	})
	t.Run("a misconfigured handler answers 500 and accepts nothing", func(t *testing.T) {
		h := intake.New(e.p, intake.Source{Name: "x"})
		srv := newServer(t, h)
		r := post(t, http.DefaultClient, srv, nil, leadBody("1", "a@example.com"))
		assert.Equal(t, http.StatusInternalServerError, r.code)
		assert.Equal(t, intake.Unavailable, r.answer.Status)
		assert.NotContains(t, r.answer.Error, "Unsigned", "the configuration is logged, not told to senders")
	})
}
