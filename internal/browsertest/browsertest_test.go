package browsertest_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/require"

	"github.com/plumb-dev/plumb/internal/browsertest"
)

// A browser that dies at launch is started again: here a wrapper that
// fails its first launch, then runs the real Chromium.
func TestStartTriesAgainWhenTheBrowserDiesAtLaunch(t *testing.T) {
	bin := browsertest.Chromium(t, "TestStartTriesAgainWhenTheBrowserDiesAtLaunch")
	dir := t.TempDir()
	once, wrapper := filepath.Join(dir, "launched"), filepath.Join(dir, "chromium")
	script := "#!/bin/sh\nif [ ! -e '" + once + "' ]; then : > '" + once + "'; echo 'crashed at launch' >&2; exit 1; fi\nexec '" + bin + "' \"$@\"\n"
	require.NoError(t, os.WriteFile(wrapper, []byte(script), 0o755))

	ctx := browsertest.Start(t, context.Background(), wrapper, 390, 800)
	_, err := chromedp.Run(ctx, chromedp.Navigate("data:text/html,<title>up</title>"))
	require.NoError(t, err)
	title, err := chromedp.Run(ctx, chromedp.Evaluate[string]("document.title"))
	require.NoError(t, err)
	require.Equal(t, "up", title)
	_, err = os.Stat(once)
	require.NoError(t, err, "the first launch ran and failed")
}
