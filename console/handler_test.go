package console_test

import (
	"errors"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/plumb-dev/plumb/console"
	"github.com/plumb-dev/plumb/step"
	"github.com/plumb-dev/plumb/store"
)

func TestNewRefusesAnUnusableConfig(t *testing.T) {
	f := newFixture(t)
	auth := headerAuth
	for _, c := range []struct {
		name string
		cfg  console.Config
		want string
	}{
		{"no store", console.Config{Authorize: auth}, "Config.Store: required"},
		{"no authorize", console.Config{Store: f.st}, "Config.Authorize: required"},
		{"bad base", console.Config{Store: f.st, Authorize: auth, BasePath: "/a b/"}, "Config.BasePath"},
		{"trace url without id", console.Config{Store: f.st, Authorize: auth, TraceURL: "https://x.example/"}, "Config.TraceURL"},
		{"bad origin", console.Config{Store: f.st, Authorize: auth, TrustedOrigins: []string{"::"}}, "TrustedOrigins"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := console.New(c.cfg)
			require.Error(t, err)
			assert.Contains(t, err.Error(), c.want)
			assert.True(t, errors.Is(err, console.ErrConfig))
		})
	}
}

var csrfRe = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

func TestRolesAndForgery(t *testing.T) {
	f := newFixture(t)
	d := f.lead(Lead{ID: "lead-1", Text: "no address"}, step.Trigger{Source: "form", ExternalID: "lead-1"}, "")
	require.Equal(t, store.DeadLettered, d.Run.Status)
	runPath := "/ops/runs/" + d.Run.ID

	t.Run("no one", func(t *testing.T) {
		assert.Equal(t, http.StatusUnauthorized, f.do("GET", "/ops/", "", "", nil).StatusCode)
		assert.Equal(t, http.StatusUnauthorized, f.do("GET", "/ops/review/", "", "", nil).StatusCode)
		// A name without a role is refused.
		assert.Equal(t, http.StatusUnauthorized, f.do("GET", "/ops/", operator, "admin", nil).StatusCode)
	})
	t.Run("viewer sees, cannot act", func(t *testing.T) {
		for _, p := range []string{"/ops/", "/ops/runs", runPath, "/ops/deadletters", "/ops/review/"} {
			resp := f.do("GET", p, viewer, "viewer", nil)
			body := readAll(t, resp.Body)
			assert.Equal(t, http.StatusOK, resp.StatusCode, p)
			assert.NotContains(t, body, `method="post"`, "%s offers a viewer an action", p)
		}
		resp := f.do("POST", runPath+"/cancel", viewer, "viewer", strings.NewReader("reason=x"))
		assert.Equal(t, http.StatusForbidden, resp.StatusCode)
		resp = f.do("POST", "/ops/pipelines/leads/pause", viewer, "viewer", strings.NewReader("reason=x"))
		assert.Equal(t, http.StatusForbidden, resp.StatusCode)
		resp = f.do("POST", "/ops/review/reviews/"+d.Run.ID+"/approve", viewer, "viewer", strings.NewReader(""))
		assert.Equal(t, http.StatusForbidden, resp.StatusCode)
		p, err := f.st.GetPause(t.Context(), "leads")
		require.NoError(t, err)
		assert.Nil(t, p)
	})
	t.Run("operator needs the form's token", func(t *testing.T) {
		resp := f.do("POST", runPath+"/replay", operator, "operator", strings.NewReader("do=replay"))
		assert.Equal(t, http.StatusForbidden, resp.StatusCode)
		assert.Contains(t, readAll(t, resp.Body), "anti-forgery token")
		// Another person's token is no token.
		page := readAll(t, f.do("GET", runPath, "eve@example.com", "operator", nil).Body)
		tok := csrfRe.FindStringSubmatch(page)[1]
		resp = f.do("POST", runPath+"/replay", operator, "operator", strings.NewReader("do=replay&csrf="+url.QueryEscape(tok)))
		assert.Equal(t, http.StatusForbidden, resp.StatusCode)
		assert.Equal(t, store.DeadLettered, f.waitStatus(d.Run.ID, store.DeadLettered).Run.Status)
	})
	t.Run("cross-origin posts are refused", func(t *testing.T) {
		page := readAll(t, f.do("GET", runPath, operator, "operator", nil).Body)
		tok := csrfRe.FindStringSubmatch(page)[1]
		req, err := http.NewRequest("POST", f.srv.URL+runPath+"/cancel", strings.NewReader("reason=x&csrf="+url.QueryEscape(tok)))
		require.NoError(t, err)
		req.Header.Set("X-User", operator)
		req.Header.Set("X-Role", "operator")
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Sec-Fetch-Site", "cross-site")
		req.Header.Set("Origin", "https://evil.example")
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		defer resp.Body.Close()
		assert.Equal(t, http.StatusForbidden, resp.StatusCode)
	})
	t.Run("headers", func(t *testing.T) {
		resp := f.do("GET", "/ops/", operator, "operator", nil)
		csp := resp.Header.Get("Content-Security-Policy")
		assert.Contains(t, csp, "default-src 'none'")
		assert.Contains(t, csp, "script-src 'nonce-")
		assert.Equal(t, "DENY", resp.Header.Get("X-Frame-Options"))
		assert.Equal(t, "no-store", resp.Header.Get("Cache-Control"))
		body := readAll(t, resp.Body)
		assert.NotContains(t, body, "https://", "no asset comes from elsewhere")
		css := f.do("GET", "/ops/assets/console.css", operator, "operator", nil)
		assert.Equal(t, http.StatusOK, css.StatusCode)
		assert.Contains(t, css.Header.Get("Content-Type"), "text/css")
		assert.Equal(t, http.StatusNotFound, f.do("GET", "/ops/assets/nope.js", operator, "operator", nil).StatusCode)
	})
}

func TestSearchPagesByKeyset(t *testing.T) {
	f := newFixture(t)
	for i := range 53 {
		f.lead(Lead{ID: "bulk", Email: "a@example.com", Text: "hello"}, step.Trigger{Source: "bulk", ExternalID: "bulk"}, "")
		_ = i
	}
	resp := f.do("GET", "/ops/runs?external_id=bulk", viewer, "viewer", nil)
	body := readAll(t, resp.Body)
	assert.Equal(t, 50, strings.Count(body, `class="run"`))
	m := regexp.MustCompile(`before=([0-9A-Z]+)" id="older"`).FindStringSubmatch(body)
	require.NotNil(t, m, "an older page is offered")
	body = readAll(t, f.do("GET", "/ops/runs?external_id=bulk&before="+m[1], viewer, "viewer", nil).Body)
	assert.Equal(t, 3, strings.Count(body, `class="run"`))
	assert.NotContains(t, body, `id="older"`)

	bad := f.do("GET", "/ops/runs?status=nope&since=yesterday", viewer, "viewer", nil)
	assert.Equal(t, http.StatusUnprocessableEntity, bad.StatusCode)
	b := readAll(t, bad.Body)
	assert.Contains(t, b, "not a status")
	assert.Contains(t, b, "not a time")
}

// A pause and a resume need a reason: without one nothing changes and the
// operator is told why.
func TestPauseAndResumeNeedAReason(t *testing.T) {
	f := newFixture(t)
	// A run registers the pipeline, which a pause needs.
	f.lead(Lead{ID: "lead-1", Email: "a@example.com", Text: "hi"}, step.Trigger{Source: "form", ExternalID: "lead-1"}, "")
	page := readAll(t, f.do("GET", "/ops/", operator, "operator", nil).Body)
	tok := url.QueryEscape(csrfRe.FindStringSubmatch(page)[1])
	resp := f.do("POST", "/ops/pipelines/leads/pause", operator, "operator", strings.NewReader("reason=+&csrf="+tok))
	assert.Equal(t, http.StatusUnprocessableEntity, resp.StatusCode)
	assert.Contains(t, readAll(t, resp.Body), "A pause needs a reason")
	p, err := f.st.GetPause(t.Context(), "leads")
	require.NoError(t, err)
	assert.Nil(t, p, "nothing was paused")

	require.NoError(t, f.st.SetPause(t.Context(), store.Pause{Pipeline: "leads", Reason: "breaker", By: "breaker:parse"}))
	resp = f.do("POST", "/ops/pipelines/leads/resume", operator, "operator", strings.NewReader("csrf="+tok))
	assert.Equal(t, http.StatusUnprocessableEntity, resp.StatusCode)
	assert.Contains(t, readAll(t, resp.Body), "A resume needs a reason")
	p, err = f.st.GetPause(t.Context(), "leads")
	require.NoError(t, err)
	assert.NotNil(t, p, "nothing was resumed")

	resp = f.do("POST", "/ops/pipelines/leads/resume", operator, "operator", strings.NewReader("reason=parse+fixed&csrf="+tok))
	require.Equal(t, http.StatusSeeOther, resp.StatusCode, "back to the overview")
	body := readAll(t, f.do("GET", "/ops/", viewer, "viewer", nil).Body)
	assert.Contains(t, body, "resumed</strong> by <bdi>"+operator+"</bdi>")
	assert.Contains(t, body, "paused</strong> by <bdi>breaker:parse</bdi> <small class=\"muted\">(the breaker)</small>")
}

// The live poll is a conditional request: a page that says what the last
// one said is a 304 with no body, whatever its nonce and form token; a
// change in the store makes it a page again.
func TestLivePollIsConditional(t *testing.T) {
	f := newFixture(t)
	f.lead(Lead{ID: "lead-1", Text: "no address"}, step.Trigger{Source: "form", ExternalID: "lead-1"}, "")
	poll := func(etag string) *http.Response {
		t.Helper()
		req, err := http.NewRequest("GET", f.srv.URL+"/ops/", nil)
		require.NoError(t, err)
		req.Header.Set("X-User", operator)
		req.Header.Set("X-Role", "operator")
		req.Header.Set("X-Plumb-Live", "1")
		if etag != "" {
			req.Header.Set("If-None-Match", etag)
		}
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		t.Cleanup(func() { _ = resp.Body.Close() })
		return resp
	}
	first := poll("")
	require.Equal(t, http.StatusOK, first.StatusCode)
	tag := first.Header.Get("ETag")
	require.NotEmpty(t, tag)
	full := len(readAll(t, first.Body))

	// The hourly charts are computed in the background: wait for the page
	// to settle, then it stays the same.
	var same *http.Response
	require.Eventually(t, func() bool {
		same = poll(tag)
		if same.StatusCode == http.StatusNotModified {
			return true
		}
		tag = same.Header.Get("ETag")
		return false
	}, 10*time.Second, 50*time.Millisecond)
	assert.Empty(t, readAll(t, same.Body), "a 304 has no body")
	t.Logf("an unchanged overview: 304 with 0 bytes, against a page of %d bytes", full)

	f.lead(Lead{ID: "lead-2", Text: "no address"}, step.Trigger{Source: "form", ExternalID: "lead-2"}, "")
	changed := poll(tag)
	assert.Equal(t, http.StatusOK, changed.StatusCode, "a new dead letter changes the page")
	assert.NotEqual(t, tag, changed.Header.Get("ETag"))
	assert.Contains(t, readAll(t, changed.Body), "Dead letters")

	// A page that is not a live poll is sent whole, with no tag.
	plain := f.do("GET", "/ops/", operator, "operator", nil)
	assert.Equal(t, http.StatusOK, plain.StatusCode)
	assert.Empty(t, plain.Header.Get("ETag"))
}
