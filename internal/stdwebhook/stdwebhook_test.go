package stdwebhook

import (
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The specification's example secret and test vector.
const specSecret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"

func TestSignAndVerify(t *testing.T) {
	k, err := ParseSecret(specSecret)
	require.NoError(t, err)
	at := time.Unix(1614265330, 0)
	body := []byte(`{"test": 2432232314}`)
	h := http.Header{}
	require.NoError(t, k.Sign(h, "msg_p5jXN8AQM9LWM0D4loKWxJek", at, body))
	assert.Equal(t, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=", h.Get(SignatureHeader))

	other, err := ParseSecret("whsec_" + "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA")
	require.NoError(t, err)
	reason := func(err error) Reason {
		if err == nil {
			return ""
		}
		return err.(*Error).Reason
	}
	assert.Equal(t, Reason(""), reason(Verify([]Key{other, k}, h, body, at, 0)), "a rotated key list accepts either")
	assert.Equal(t, Mismatch, reason(Verify([]Key{other}, h, body, at, 0)))
	assert.Equal(t, Mismatch, reason(Verify([]Key{k}, h, []byte(`{"test": 1}`), at, 0)))
	assert.Equal(t, Stale, reason(Verify([]Key{k}, h, body, at.Add(DefaultTolerance+time.Second), 0)))
	assert.Equal(t, Stale, reason(Verify([]Key{k}, h, body, at.Add(-DefaultTolerance-time.Second), 0)))
	assert.Equal(t, BadSecret, reason(Verify(nil, h, body, at, 0)))

	for _, s := range []string{"", "whsec_", "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "whsec_c2hvcnQ=", "whsec_!!"} {
		_, err := ParseSecret(s)
		assert.Equal(t, BadSecret, reason(err), s)
	}
}
