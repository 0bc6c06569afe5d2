package reviewhttp_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/plumb-dev/plumb/review/reviewhttp"
	"github.com/plumb-dev/plumb/store"
)

func TestInboxListsPendingReviews(t *testing.T) {
	f := newFixture(t, func(c *reviewhttp.Config) { c.Title = "Acme review" })
	empty := f.get("/review/")
	require.Equal(t, http.StatusOK, empty.status)
	assert.Contains(t, empty.body, "Nothing waits for review.")
	assert.Contains(t, empty.body, "<title>Inbox · Acme review</title>")

	late := f.park("pricing")
	f.kit.Clock.Advance(90 * time.Minute)
	fresh := f.park("demo")
	failed := f.parkFailed()

	res := f.get("/review/")
	require.Equal(t, http.StatusOK, res.status)
	body := res.body
	for _, id := range []string{late, fresh, failed} {
		assert.Contains(t, body, `href="/review/reviews/`+id+`"`)
	}
	assert.Less(t, strings.Index(body, late), strings.Index(body, fresh), "oldest first")
	assert.Contains(t, body, "low confidence in the reply Re: pricing")
	assert.Contains(t, body, "overdue by 30m")
	assert.Contains(t, body, "due in 1h<")
	assert.Contains(t, body, "1h 30m", "the late review's age")
	assert.Contains(t, body, "no proposal", "the failed step's review")
	assert.Contains(t, body, `<span class="count">3</span>`)
	assert.Contains(t, body, "Signed in as <bdi>"+reviewer+"</bdi>")

	filtered := f.get("/review/?pipeline=other")
	assert.Contains(t, filtered.body, "Nothing waits for review.")
}

func TestApproveAnEditFromThePage(t *testing.T) {
	f := newFixture(t)
	id := f.park("pricing")
	form := f.formValues(id)
	form.Set("output", `{"to": "bob@example.com", "subject": "Pricing & plans <2026>", "confidence": 0.9}`)
	res := f.postForm("/review/reviews/"+id+"/approve", form)
	require.Equal(t, http.StatusSeeOther, res.status, res.body)
	assert.Equal(t, "/review/", res.header.Get("Location"))

	// The inbox shows the flash message once.
	cookie := res.header.Get("Set-Cookie")
	require.Contains(t, cookie, "plumb_review_flash=")
	assert.Contains(t, cookie, "HttpOnly")
	assert.Contains(t, cookie, "Path=/review/")
	inbox := f.request(reviewer, "GET", "/review/", "", "Cookie", strings.Split(cookie, ";")[0])
	assert.Contains(t, inbox.body, `<p class="flash" role="status"><bdi>Approved run `+id+` at step draft with your edit. A worker resumes it at the next step.</bdi></p>`)
	assert.Contains(t, inbox.header.Get("Set-Cookie"), "Max-Age=0", "the flash is cleared")
	assert.NotContains(t, inbox.body, `href="/review/reviews/`+id+`"`)

	d := f.kit.Get(id)
	assert.Equal(t, store.Queued, d.Run.Status)
	dc := d.Run.Review.Decision
	assert.True(t, dc.Approved)
	assert.True(t, dc.Edited)
	assert.Equal(t, reviewer, dc.Reviewer)

	f.kit.Drain()
	d = f.kit.AssertSucceeded(id)
	assert.JSONEq(t, `{"to":"bob@example.com","subject":"Pricing & plans <2026>"}`, string(d.Run.Output))

	// The page shows who decided, and the whole history.
	page := f.get("/review/reviews/" + id)
	assert.Contains(t, page.body, "edited and approved by "+reviewer+" at 2026-11-27 02:17:00 UTC")
	assert.NotContains(t, page.body, `id="approve-form"`, "no forms on a decided review")
	assert.Contains(t, page.body, "<strong>1. <bdi>send</bdi></strong>")
	assert.Contains(t, page.body, "Pricing &amp; plans &lt;2026&gt;")
	assert.Contains(t, page.body, "Proposed output, before the edit")
}

func TestABadEditIsShownWithItsViolations(t *testing.T) {
	f := newFixture(t)
	id := f.park("pricing")
	for _, tc := range []struct {
		name, output string
		want         []string
	}{
		{"contract", `{"to": "bob@example.com", "subject": "", "confidence": 7}`,
			[]string{"<code><bdi>/confidence</bdi></code>: ", "<code><bdi>/subject</bdi></code>: ", "(found <bdi>7</bdi>)"}},
		{"syntax", "{\n  \"to\": \"bob@example.com\",\n  \"subject\": \"Hi\"\n  \"confidence\": 1\n}",
			[]string{"not valid JSON", "line 4, column 3"}},
		{"empty", "  ", []string{"the output is empty"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			form := f.formValues(id)
			form.Set("output", tc.output)
			res := f.postForm("/review/reviews/"+id+"/approve", form)
			require.Equal(t, http.StatusUnprocessableEntity, res.status)
			assert.Contains(t, res.body, `id="violations"`)
			for _, w := range tc.want {
				assert.Contains(t, res.body, w)
			}
			assert.Equal(t, tc.output, textarea(t, res.body), "the reviewer's text is kept")
		})
	}
	assert.Equal(t, store.AwaitingReview, f.status(id))
}

func TestRejectFromThePage(t *testing.T) {
	f := newFixture(t)
	id := f.park("pricing")
	form := f.formValues(id)
	form.Set("reason", "  ")
	res := f.postForm("/review/reviews/"+id+"/reject", form)
	require.Equal(t, http.StatusUnprocessableEntity, res.status)
	assert.Contains(t, res.body, "A rejection needs a reason")
	assert.Equal(t, store.AwaitingReview, f.status(id))

	form.Set("reason", "Wrong tone <b>really</b>")
	res = f.postForm("/review/reviews/"+id+"/reject", form)
	require.Equal(t, http.StatusSeeOther, res.status, res.body)
	d := f.kit.Get(id)
	assert.Equal(t, store.DeadLettered, d.Run.Status)
	assert.Equal(t, "rejected by "+reviewer+": Wrong tone <b>really</b>", d.Run.Error)

	page := f.get("/review/reviews/" + id)
	assert.Contains(t, page.body, "rejected by "+reviewer+" at 2026-11-27 02:17:00 UTC: Wrong tone &lt;b&gt;really&lt;/b&gt;")
	assert.Contains(t, page.body, `<span class="status s-dead_lettered" id="run-status">dead_lettered</span>`)
}

func TestAStaleOrDecidedFormIsRefused(t *testing.T) {
	f := newFixture(t)
	id := f.park("pricing")
	form := f.formValues(id)

	stale := f.formValues(id)
	stale.Set("attempt", "9")
	res := f.postForm("/review/reviews/"+id+"/approve", stale)
	assert.Equal(t, http.StatusConflict, res.status)
	assert.Contains(t, res.body, "the review changed since it was opened")

	require.Equal(t, http.StatusOK, f.postJSON("/review/api/reviews/"+id+"/reject", `{"reason":"spam"}`).status)
	res = f.postForm("/review/reviews/"+id+"/approve", form)
	assert.Equal(t, http.StatusConflict, res.status)
	assert.Contains(t, res.body, "is dead_lettered, not awaiting review: rejected by "+reviewer)
	assert.Equal(t, store.DeadLettered, f.status(id))
}

func TestAFailedStepsReviewAsksForTheOutput(t *testing.T) {
	f := newFixture(t)
	id := f.parkFailed()
	page := f.get("/review/reviews/" + id)
	assert.Contains(t, page.body, "the step failed, so write the output to approve")
	assert.NotContains(t, page.body, `id="reset"`)
	assert.Contains(t, page.body, "injected permanent failure in step draft", "the failure is in the timeline")
	assert.Equal(t, "", textarea(t, page.body))

	form := f.formValues(id)
	res := f.postForm("/review/reviews/"+id+"/approve", form)
	assert.Equal(t, http.StatusUnprocessableEntity, res.status)
	assert.Contains(t, res.body, "proposed no output")

	form.Set("output", `{"to":"bob@example.com","subject":"Hello","confidence":1}`)
	res = f.postForm("/review/reviews/"+id+"/approve", form)
	require.Equal(t, http.StatusSeeOther, res.status, res.body)
	f.kit.Drain()
	f.kit.AssertSucceeded(id)
}

func TestUnknownPagesAreNotFound(t *testing.T) {
	f := newFixture(t)
	res := f.get("/review/reviews/nope")
	assert.Equal(t, http.StatusNotFound, res.status)
	assert.Contains(t, res.body, "no run with id &#34;nope&#34;")
	assert.Equal(t, "text/html; charset=utf-8", res.header.Get("Content-Type"))
	assert.Equal(t, http.StatusNotFound, f.get("/elsewhere").status)
}
