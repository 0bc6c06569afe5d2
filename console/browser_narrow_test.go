package console_test

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/plumb-dev/plumb/pipeline"
	"github.com/plumb-dev/plumb/step"
	"github.com/plumb-dev/plumb/store"
)

// TestBrowserPhone uses every page on a phone-sized screen (390×844 CSS
// pixels): none scrolls sideways, whatever long ids and errors it holds,
// and the actions stay on the screen.
func TestBrowserPhone(t *testing.T) {
	f := newFixture(t)
	ctx := browserAs(t, operator, "operator")
	require.NoError(t, chromedp.Do(ctx, chromedp.EmulateViewport(390, 844)))
	long := strings.Repeat("a-very-long-token-without-spaces-", 6)
	bad := f.lead(Lead{ID: long, Text: long}, step.Trigger{Source: "form", ExternalID: long}, long)
	require.Equal(t, store.DeadLettered, bad.Run.Status)
	good := f.lead(Lead{ID: "lead-4", Email: "bob@example.com", Text: "pricing"}, step.Trigger{Source: "form", ExternalID: "lead-4"}, "")
	dig, err := f.digest.Submit(t.Context(), "plumb x works", pipeline.SubmitOptions{})
	require.NoError(t, err)
	f.settle(dig)

	for _, p := range []struct{ name, path string }{
		{"overview", ""},
		{"runs", "runs"},
		{"a run", "runs/" + bad.Run.ID},
		{"a re-asked run", "runs/" + good.Run.ID},
		{"a parent", "runs/" + dig},
		{"dead letters", "deadletters"},
		{"a replay preview", "replay?pipeline=leads"},
		{"a cancel preview", "cancel?pipeline=leads"},
		{"the inbox", "review/"},
	} {
		require.NoError(t, chromedp.Do(ctx, chromedp.Navigate(f.srv.URL+"/ops/"+p.path), chromedp.WaitReady(chromedp.CSS("body"))))
		width := run(t, ctx, chromedp.Evaluate[int](`document.documentElement.scrollWidth`))
		assert.LessOrEqual(t, width, 390, "%s scrolls sideways", p.name)
		if p.name == "overview" || p.name == "a run" {
			shot(t, ctx, "phone-"+strings.ReplaceAll(p.name, " ", "-"))
		}
	}
	require.NoError(t, chromedp.Do(ctx, chromedp.Navigate(f.srv.URL+"/ops/runs/"+bad.Run.ID), chromedp.WaitVisible(chromedp.ID("replay-button"))))
	for _, b := range []string{"check", "replay-button", "cancel-button"} {
		if b == "cancel-button" {
			continue // a dead-lettered run has ended: nothing to cancel
		}
		inside := run(t, ctx, chromedp.Evaluate[bool](`(() => { const r = document.getElementById("`+b+
			`").getBoundingClientRect(); return r.width > 0 && r.left >= 0 && r.right <= 390; })()`))
		assert.True(t, inside, "the %s button is on the screen", b)
	}
}

// TestBrowserViewer signs in as a viewer: every page shows, no action is
// offered, and the pages still update live.
func TestBrowserViewer(t *testing.T) {
	f := newFixture(t)
	ctx := browserAs(t, viewer, "viewer")
	bad := f.lead(Lead{ID: "lead-1", Text: "no address"}, step.Trigger{Source: "form", ExternalID: "lead-1"}, "")
	rev := f.lead(Lead{ID: "lead-5", Email: "eve@example.com", Text: "please review"}, step.Trigger{Source: "form", ExternalID: "lead-5"}, "")
	require.Equal(t, store.AwaitingReview, rev.Run.Status)
	for _, p := range []string{"", "runs", "runs/" + bad.Run.ID, "deadletters", "replay?pipeline=leads", "cancel?pipeline=leads"} {
		require.NoError(t, chromedp.Do(ctx, chromedp.Navigate(f.srv.URL+"/ops/"+p), chromedp.WaitVisible(chromedp.ID("main"))))
		forms := run(t, ctx, chromedp.Evaluate[int](`document.querySelectorAll("form[method=post], #replay, #cancel-filter, #replay-filter, a[id^=preview-]").length`))
		assert.Zero(t, forms, "the page /ops/%s offers a viewer an action", p)
		assert.Contains(t, run(t, ctx, chromedp.Text(chromedp.ID("who"))), "viewer")
	}
	shot(t, ctx, "viewer-run")

	// The inbox inside reads the same: the review, no decision form; a
	// decision sent anyway (by the page's own origin) is refused.
	require.NoError(t, chromedp.Do(ctx, chromedp.Navigate(f.srv.URL+"/ops/review/reviews/"+rev.Run.ID), chromedp.WaitVisible(chromedp.ID("read-only"))))
	assert.Zero(t, run(t, ctx, chromedp.Evaluate[int](`document.querySelectorAll("form[method=post], button, textarea").length`)),
		"the review page offers a viewer a decision")
	assert.Contains(t, run(t, ctx, chromedp.Text(chromedp.ID("read-only"))), "not decide it")
	for _, action := range []string{"approve", "reject"} {
		// A form the viewer's browser builds and submits itself: same
		// origin, under the page's CSP.
		submit := chromedp.Evaluate[bool](`(() => { const f = document.createElement("form");
			f.method = "post"; f.action = location.pathname.replace(/\/(approve|reject)$/, "") + "/` + action + `";
			const i = document.createElement("input"); i.name = "reason"; i.value = "no"; f.append(i);
			document.body.append(f); f.submit(); return true; })()`)
		resp, err := chromedp.RunResponse(ctx, func(ctx context.Context, tg *chromedp.Target) (chromedp.Void, error) {
			_, err := submit(ctx, tg)
			return chromedp.Void{}, err
		})
		require.NoError(t, err)
		assert.Equal(t, int64(http.StatusForbidden), resp.Status, action)
		assert.Contains(t, run(t, ctx, chromedp.Text(chromedp.CSS("body"))), "not decide reviews")
		require.NoError(t, chromedp.Do(ctx, chromedp.Navigate(f.srv.URL+"/ops/review/reviews/"+rev.Run.ID), chromedp.WaitVisible(chromedp.ID("read-only"))))
	}
	assert.Equal(t, store.AwaitingReview, f.waitStatus(rev.Run.ID, store.AwaitingReview).Run.Status, "nothing was decided")
	shot(t, ctx, "viewer-review")

	// The overview follows the store without a reload.
	require.NoError(t, chromedp.Do(ctx, chromedp.Navigate(f.srv.URL+"/ops/"), chromedp.WaitVisible(chromedp.ID("main"))))
	before := run(t, ctx, chromedp.TextContent(chromedp.ID("main")))
	assert.Contains(t, before, "Dead letters1")
	f.lead(Lead{ID: "lead-2", Text: "no address"}, step.Trigger{Source: "form", ExternalID: "lead-2"}, "")
	until(t, ctx, `document.getElementById("main").textContent.includes("Dead letters2")`)
}
