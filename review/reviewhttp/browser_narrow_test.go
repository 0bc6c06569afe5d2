package reviewhttp_test

import (
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/plumb-dev/plumb/store"
)

// TestBrowserPhone uses the inbox on a phone-sized screen (390×844 CSS
// pixels): no page scrolls sideways, the decision controls can be reached
// and used, and a reason holding a right-to-left override reads as it is
// written.
func TestBrowserPhone(t *testing.T) {
	f := newFixture(t)
	ctx, srv := reviewerBrowser(t, f)
	require.NoError(t, chromedp.Do(ctx, chromedp.EmulateViewport(390, 844)))

	f.park(strings.Repeat("a long question about pricing tiers and seats ", 3))
	id := f.park(spoof)

	fits := func(what string) {
		t.Helper()
		width := run(t, ctx, chromedp.Evaluate[int](`document.documentElement.scrollWidth`))
		assert.LessOrEqual(t, width, 390, "%s scrolls sideways", what)
	}
	require.NoError(t, chromedp.Do(ctx,
		chromedp.Navigate(srv.URL+"/review/"),
		chromedp.WaitVisible(chromedp.CSS(`a.run`)),
	))
	shot(t, ctx, "phone-inbox")
	fits("the inbox")
	assert.Equal(t, true, run(t, ctx, chromedp.Evaluate[bool](readsInOrder)),
		"the reason reads g-n-p-.-e-x-e from left to right, its override not applied")

	require.NoError(t, chromedp.Do(ctx,
		chromedp.Click(chromedp.CSS(`a[href="/review/reviews/`+id+`"]`)),
		chromedp.WaitVisible(chromedp.ID("output")),
	))
	shot(t, ctx, "phone-review")
	fits("the review page")
	for _, button := range []string{"approve", "reject"} {
		inside := run(t, ctx, chromedp.Evaluate[bool](`(() => { const r = document.getElementById("`+button+
			`").getBoundingClientRect(); return r.width > 0 && r.left >= 0 && r.right <= 390; })()`))
		assert.True(t, inside, "the %s button is on the screen", button)
	}
	require.NoError(t, chromedp.Do(ctx,
		chromedp.ScrollIntoView(chromedp.ID("approve")),
		chromedp.Click(chromedp.ID("approve")),
		chromedp.WaitVisible(chromedp.CSS(".flash")),
	))
	fits("the inbox after a decision")
	assert.Equal(t, store.Queued, f.status(id))
}

// readsInOrder reports whether the "g" of "gnp.exe" in the inbox's reason
// is drawn left of its "e": false when the U+202E before it is applied.
const readsInOrder = `(() => {
  const w = document.createTreeWalker(document.querySelector("main"), NodeFilter.SHOW_TEXT);
  for (let n; (n = w.nextNode()); ) {
    const i = n.data.indexOf("gnp.exe");
    if (i < 0) continue;
    const r = document.createRange();
    r.setStart(n, i); r.setEnd(n, i + 1);
    const g = r.getBoundingClientRect().left;
    r.setStart(n, i + 4); r.setEnd(n, i + 5);
    return g < r.getBoundingClientRect().left;
  }
  return null;
})()`
