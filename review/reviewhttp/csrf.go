package reviewhttp

import (
	"time"

	"github.com/plumb-dev/plumb/internal/webui"
)

// Forgery protection has two layers (see the package documentation and
// internal/webui): http.CrossOriginProtection refuses cross-origin
// browser POSTs on every route, and the HTML forms carry a token that
// only a page this handler rendered for the same reviewer can hold.

// tokenDomain keeps the inbox's tokens apart from the console's, though
// the two share a key when the console mounts the inbox.
const tokenDomain = "plumb reviewhttp csrf v1"

type tokens struct {
	key []byte
	now func() time.Time
}

func (t tokens) ui() webui.Tokens { return webui.Tokens{Key: t.key, Now: t.now, Domain: tokenDomain} }

// mint returns a token for the reviewer's forms.
func (t tokens) mint(reviewer string) string { return t.ui().Mint(reviewer) }

// valid reports whether tok was minted for reviewer and is still fresh.
func (t tokens) valid(reviewer, tok string) bool { return t.ui().Valid(reviewer, tok) }
