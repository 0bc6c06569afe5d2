package webui

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"strconv"
	"strings"
	"time"
)

// Forgery protection has two layers: http.CrossOriginProtection refuses
// cross-origin browser POSTs on every route, and the HTML forms carry a
// token that only a page rendered for the same person can hold. The token
// needs no server-side session: it is an HMAC of the person and the time
// it was issued, so it works with whatever authentication an Authorize
// hook wraps, is useless to anyone else, and expires.

// TokenTTL is how long a rendered form may wait before it is submitted:
// long enough for a person who left a tab open over lunch.
const TokenTTL = 12 * time.Hour

// TokenSkew tolerates clocks of replicas that disagree a little.
const TokenSkew = 5 * time.Minute

// Tokens mints and checks form tokens.
type Tokens struct {
	// Key signs the tokens (32 random bytes or more, secret).
	Key []byte
	// Now is the clock tokens are issued and aged by.
	Now func() time.Time
	// Domain keeps these MACs apart from any other use of the key ("plumb
	// console csrf v1"): a token of one handler is none of another's,
	// though they share a key.
	Domain string
}

// Mint returns a token for who's forms.
func (t Tokens) Mint(who string) string {
	ts := strconv.FormatInt(t.Now().Unix(), 36)
	return ts + "." + t.sign(who, ts)
}

func (t Tokens) sign(who, ts string) string {
	m := hmac.New(sha256.New, t.Key)
	// The NUL separates the fields (ts is base 36, so it holds none).
	m.Write([]byte(t.Domain + "\x00"))
	m.Write([]byte(who))
	m.Write([]byte{0})
	m.Write([]byte(ts))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// Valid reports whether tok was minted for who and is still fresh.
func (t Tokens) Valid(who, tok string) bool {
	ts, sig, ok := strings.Cut(tok, ".")
	if !ok || ts == "" {
		return false
	}
	sec, err := strconv.ParseInt(ts, 36, 64)
	if err != nil {
		return false
	}
	age := t.Now().Sub(time.Unix(sec, 0))
	if age > TokenTTL || age < -TokenSkew {
		return false
	}
	return hmac.Equal([]byte(sig), []byte(t.sign(who, ts)))
}

// NewNonce returns a fresh CSP nonce, in the URL-safe alphabet so that it
// reads the same in a header and in an HTML attribute.
func NewNonce() string {
	var b [18]byte
	_, _ = rand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}
