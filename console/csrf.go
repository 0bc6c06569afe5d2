package console

import (
	"time"

	"github.com/plumb-dev/plumb/internal/webui"
)

// Forgery protection has two layers, as in the review inbox (see
// internal/webui): http.CrossOriginProtection refuses cross-origin
// browser POSTs, and every form carries a token only a page rendered for
// the same person can hold.

// tokenDomain: a console token is no inbox token, though the two share a
// key.
const tokenDomain = "plumb console csrf v1"

type tokens struct {
	key []byte
	now func() time.Time
}

func (t tokens) ui() webui.Tokens { return webui.Tokens{Key: t.key, Now: t.now, Domain: tokenDomain} }

func (t tokens) mint(who string) string { return t.ui().Mint(who) }

func (t tokens) valid(who, tok string) bool { return t.ui().Valid(who, tok) }
