package reviewhttp_test

import (
	"net/http"
	"net/url"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/plumb-dev/plumb/review/reviewhttp"
	"github.com/plumb-dev/plumb/store"
)

// Someone Config.CanDecide says no to reads the inbox and each review,
// with no form and no token, and every decision of theirs, by form or by
// API, is refused before anything is written.
func TestCanDecideMakesTheInboxReadOnly(t *testing.T) {
	const guest = "vic@example.com"
	f := newFixture(t, func(c *reviewhttp.Config) {
		c.CanDecide = func(r *http.Request) bool { return r.Header.Get("X-Reviewer") != guest }
	})
	id := f.park("pricing")
	good := f.formValues(id) // the reviewer's own form, token and all

	list := f.request(guest, http.MethodGet, "/review/", "")
	require.Equal(t, http.StatusOK, list.status)
	assert.Contains(t, list.body, id)
	page := f.request(guest, http.MethodGet, "/review/reviews/"+id, "")
	require.Equal(t, http.StatusOK, page.status)
	assert.Contains(t, page.body, `id="read-only"`)
	assert.Contains(t, page.body, "Re: pricing", "the proposal is shown")
	assert.NotContains(t, page.body, `method="post"`)
	assert.NotContains(t, page.body, `name="csrf"`)
	assert.NotContains(t, page.body, `id="approve"`)

	for _, path := range []string{"/review/reviews/" + id + "/approve", "/review/reviews/" + id + "/reject"} {
		form := url.Values{"csrf": good["csrf"], "attempt": good["attempt"], "step": good["step"], "reason": {"no"}}
		res := f.request(guest, http.MethodPost, path, form.Encode(),
			"Content-Type", "application/x-www-form-urlencoded", "Sec-Fetch-Site", "same-origin")
		assert.Equal(t, http.StatusForbidden, res.status, path)
		assert.Contains(t, res.body, "not decide reviews")
	}
	for _, path := range []string{"/review/api/reviews/" + id + "/approve", "/review/api/reviews/" + id + "/reject"} {
		res := f.request(guest, http.MethodPost, path, `{"reason":"no"}`, "Content-Type", "application/json")
		assert.Equal(t, http.StatusForbidden, res.status, path)
		assert.Contains(t, res.body, `"error": "you may read the inbox but not decide reviews`)
	}
	assert.Equal(t, store.AwaitingReview, f.status(id), "nothing was decided")

	// Whoever it says yes to decides as before.
	assert.Contains(t, f.get("/review/reviews/"+id).body, `id="approve"`)
	res := f.postForm("/review/reviews/"+id+"/approve", f.formValues(id))
	assert.Equal(t, http.StatusSeeOther, res.status, res.body)
	assert.Equal(t, store.Queued, f.status(id))
}
