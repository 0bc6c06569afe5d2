package console

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"strconv"
	"strings"
	"time"
)

// Forgery protection has two layers, as in the review inbox:
// http.CrossOriginProtection refuses cross-origin browser POSTs, and every
// form carries a token only a page rendered for the same person can hold:
// an HMAC of the name and the time it was issued, so no session is kept.

const (
	tokenTTL  = 12 * time.Hour
	tokenSkew = 5 * time.Minute
)

type tokens struct {
	key []byte
	now func() time.Time
}

func (t tokens) mint(who string) string {
	ts := strconv.FormatInt(t.now().Unix(), 36)
	return ts + "." + t.sign(who, ts)
}

func (t tokens) sign(who, ts string) string {
	m := hmac.New(sha256.New, t.key)
	// Its own domain string: a console token is no inbox token, though
	// the two may share a key.
	m.Write([]byte("plumb console csrf v1\x00"))
	m.Write([]byte(who))
	m.Write([]byte{0})
	m.Write([]byte(ts))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

func (t tokens) valid(who, tok string) bool {
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
	return hmac.Equal([]byte(sig), []byte(t.sign(who, ts)))
}

func newNonce() string {
	var b [18]byte
	_, _ = rand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}
