package reviewhttp_test

import (
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestBrowserFindsACustomersItem searches the inbox in a real Chromium,
// as a reviewer told "my lead lead-0197 never got a reply" would: every
// row says whose item it is, the search box narrows the inbox to that
// item, and an attacker's external id is shown as text, not run — on a
// desktop screen and on a phone's.
func TestBrowserFindsACustomersItem(t *testing.T) {
	f := newFixture(t)
	ctx, srv := reviewerBrowser(t, f)

	lead := f.parkFrom("webhook:hubspot", "lead-0197", "batch-1/lead-0197", "pricing")
	f.kit.Clock.Advance(time.Minute)
	f.parkFrom("web-form", "lead-0200", "", "demo")
	f.kit.Clock.Advance(time.Minute)
	evil := f.parkFrom("web-form", xssID, "", "invoice")
	f.kit.Clock.Advance(time.Minute)
	long := f.parkFrom("import:"+strings.Repeat("crm", 20), "lead-"+strings.Repeat("0123456789", 8), "", "a long id")

	rows := func() int {
		return run(t, ctx, chromedp.Evaluate[int](`document.querySelectorAll("table.inbox tbody tr").length`))
	}
	require.NoError(t, chromedp.Do(ctx,
		chromedp.Navigate(srv.URL+"/review/"),
		chromedp.WaitVisible(chromedp.ID("q")),
	))
	shot(t, ctx, "inbox-from")
	assert.Equal(t, 4, rows())
	from := run(t, ctx, chromedp.Text(chromedp.CSS(`tr:has(a[href="/review/reviews/`+lead+`"]) td.from`)))
	assert.Contains(t, from, "webhook:hubspot")
	assert.Contains(t, from, "lead-0197")
	assert.Equal(t, xssID, run(t, ctx, chromedp.Evaluate[string](
		`document.querySelector('tr:has(a[href="/review/reviews/`+evil+`"]) a.external bdi').textContent.replace("U+202E", "\u202e")`)),
		"the attacker's id is text")
	assert.Equal(t, "undefined", run(t, ctx, chromedp.Evaluate[string](`String(window.pwned)`)), "and did not run")

	// The reviewer types the customer's id and presses Find.
	require.NoError(t, chromedp.Do(ctx,
		chromedp.SendKeys(chromedp.ID("q"), "lead-0197"),
		chromedp.Click(chromedp.ID("search")),
		chromedp.WaitVisible(chromedp.ID("clear")),
	))
	shot(t, ctx, "inbox-found")
	assert.Equal(t, 1, rows())
	assert.Contains(t, run(t, ctx, chromedp.Evaluate[string](`location.search`)), "q=lead-0197")
	assert.Equal(t, "/review/reviews/"+lead, run(t, ctx, chromedp.Evaluate[string](`document.querySelector("a.run").getAttribute("href")`)))

	// Searching for the attacker's id finds it and runs nothing.
	require.NoError(t, chromedp.Do(ctx,
		chromedp.SetValue(chromedp.ID("q"), xssID),
		chromedp.Click(chromedp.ID("search")),
		chromedp.WaitVisible(chromedp.CSS(`a[href="/review/reviews/`+evil+`"]`)),
	))
	assert.Equal(t, 1, rows())
	assert.Equal(t, "undefined", run(t, ctx, chromedp.Evaluate[string](`String(window.pwned)`)))
	assert.Zero(t, run(t, ctx, chromedp.Evaluate[int](`document.querySelectorAll("main img, main script").length`)))

	// Clicking an external id lists that item's reviews.
	require.NoError(t, chromedp.Do(ctx,
		chromedp.Click(chromedp.ID("clear")),
		chromedp.WaitVisible(chromedp.CSS(`a[href="/review/reviews/`+long+`"]`)),
		chromedp.Click(chromedp.CSS(`tr:has(a[href="/review/reviews/`+lead+`"]) a.external`)),
		chromedp.WaitVisible(chromedp.ID("clear")),
	))
	assert.Equal(t, 1, rows())
	assert.Equal(t, "lead-0197", run(t, ctx, chromedp.Value(chromedp.ID("q"))))

	// On a phone the inbox, its search box and a long id still fit.
	require.NoError(t, chromedp.Do(ctx,
		chromedp.EmulateViewport(390, 844),
		chromedp.Navigate(srv.URL+"/review/"),
		chromedp.WaitVisible(chromedp.ID("q")),
	))
	shot(t, ctx, "phone-inbox-from")
	assert.LessOrEqual(t, run(t, ctx, chromedp.Evaluate[int](`document.documentElement.scrollWidth`)), 390, "the inbox scrolls sideways")
	for _, sel := range []string{"#q", "#search"} {
		inside := run(t, ctx, chromedp.Evaluate[bool](`(() => { const r = document.querySelector("`+sel+
			`").getBoundingClientRect(); return r.width > 40 && r.left >= 0 && r.right <= 390; })()`))
		assert.True(t, inside, "%s is on the screen and usable", sel)
	}
	require.NoError(t, chromedp.Do(ctx,
		chromedp.SendKeys(chromedp.ID("q"), "lead-0200"),
		chromedp.Click(chromedp.ID("search")),
		chromedp.WaitVisible(chromedp.ID("clear")),
	))
	assert.Equal(t, 1, rows())
}
