package notify_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/plumb-dev/plumb/notify"
)

func TestSignKnownAnswer(t *testing.T) {
	// HMAC-SHA256("secret", "1795746220.{}"), computed independently with
	// `printf '1795746220.{}' | openssl dgst -sha256 -hmac secret`.
	got := notify.Sign("secret", time.Unix(1795746220, 0), []byte("{}"))
	assert.Equal(t, "t=1795746220,v1="+knownMAC, got)
}

func TestVerifySignature(t *testing.T) {
	body := []byte(`{"event":"dead_lettered","pipeline":"leads"}`)
	now := t0
	good := notify.Sign("s3cret", now, body)
	old := notify.Sign("old-secret", now, body)
	v1 := good[len("t=1795746220,"):]
	for _, tc := range []struct {
		name   string
		secret string
		header string
		body   []byte
		now    time.Time
		tol    time.Duration
		reason string // "" means accepted
	}{
		{"valid", "s3cret", good, body, now, 0, ""},
		{"valid at the edge of tolerance", "s3cret", good, body, now.Add(5 * time.Minute), 0, ""},
		{"rotated secrets, one matching", "s3cret", old + "," + v1, body, now, 0, ""},
		{"unknown scheme ignored", "s3cret", good + ",v0=abc", body, now, 0, ""},
		{"spaces after commas", "s3cret", "t=" + good[2:12] + ", " + v1, body, now, 0, ""},
		{"tampered body", "s3cret", good, []byte(`{"event":"dead_lettered","pipeline":"leadz"}`), now, 0, "signature mismatch"},
		{"wrong secret", "other", good, body, now, 0, "signature mismatch"},
		{"stale", "s3cret", good, body, now.Add(5*time.Minute + time.Second), 0, "timestamp outside tolerance"},
		{"stale with own tolerance", "s3cret", good, body, now.Add(2 * time.Minute), time.Minute, "timestamp outside tolerance"},
		{"from the future", "s3cret", good, body, now.Add(-10 * time.Minute), 0, "timestamp outside tolerance"},
		{"no secret", "", good, body, now, 0, "no secret"},
		{"empty header", "s3cret", "", body, now, 0, "malformed header"},
		{"no timestamp", "s3cret", v1, body, now, 0, "malformed header"},
		{"two timestamps", "s3cret", good + ",t=1", body, now, 0, "malformed header"},
		{"timestamp not a number", "s3cret", "t=soon," + v1, body, now, 0, "malformed header"},
		{"no v1", "s3cret", good[:12], body, now, 0, "no v1 signature"},
		{"v1 not hex", "s3cret", good[:13] + "v1=zz", body, now, 0, "malformed header"},
		{"v1 too short", "s3cret", good[:len(good)-2], body, now, 0, "malformed header"},
		{"part without =", "s3cret", good + ",junk", body, now, 0, "malformed header"},
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

// FuzzVerifySignature feeds untrusted headers and bodies: VerifySignature
// must never panic, and a signature it made must always verify.
func FuzzVerifySignature(f *testing.F) {
	f.Add("t=1795746220,v1="+knownMAC, []byte("{}"), int64(1795746220))
	f.Add("t=,v1=,v1=", []byte(""), int64(0))
	f.Add("t=-9223372036854775808,v1=00", []byte("x"), int64(9223372036))
	f.Fuzz(func(t *testing.T, header string, body []byte, unix int64) {
		now := time.Unix(unix, 0)
		_ = notify.VerifySignature("secret", header, body, now, 0)
		if err := notify.VerifySignature("secret", notify.Sign("secret", now, body), body, now, 0); err != nil {
			t.Fatalf("own signature rejected: %v", err)
		}
	})
}

const knownMAC = "85545b54bd305cb509b1e11df6fb5128a28f9631b5bca92378898a6ebe651272"
