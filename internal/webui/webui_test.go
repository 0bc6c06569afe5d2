package webui_test

import (
	"html/template"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/plumb-dev/plumb/internal/webui"
)

func TestSecureSetsTheHeadersAndANonce(t *testing.T) {
	var seen string
	h := webui.Secure(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { seen = webui.Nonce(r) }), "connect-src 'self'")
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/", nil))
	require.NotEmpty(t, seen)
	assert.Equal(t, "default-src 'none'; script-src 'nonce-"+seen+"'; style-src 'nonce-"+seen+
		"'; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'", rec.Header().Get("Content-Security-Policy"))
	assert.Equal(t, "no-store", rec.Header().Get("Cache-Control"))
	assert.Equal(t, "DENY", rec.Header().Get("X-Frame-Options"))
	first := seen
	h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/", nil))
	assert.NotEqual(t, first, seen, "a nonce each response")
}

func TestTokensAreBoundToTheirDomain(t *testing.T) {
	now := time.Date(2026, 12, 3, 9, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	a := webui.Tokens{Key: []byte("0123456789abcdef0123456789abcdef"), Now: clock, Domain: "plumb console csrf v1"}
	b := a
	b.Domain = "plumb reviewhttp csrf v1"
	tok := a.Mint("ana")
	assert.True(t, a.Valid("ana", tok))
	assert.False(t, a.Valid("bo", tok), "another person's")
	assert.False(t, b.Valid("ana", tok), "another handler's, though the key is shared")
	now = now.Add(webui.TokenTTL + time.Second)
	assert.False(t, a.Valid("ana", tok), "expired")
}

func TestCleanBase(t *testing.T) {
	for in, want := range map[string]string{"": "/", "ops": "/ops/", "/ops/": "/ops/", "/a/b": "/a/b/"} {
		got, ok := webui.CleanBase(in)
		assert.True(t, ok, in)
		assert.Equal(t, want, got, in)
	}
	for _, bad := range []string{"/a b/", "/{x}/", "//", "/a/../b/", "/%2e/"} {
		_, ok := webui.CleanBase(bad)
		assert.False(t, ok, bad)
	}
}

func TestRenderIsAllOrNothing(t *testing.T) {
	tmpl := template.Must(template.New("p").Parse(`{{define "layout"}}<p>{{.X}}</p>{{end}}`))
	rec := httptest.NewRecorder()
	require.NoError(t, webui.Render(rec, tmpl, http.StatusCreated, struct{ X string }{"<b>"}))
	assert.Equal(t, http.StatusCreated, rec.Code)
	assert.Equal(t, "<p>&lt;b&gt;</p>", rec.Body.String())
	rec = httptest.NewRecorder()
	assert.Error(t, webui.Render(rec, tmpl, http.StatusOK, 42), "no field X")
	assert.Equal(t, http.StatusInternalServerError, rec.Code)
	assert.NotContains(t, rec.Body.String(), "<p>", "no half page")
}

func TestIsolate(t *testing.T) {
	got := string(webui.Isolate("a\u202egnp.exe<b>"))
	assert.True(t, strings.HasPrefix(got, "<bdi>a<abbr"))
	assert.Contains(t, got, "U+202E")
	assert.Contains(t, got, "gnp.exe&lt;b&gt;</bdi>")
	assert.Equal(t, `"\u202e"`, webui.EscapeBidiJSON("\"\u202e\""))
	assert.Equal(t, "ab", strings.Map(webui.DropBidi, "a\u2066b"))
}
