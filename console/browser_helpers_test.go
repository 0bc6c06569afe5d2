package console_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/require"

	"github.com/plumb-dev/plumb/internal/browsertest"
)

// browserAs opens a headless Chromium that sends who's identity and role
// with every request, as an authenticating proxy would add them.
func browserAs(t *testing.T, who, role string) context.Context {
	t.Helper()
	bin := browsertest.Chromium(t, "the console's browser tests")
	// Generous: a loaded machine running -race in parallel is slow, and a
	// test that ends early says nothing.
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Minute)
	t.Cleanup(cancel)
	tab := browsertest.Start(t, ctx, bin, 1100, 850)
	_, err := chromedp.Call(tab, network.Enable, network.EnableParams{})
	require.NoError(t, err)
	_, err = chromedp.Call(tab, network.SetExtraHTTPHeaders,
		network.SetExtraHTTPHeadersParams{Headers: network.Headers{"X-User": who, "X-Role": role}})
	require.NoError(t, err)
	return tab
}

// run runs an action that returns a value, failing the test on an error.
func run[T any](t *testing.T, ctx context.Context, a chromedp.Action[T]) T {
	t.Helper()
	v, err := chromedp.Run(ctx, a)
	require.NoError(t, err)
	return v
}

// until waits for a JavaScript predicate to hold, through the page's
// own reloads (a batch's progress page refreshes itself).
func until(t *testing.T, ctx context.Context, expr string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		ok, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`(() => { try { return !!(`+expr+`); } catch (e) { return false; } })()`))
		if err == nil && ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("still not %s after 20 s (last error: %v)", expr, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// shot takes a screenshot of the viewport. With PLUMB_CONSOLE_SCREENSHOTS=1
// it is written to testdata/screenshots, the pictures the README shows;
// otherwise to a temporary directory, so the pictures are always taken.
func shot(t *testing.T, ctx context.Context, name string) {
	t.Helper()
	dir := t.TempDir()
	if os.Getenv("PLUMB_CONSOLE_SCREENSHOTS") == "1" {
		dir = filepath.Join("testdata", "screenshots")
		require.NoError(t, os.MkdirAll(dir, 0o755))
	}
	b := run(t, ctx, chromedp.CaptureScreenshot())
	require.NoError(t, os.WriteFile(filepath.Join(dir, name+".png"), b, 0o644))
}

// labelled reports, in the page, the form controls that have no label
// and the buttons and links with no text: empty when every control can be
// named by a screen reader.
const unlabelled = `(() => {
  const bad = [];
  document.querySelectorAll("input:not([type=hidden]), select, textarea").forEach(el => {
    if (!(el.labels && el.labels.length) && !el.getAttribute("aria-label")) bad.push(el.outerHTML.slice(0, 80));
  });
  document.querySelectorAll("button, a[href]").forEach(el => {
    if (!el.textContent.trim() && !el.getAttribute("aria-label")) bad.push(el.outerHTML.slice(0, 80));
  });
  document.querySelectorAll("[tabindex]").forEach(el => {
    if (el.tabIndex > 0) bad.push("positive tabindex: " + el.outerHTML.slice(0, 80));
  });
  return bad;
})()`
