package notify_test

import (
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/plumb-dev/plumb/notify"
)

// The Standard Webhooks specification's example secret.
const specSecret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"

func TestSignKnownAnswer(t *testing.T) {
	// The specification's test vector, checked independently with
	// printf 'msg_p5jXN8AQM9LWM0D4loKWxJek.1614265330.{"test": 2432232314}' |
	// openssl dgst -sha256 -mac HMAC -macopt hexkey:<the secret's key> -binary | base64
	h, err := notify.Sign(specSecret, "msg_p5jXN8AQM9LWM0D4loKWxJek", time.Unix(1614265330, 0), []byte(`{"test": 2432232314}`))
	require.NoError(t, err)
	assert.Equal(t, http.Header{
		"Webhook-Id":        {"msg_p5jXN8AQM9LWM0D4loKWxJek"},
		"Webhook-Timestamp": {"1614265330"},
		"Webhook-Signature": {"v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="},
	}, h)
}

func TestVerifySignature(t *testing.T) {
	body := []byte(`{"event":"dead_lettered","pipeline":"leads"}`)
	now := t0
	oldSecret := notify.NewSecret()
	sign := func(secret, id string, at time.Time) http.Header {
		h, err := notify.Sign(secret, id, at, body)
		require.NoError(t, err)
		return h
	}
	good := sign(specSecret, "msg_1", now)
	with := func(h http.Header, k, v string) http.Header {
		h = h.Clone()
		if v == "" {
			h.Del(k)
		} else {
			h.Set(k, v)
		}
		return h
	}
	rotated := with(good, notify.SignatureHeader,
		sign(oldSecret, "msg_1", now).Get(notify.SignatureHeader)+" "+good.Get(notify.SignatureHeader))
	for _, tc := range []struct {
		name   string
		secret string
		header http.Header
		body   []byte
		now    time.Time
		tol    time.Duration
		reason notify.SignatureReason // "" means accepted
	}{
		{"valid", specSecret, good, body, now, 0, ""},
		{"valid at the edge of tolerance", specSecret, good, body, now.Add(5 * time.Minute), 0, ""},
		{"rotated secrets, one matching", specSecret, rotated, body, now, 0, ""},
		{"tampered body", specSecret, good, []byte(`{"event":"paused","pipeline":"leads"}`), now, 0, notify.SignatureMismatch},
		{"wrong secret", notify.NewSecret(), good, body, now, 0, notify.SignatureMismatch},
		// A captured request replayed with a fresh delivery id, to get past
		// a receiver's duplicate check, or with a fresh time.
		{"replayed with a fresh delivery id", specSecret, with(good, notify.DeliveryHeader, "msg_2"), body, now, 0, notify.SignatureMismatch},
		{"replayed with a fresh timestamp", specSecret, with(good, notify.TimestampHeader, strconv.FormatInt(now.Add(3*time.Minute).Unix(), 10)), body, now.Add(3 * time.Minute), 0, notify.SignatureMismatch},
		{"stale", specSecret, good, body, now.Add(5*time.Minute + time.Second), 0, notify.SignatureStale},
		{"stale with own tolerance", specSecret, good, body, now.Add(2 * time.Minute), time.Minute, notify.SignatureStale},
		{"from the future", specSecret, good, body, now.Add(-10 * time.Minute), 0, notify.SignatureStale},
		{"no secret", "", good, body, now, 0, notify.SignatureBadSecret},
		{"secret without whsec_", "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", good, body, now, 0, notify.SignatureBadSecret},
		{"secret not base64", "whsec_s3cret!", good, body, now, 0, notify.SignatureBadSecret},
		{"secret too short", "whsec_c2hvcnQ=", good, body, now, 0, notify.SignatureBadSecret},
		{"no id", specSecret, with(good, notify.DeliveryHeader, ""), body, now, 0, notify.SignatureMissingHeader},
		{"no timestamp", specSecret, with(good, notify.TimestampHeader, ""), body, now, 0, notify.SignatureMissingHeader},
		{"no signature", specSecret, with(good, notify.SignatureHeader, ""), body, now, 0, notify.SignatureMissingHeader},
		{"timestamp not a number", specSecret, with(good, notify.TimestampHeader, "soon"), body, now, 0, notify.SignatureMalformedHeader},
		{"unknown scheme only", specSecret, with(good, notify.SignatureHeader, "v2,"+strings.TrimPrefix(good.Get(notify.SignatureHeader), "v1,")), body, now, 0, notify.SignatureMismatch},
		{"signature not base64", specSecret, with(good, notify.SignatureHeader, "v1,zz"), body, now, 0, notify.SignatureMismatch},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := notify.VerifySignature(tc.secret, tc.header, tc.body, tc.now, tc.tol)
			if tc.reason == "" {
				require.NoError(t, err)
				return
			}
			require.ErrorIs(t, err, notify.ErrBadSignature)
			var se *notify.SignatureError
			require.ErrorAs(t, err, &se)
			assert.Equal(t, tc.reason, se.Reason)
		})
	}
}

func TestNewSecretIsStandardWebhooksForm(t *testing.T) {
	a, b := notify.NewSecret(), notify.NewSecret()
	assert.NotEqual(t, a, b)
	assert.True(t, strings.HasPrefix(a, "whsec_"))
	h, err := notify.Sign(a, "msg_1", t0, []byte("{}"))
	require.NoError(t, err)
	require.NoError(t, notify.VerifySignature(a, h, []byte("{}"), t0, 0))
}

func TestNewWebhookRejectsABadSecret(t *testing.T) {
	for _, s := range []string{"s3cret", "whsec_", "whsec_not base64", "whsec_c2hvcnQ="} {
		_, err := notify.NewWebhook(notify.WebhookConfig{URL: "https://example.com/hook", Secret: s})
		require.ErrorIs(t, err, notify.ErrBadSignature, s)
		if rest := strings.TrimPrefix(s, "whsec_"); rest != "" {
			assert.NotContains(t, err.Error(), rest, "the secret is not echoed")
		}
	}
}

// FuzzVerifySignature feeds untrusted headers and bodies: VerifySignature
// must never panic, and a signature it made must always verify.
func FuzzVerifySignature(f *testing.F) {
	f.Add("msg_p5jXN8AQM9LWM0D4loKWxJek", "1614265330", "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=", []byte(`{"test": 2432232314}`), int64(1614265330))
	f.Add("", "", "", []byte(""), int64(0))
	f.Add("x", "-9223372036854775808", "v1, v1,, ,v1", []byte("x"), int64(9223372036))
	f.Add("id", "99999999999999999999", "v1,====", []byte("{}"), int64(-1))
	f.Fuzz(func(t *testing.T, id, ts, sig string, body []byte, unix int64) {
		now := time.Unix(unix, 0)
		h := http.Header{}
		h.Set(notify.DeliveryHeader, id)
		h.Set(notify.TimestampHeader, ts)
		h.Set(notify.SignatureHeader, sig)
		_ = notify.VerifySignature(specSecret, h, body, now, 0)
		own, err := notify.Sign(specSecret, id, now, body)
		if err != nil {
			t.Fatalf("sign: %v", err)
		}
		if id == "" {
			return // a request without an id is refused, signed or not
		}
		if err := notify.VerifySignature(specSecret, own, body, now, 0); err != nil {
			t.Fatalf("own signature rejected: %v", err)
		}
	})
}
