package reviewhttp_test

import (
	"context"
	"crypto/tls"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/plumb-dev/plumb/review/reviewhttp"
	"github.com/plumb-dev/plumb/store"
)

func TestUnknownRoutesUnderAPIAnswerJSON(t *testing.T) {
	f := newFixture(t)
	id := f.park("pricing")
	for _, tc := range []struct {
		method, path string
		status       int
		allow        string
	}{
		{"GET", "/review/api/nope", http.StatusNotFound, ""},
		{"GET", "/review/api/reviews/" + id + "/nope", http.StatusNotFound, ""},
		{"POST", "/review/api/reviews", http.StatusMethodNotAllowed, "GET, HEAD"},
		{"DELETE", "/review/api/reviews/" + id, http.StatusMethodNotAllowed, "GET, HEAD"},
		{"GET", "/review/api/reviews/" + id + "/approve", http.StatusMethodNotAllowed, "POST"},
		{"PUT", "/review/api/reviews/" + id + "/reject", http.StatusMethodNotAllowed, "POST"},
	} {
		res := f.request(reviewer, tc.method, tc.path, "", "Content-Type", "application/json")
		assert.Equal(t, tc.status, res.status, "%s %s: %s", tc.method, tc.path, res.body)
		assert.Equal(t, "application/json; charset=utf-8", res.header.Get("Content-Type"), "%s %s", tc.method, tc.path)
		var body struct{ Error string }
		res.json(t, &body)
		assert.NotEmpty(t, body.Error, "%s %s", tc.method, tc.path)
		assert.Equal(t, tc.allow, res.header.Get("Allow"), "%s %s", tc.method, tc.path)
	}
	// Pages answer pages.
	res := f.get("/review/nope")
	assert.Equal(t, http.StatusNotFound, res.status)
	assert.Contains(t, res.header.Get("Content-Type"), "text/html")
	assert.Contains(t, res.body, "Back to the inbox")
	res = f.request(reviewer, "DELETE", "/review/reviews/"+id, "")
	assert.Equal(t, http.StatusMethodNotAllowed, res.status)
	assert.Equal(t, "GET, HEAD", res.header.Get("Allow"))
	assert.Contains(t, res.header.Get("Content-Type"), "text/html")
	// The routes themselves still win.
	assert.Equal(t, http.StatusOK, f.get("/review/api/reviews").status)
	assert.Equal(t, store.AwaitingReview, f.status(id))
}

func TestFlashCookieAttributes(t *testing.T) {
	for _, tc := range []struct {
		name   string
		secure bool // Config.SecureCookies
		tls    bool // the request came over TLS to this process
		want   bool
	}{
		{"plain http", false, false, false},
		{"tls here", false, true, true},
		{"tls at a proxy", true, false, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, func(c *reviewhttp.Config) { c.SecureCookies = tc.secure })
			id := f.park("pricing")
			form := f.formValues(id)
			req := httptest.NewRequest("POST", "/review/reviews/"+id+"/approve", strings.NewReader(form.Encode()))
			req.Header.Set("X-Reviewer", reviewer)
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			req.Header.Set("Sec-Fetch-Site", "same-origin")
			if tc.tls {
				req.TLS = &tls.ConnectionState{}
			}
			rec := httptest.NewRecorder()
			f.h.ServeHTTP(rec, req)
			require.Equal(t, http.StatusSeeOther, rec.Code, rec.Body.String())
			set := cookie(t, rec.Result().Cookies())
			assert.Equal(t, tc.want, set.Secure)
			assert.True(t, set.HttpOnly)
			assert.Equal(t, http.SameSiteLaxMode, set.SameSite)
			assert.Equal(t, "/review/", set.Path)

			// Reading the message clears the cookie with the same attributes.
			req = httptest.NewRequest("GET", "/review/", nil)
			req.Header.Set("X-Reviewer", reviewer)
			req.AddCookie(&http.Cookie{Name: set.Name, Value: set.Value})
			if tc.tls {
				req.TLS = &tls.ConnectionState{}
			}
			rec = httptest.NewRecorder()
			f.h.ServeHTTP(rec, req)
			cleared := cookie(t, rec.Result().Cookies())
			assert.Equal(t, -1, cleared.MaxAge)
			assert.Equal(t, tc.want, cleared.Secure)
		})
	}
}

func cookie(t *testing.T, cs []*http.Cookie) *http.Cookie {
	t.Helper()
	for _, c := range cs {
		if c.Name == "plumb_review_flash" {
			return c
		}
	}
	t.Fatalf("no flash cookie in %v", cs)
	return nil
}

// aliased shows a stored run under another id: a run whose id is "." or
// "..", which stores refuse today but may hold from before.
type aliased struct {
	store.Ops
	alias, id string
}

func (a aliased) in(id string) string {
	if id == a.alias {
		return a.id
	}
	return id
}

func (a aliased) out(r *store.Run) {
	if r.ID == a.id {
		r.ID = a.alias
	}
}

func (a aliased) GetRun(ctx context.Context, id string) (*store.RunDetail, error) {
	d, err := a.Ops.GetRun(ctx, a.in(id))
	if err == nil {
		a.out(&d.Run)
	}
	return d, err
}

func (a aliased) ListRuns(ctx context.Context, f store.RunFilter) (store.RunPage, error) {
	page, err := a.Ops.ListRuns(ctx, f)
	for i := range page.Runs {
		a.out(&page.Runs[i])
	}
	return page, err
}

func (a aliased) Decide(ctx context.Context, id string, d store.Decision) (*store.Run, error) {
	r, err := a.Ops.Decide(ctx, a.in(id), d)
	if err == nil {
		a.out(r)
	}
	return r, err
}

func TestLinksReachRunsWithDotIDs(t *testing.T) {
	for _, dots := range []string{".", ".."} {
		t.Run(dots, func(t *testing.T) {
			f := newFixture(t)
			id := f.park("pricing")
			h, err := reviewhttp.New(reviewhttp.Config{Store: aliased{f.kit.Store, dots, id}, Authorize: headerAuth,
				Now: f.kit.Clock.Now, BasePath: "/review/"})
			require.NoError(t, err)
			f.h = h

			inbox := f.get("/review/")
			base := mustParse(t, "http://inbox.example/review/")
			// Resolved as a browser resolves it (which drops "." and ".."
			// segments, percent-encoded or not), the link still names the run.
			link := base.ResolveReference(mustParse(t, hrefTo(t, inbox.body, `class="run" href="`)))
			noDotSegments(t, link)
			page := f.get(link.RequestURI())
			require.Equal(t, http.StatusOK, page.status, "%s: %s", link, page.body)
			assert.Contains(t, page.body, "Run <code>"+dots+"</code>")

			form := url.Values{"csrf": {csrfField.FindStringSubmatch(page.body)[1]}, "attempt": {"1"}, "step": {"draft"}}
			approve := base.ResolveReference(mustParse(t, hrefTo(t, page.body, `<form method="post" action="`)))
			noDotSegments(t, approve)
			res := f.postForm(approve.RequestURI(), form)
			require.Equal(t, http.StatusSeeOther, res.status, res.body)
			assert.Equal(t, store.Queued, f.status(id))
		})
	}
}

func noDotSegments(t *testing.T, u *url.URL) {
	t.Helper()
	for _, seg := range strings.Split(u.EscapedPath(), "/") {
		s, err := url.PathUnescape(seg)
		require.NoError(t, err)
		assert.False(t, s == "." || s == "..", "%s has a dot segment, which a browser would drop", u)
	}
}

func mustParse(t *testing.T, ref string) *url.URL {
	t.Helper()
	u, err := url.Parse(strings.ReplaceAll(ref, "&amp;", "&"))
	require.NoError(t, err)
	return u
}

// hrefTo returns the attribute value that follows prefix in body.
func hrefTo(t *testing.T, body, prefix string) string {
	t.Helper()
	_, rest, ok := strings.Cut(body, prefix)
	require.True(t, ok, "no %s in the page", prefix)
	v, _, _ := strings.Cut(rest, `"`)
	return v
}
