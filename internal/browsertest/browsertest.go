// Package browsertest starts the headless Chromium that the browser tests
// of the review inbox and the console drive. Tests only.
package browsertest

import (
	"context"
	"os"
	"testing"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/require"
)

// DefaultPath is where Debian and Ubuntu install Chromium.
const DefaultPath = "/usr/bin/chromium"

// Chromium finds the browser: $PLUMB_CHROMIUM, else DefaultPath. Without
// one the test is skipped loudly (what names the tests that did not run),
// except when $CI is "true", where it fails: a CI run must drive the
// browser. In -short mode the test is skipped.
func Chromium(t testing.TB, what string) string {
	t.Helper()
	if testing.Short() {
		t.Skip("browser test skipped in -short mode")
	}
	bin := os.Getenv("PLUMB_CHROMIUM")
	if bin == "" {
		bin = DefaultPath
	}
	if _, err := os.Stat(bin); err != nil {
		msg := "NO CHROMIUM at " + bin + ": " + what + " did not run. Install it (apt-get install -y chromium) or set PLUMB_CHROMIUM."
		if os.Getenv("CI") == "true" {
			t.Fatal(msg)
		}
		t.Skip("!!! " + msg)
	}
	return bin
}

// Start starts a headless Chromium at bin with a window of width×height
// and returns a context that drives a tab of it; the browser ends with
// the test (before its profile directory is removed). A browser that
// dies while starting (Chromium now and then crashes at launch on a busy
// machine, before any page is loaded) is started again, with a fresh
// profile, up to three times; each failure is logged.
func Start(t testing.TB, parent context.Context, bin string, width, height int) context.Context {
	t.Helper()
	const tries = 3
	var err error
	for i := 1; i <= tries; i++ {
		var ctx context.Context
		ctx, err = start(t, parent, bin, width, height)
		if err == nil {
			return ctx
		}
		t.Logf("start chromium, try %d of %d: %v", i, tries, err)
	}
	require.NoError(t, err, "start chromium")
	return nil
}

// start launches one browser and its first tab.
func start(t testing.TB, parent context.Context, bin string, width, height int) (context.Context, error) {
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(bin),
		chromedp.Headless,
		chromedp.NoSandbox, // tests may run as root in a container
		chromedp.DisableGPU,
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(width, height),
		// Without these Chromium dials out at start (updates, sync, QUIC
		// probes), which a closed network refuses, slowly.
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("no-proxy-server", true),
	)
	actx, cancelAlloc := chromedp.NewExecAllocator(parent, opts...)
	ctx, cancelTab := chromedp.NewContext(actx)
	if err := chromedp.Do(ctx); err != nil {
		cancelTab()
		cancelAlloc()
		return nil, err
	}
	// Registered after TempDir, so they run first.
	t.Cleanup(func() { cancelTab(); cancelAlloc() })
	return ctx, nil
}
