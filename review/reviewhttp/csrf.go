package reviewhttp

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"strconv"
	"strings"
	"time"
)

// Forgery protection has two layers (see the package documentation):
// http.CrossOriginProtection refuses cross-origin browser POSTs on every
// route, and the HTML forms carry a token that only a page this handler
// rendered for the same reviewer can hold. The token needs no server-side
// session: it is an HMAC of the reviewer and the time it was issued, so it
// works with whatever authentication Authorize wraps, is useless to any
// other reviewer, and expires.

// tokenTTL is how long a rendered form may wait before it is submitted:
// long enough for a reviewer who left a tab open over lunch.
const tokenTTL = 12 * time.Hour

// tokenSkew tolerates clocks of replicas that disagree a little.
const tokenSkew = 5 * time.Minute

type tokens struct {
	key []byte
	now func() time.Time
}

// mint returns a token for the reviewer's forms.
func (t tokens) mint(reviewer string) string {
	ts := strconv.FormatInt(t.now().Unix(), 36)
	return ts + "." + t.sign(reviewer, ts)
}

func (t tokens) sign(reviewer, ts string) string {
	m := hmac.New(sha256.New, t.key)
	// The domain string keeps these MACs apart from any other use of a
	// key an application might share; the NUL separates the fields (ts is
	// base 36, so it holds none).
	m.Write([]byte("plumb reviewhttp csrf v1\x00"))
	m.Write([]byte(reviewer))
	m.Write([]byte{0})
	m.Write([]byte(ts))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// valid reports whether tok was minted for reviewer and is still fresh.
func (t tokens) valid(reviewer, tok string) bool {
	ts, sig, ok := strings.Cut(tok, ".")
	if !ok || ts == "" {
		return false
	}
	sec, err := strconv.ParseInt(ts, 36, 64)
	if err != nil {
		return false
	}
	age := t.now().Sub(time.Unix(sec, 0))
	if age > tokenTTL || age < -tokenSkew {
		return false
	}
	return hmac.Equal([]byte(sig), []byte(t.sign(reviewer, ts)))
}

// newNonce returns a fresh CSP nonce, in the URL-safe alphabet so that it
// reads the same in a header and in an HTML attribute.
func newNonce() string {
	var b [18]byte
	_, _ = rand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}
