package reviewhttp_test

import (
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/plumb-dev/plumb/review/reviewhttp"
	"github.com/plumb-dev/plumb/store"
	"github.com/plumb-dev/plumb/store/memstore"
)

func TestNewRefusesAnUnusableConfig(t *testing.T) {
	st := memstore.New(memstore.Config{})
	auth := func(*http.Request) (string, bool) { return "ana", true }
	for name, tc := range map[string]struct {
		cfg  reviewhttp.Config
		want string
	}{
		"no authorize":       {reviewhttp.Config{Store: st}, "Config.Authorize is required"},
		"no store":           {reviewhttp.Config{Authorize: auth}, "Config.Store is required"},
		"pattern base path":  {reviewhttp.Config{Store: st, Authorize: auth, BasePath: "/{id}/"}, "BasePath"},
		"dotted base path":   {reviewhttp.Config{Store: st, Authorize: auth, BasePath: "/a/../b/"}, "BasePath"},
		"bad trusted origin": {reviewhttp.Config{Store: st, Authorize: auth, TrustedOrigins: []string{"not an origin"}}, "trusted origin"},
	} {
		t.Run(name, func(t *testing.T) {
			h, err := reviewhttp.New(tc.cfg)
			require.Error(t, err)
			assert.Nil(t, h)
			assert.Contains(t, err.Error(), tc.want)
		})
	}
}

func TestEveryRouteNeedsAuthentication(t *testing.T) {
	f := newFixture(t)
	id := f.park("pricing")
	for _, rt := range []struct{ method, path string }{
		{"GET", "/review/"},
		{"GET", "/review/reviews/" + id},
		{"POST", "/review/reviews/" + id + "/approve"},
		{"POST", "/review/reviews/" + id + "/reject"},
		{"GET", "/review/api/reviews"},
		{"GET", "/review/api/reviews/" + id},
		{"POST", "/review/api/reviews/" + id + "/approve"},
		{"POST", "/review/api/reviews/" + id + "/reject"},
	} {
		res := f.request("", rt.method, rt.path, `{"reason":"x"}`, "Content-Type", "application/json")
		assert.Equal(t, http.StatusUnauthorized, res.status, "%s %s", rt.method, rt.path)
		if strings.Contains(rt.path, "/api/") {
			assert.JSONEq(t, `{"error":"authentication required"}`, res.body)
		}
		assert.NotContains(t, res.body, "bob@example.com", "nothing of the run leaks")
	}
	assert.Equal(t, store.AwaitingReview, f.status(id))
}

func TestAuthorizeMustNameTheReviewer(t *testing.T) {
	f := newFixture(t, func(c *reviewhttp.Config) {
		c.Authorize = func(*http.Request) (string, bool) { return "", true }
	})
	assert.Equal(t, http.StatusUnauthorized, f.get("/review/api/reviews").status)
}

func TestUnauthorizedHandlerAnswersRefusals(t *testing.T) {
	f := newFixture(t, func(c *reviewhttp.Config) {
		c.Unauthorized = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("WWW-Authenticate", `Basic realm="review"`)
			w.WriteHeader(http.StatusUnauthorized)
		})
	})
	res := f.request("", "GET", "/review/", "")
	assert.Equal(t, http.StatusUnauthorized, res.status)
	assert.Equal(t, `Basic realm="review"`, res.header.Get("WWW-Authenticate"))
}

func TestSecurityHeaders(t *testing.T) {
	f := newFixture(t)
	id := f.park("pricing")
	for _, path := range []string{"/review/", "/review/reviews/" + id, "/review/api/reviews"} {
		res := f.get(path)
		require.Equal(t, http.StatusOK, res.status, path)
		csp := res.header.Get("Content-Security-Policy")
		assert.Contains(t, csp, "default-src 'none'", path)
		assert.Contains(t, csp, "frame-ancestors 'none'", path)
		assert.Contains(t, csp, "form-action 'self'", path)
		assert.NotContains(t, csp, "unsafe-inline", path)
		assert.Equal(t, "nosniff", res.header.Get("X-Content-Type-Options"), path)
		assert.Equal(t, "same-origin", res.header.Get("Referrer-Policy"), path)
		assert.Equal(t, "no-store", res.header.Get("Cache-Control"), path)
	}
	// The page's one script and its style carry the response's nonce.
	res := f.get("/review/reviews/" + id)
	m := regexp.MustCompile(`script-src 'nonce-([^']+)'`).FindStringSubmatch(res.header.Get("Content-Security-Policy"))
	require.NotNil(t, m)
	assert.Contains(t, res.body, `<script nonce="`+m[1]+`">`)
	assert.Contains(t, res.body, `<style nonce="`+m[1]+`">`)
	assert.Equal(t, 1, strings.Count(res.body, "<script"))
	other := f.get("/review/reviews/" + id)
	assert.NotEqual(t, res.header.Get("Content-Security-Policy"), other.header.Get("Content-Security-Policy"), "a fresh nonce per response")
}

func TestCrossOriginPostsAreRefused(t *testing.T) {
	f := newFixture(t)
	id := f.park("pricing")
	form := f.formValues(id)
	for name, hdr := range map[string][]string{
		"api, Sec-Fetch-Site":  {"Content-Type", "application/json", "Sec-Fetch-Site", "cross-site"},
		"api, Origin only":     {"Content-Type", "application/json", "Origin", "https://evil.example"},
		"form, Sec-Fetch-Site": {"Content-Type", "application/x-www-form-urlencoded", "Sec-Fetch-Site", "cross-site"},
	} {
		path, body := "/review/api/reviews/"+id+"/approve", `{}`
		if strings.HasPrefix(name, "form") {
			path, body = "/review/reviews/"+id+"/approve", form.Encode()
		}
		res := f.request(reviewer, "POST", path, body, hdr...)
		assert.Equal(t, http.StatusForbidden, res.status, name)
		assert.Contains(t, res.body, "cross-origin request refused", name)
	}
	assert.Equal(t, store.AwaitingReview, f.status(id))

	// An origin the application trusts may post.
	g := newFixture(t, func(c *reviewhttp.Config) { c.TrustedOrigins = []string{"https://admin.example"} })
	id = g.park("pricing")
	res := g.request(reviewer, "POST", "/review/api/reviews/"+id+"/approve", `{}`,
		"Content-Type", "application/json", "Origin", "https://admin.example", "Sec-Fetch-Site", "cross-site")
	assert.Equal(t, http.StatusOK, res.status, res.body)
}

func TestFormsNeedTheirToken(t *testing.T) {
	f := newFixture(t)
	id := f.park("pricing")
	good := f.formValues(id)
	approve := "/review/reviews/" + id + "/approve"

	missing := url.Values{"attempt": good["attempt"]}
	assert.Equal(t, http.StatusForbidden, f.postForm(approve, missing).status, "no token")

	wrong := url.Values{"attempt": good["attempt"], "csrf": {good.Get("csrf") + "x"}}
	assert.Equal(t, http.StatusForbidden, f.postForm(approve, wrong).status, "tampered token")

	// A token belongs to the reviewer it was rendered for.
	res := f.request("mallory@example.com", "POST", approve, good.Encode(),
		"Content-Type", "application/x-www-form-urlencoded", "Sec-Fetch-Site", "same-origin")
	assert.Equal(t, http.StatusForbidden, res.status, "someone else's token")

	// And it expires.
	f.kit.Clock.Advance(13 * time.Hour)
	res = f.postForm(approve, good)
	assert.Equal(t, http.StatusForbidden, res.status, "expired token")
	assert.Contains(t, res.body, "reload the page")
	assert.Equal(t, store.AwaitingReview, f.status(id))

	res = f.postForm(approve, f.formValues(id))
	assert.Equal(t, http.StatusSeeOther, res.status, res.body)
	assert.Equal(t, store.Queued, f.status(id))
}

func TestPayloadsAreShownNotRun(t *testing.T) {
	const evil = `<script>alert(1)</script>`
	f := newFixture(t)
	id := f.park(evil)
	rv := f.kit.Get(id).Run.Review
	require.Contains(t, rv.Reason, evil, "the reason holds the payload")

	escaped := `&lt;script&gt;alert(1)&lt;/script&gt;`
	page := f.get("/review/reviews/" + id)
	require.Equal(t, http.StatusOK, page.status)
	assert.NotContains(t, page.body, evil)
	assert.Contains(t, page.body, `<span id="reason"><bdi>low confidence in the reply Re: `+escaped+`</bdi></span>`)
	assert.Contains(t, page.body, `&#34;subject&#34;: &#34;Re: `+escaped+`&#34;`, "the proposal in the textarea")
	assert.Equal(t, 1, strings.Count(page.body, "<script"), "only the inbox's own script")

	inbox := f.get("/review/")
	assert.NotContains(t, inbox.body, evil)
	assert.Contains(t, inbox.body, escaped)

	api := f.get("/review/api/reviews/" + id)
	assert.NotContains(t, api.body, evil)
	assert.Equal(t, "application/json; charset=utf-8", api.header.Get("Content-Type"))

	// The edit round-trips: approving the proposal as shown is no edit.
	form := f.formValues(id)
	form.Set("output", textarea(t, page.body))
	require.Equal(t, http.StatusSeeOther, f.postForm("/review/reviews/"+id+"/approve", form).status)
	assert.False(t, f.kit.Get(id).Run.Review.Decision.Edited)
}

var textareaRe = regexp.MustCompile(`(?s)<textarea id="output"[^>]*>(.*?)</textarea>`)

// textarea returns the text of the page's output textarea as a browser
// would submit it.
func textarea(t *testing.T, page string) string {
	t.Helper()
	m := textareaRe.FindStringSubmatch(page)
	require.NotNil(t, m, "no output textarea")
	return unescapeHTML(m[1])
}

func unescapeHTML(s string) string {
	return strings.NewReplacer("&lt;", "<", "&gt;", ">", "&#34;", `"`, "&#39;", "'", "&amp;", "&").Replace(s)
}
