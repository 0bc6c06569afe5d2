package reviewhttp_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/plumb-dev/plumb/internal/browsertest"
	"github.com/plumb-dev/plumb/pipeline"
	"github.com/plumb-dev/plumb/store"
)

// reviewerBrowser serves f's inbox under /review/ and opens a headless
// Chromium on it that sends the reviewer's identity, as an authenticating
// proxy would add it.
func reviewerBrowser(t *testing.T, f *fixture) (context.Context, *httptest.Server) {
	t.Helper()
	bin := chromium(t)
	mux := http.NewServeMux()
	mux.Handle("/review/", f.h)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)

	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	t.Cleanup(cancel)
	ctx = browser(t, ctx, bin)
	_, err := chromedp.Call(ctx, network.Enable, network.EnableParams{})
	require.NoError(t, err)
	_, err = chromedp.Call(ctx, network.SetExtraHTTPHeaders,
		network.SetExtraHTTPHeadersParams{Headers: network.Headers{"X-Reviewer": reviewer}})
	require.NoError(t, err)
	return ctx, srv
}

// TestBrowser drives the inbox in a real headless Chromium, next to a
// worker: what a reviewer does, end to end, with the forms submitted by
// the browser itself (its Origin and Sec-Fetch-Site headers, its form
// encoding, the page's CSP in force).
func TestBrowser(t *testing.T) {
	f := newFixture(t)
	// The application's service: the inbox mounted under /review/, a
	// worker resuming approved runs.
	ctx, srv := reviewerBrowser(t, f)
	startWorker(t, f)

	t.Run("approve an edit", func(t *testing.T) {
		const evil = `<img src=x onerror="window.pwned=1"><script>window.pwned=2</script>`
		id := submit(t, f, evil)

		require.NoError(t, chromedp.Do(ctx, chromedp.Navigate(srv.URL+"/review/")))
		shot(t, ctx, "inbox")
		require.NoError(t, chromedp.Do(ctx,
			chromedp.Click(chromedp.CSS(`a[href="/review/reviews/`+id+`"]`)),
			chromedp.WaitVisible(chromedp.ID("output")),
		))
		assert.Equal(t, "low confidence in the reply Re: "+evil, run(t, ctx, chromedp.Text(chromedp.ID("reason"))),
			"the payload is shown as text")
		assert.Equal(t, "undefined", run(t, ctx, chromedp.Evaluate[string](`String(window.pwned)`)), "the payload did not run")

		proposal := run(t, ctx, chromedp.Value(chromedp.ID("output")))
		var draft Draft
		require.NoError(t, json.Unmarshal([]byte(proposal), &draft))
		assert.Equal(t, "Re: "+evil, draft.Subject)

		// An edit that breaks the contract is refused next to the edit,
		// which is kept.
		draft.Confidence = 7
		bad := indent(t, draft)
		require.NoError(t, chromedp.Do(ctx,
			chromedp.SetValue(chromedp.ID("output"), bad),
			chromedp.Click(chromedp.ID("approve")),
			chromedp.WaitVisible(chromedp.ID("violations")),
		))
		assert.Contains(t, run(t, ctx, chromedp.Text(chromedp.ID("violations"))), "/confidence: ")
		assert.Equal(t, bad, run(t, ctx, chromedp.Value(chromedp.ID("output"))))
		assert.Equal(t, store.AwaitingReview, f.status(id))

		// The page's script runs under its CSP (by nonce): its reset button
		// shows and brings the proposal back.
		require.NoError(t, chromedp.Do(ctx,
			chromedp.WaitVisible(chromedp.ID("reset")),
			chromedp.Click(chromedp.ID("reset")),
		))
		assert.Equal(t, proposal, run(t, ctx, chromedp.Value(chromedp.ID("output"))))
		shot(t, ctx, "review")

		// A good edit is approved; the worker resumes the run with it.
		draft.Confidence, draft.Subject = 0.9, "Our pricing, explained"
		require.NoError(t, chromedp.Do(ctx,
			chromedp.SetValue(chromedp.ID("output"), indent(t, draft)),
			chromedp.Click(chromedp.ID("approve")),
			chromedp.WaitVisible(chromedp.CSS(".flash")),
		))
		shot(t, ctx, "inbox-flash")
		assert.Equal(t, "Approved run "+id+" at step draft with your edit. A worker resumes it at the next step.",
			run(t, ctx, chromedp.Text(chromedp.CSS(".flash"))))

		d := waitFor(t, f, id, store.Succeeded)
		assert.JSONEq(t, `{"to":"bob@example.com","subject":"Our pricing, explained"}`, string(d.Run.Output))
		dc := d.Run.Review.Decision
		assert.True(t, dc.Approved && dc.Edited)
		assert.Equal(t, reviewer, dc.Reviewer)
	})

	t.Run("reject with a reason", func(t *testing.T) {
		id := submit(t, f, "demo request")
		require.NoError(t, chromedp.Do(ctx,
			chromedp.Navigate(srv.URL+"/review/"),
			chromedp.Click(chromedp.CSS(`a[href="/review/reviews/`+id+`"]`)),
			chromedp.WaitVisible(chromedp.ID("reject-reason")),
			chromedp.SendKeys(chromedp.ID("reject-reason"), "Wrong tone for a demo request"),
			chromedp.Click(chromedp.ID("reject")),
			chromedp.WaitVisible(chromedp.CSS(".flash")),
		))
		assert.Equal(t, "Rejected run "+id+" at step draft: it is dead-lettered with your reason.",
			run(t, ctx, chromedp.Text(chromedp.CSS(".flash"))))

		d := f.kit.Get(id)
		assert.Equal(t, store.DeadLettered, d.Run.Status)
		assert.Equal(t, "rejected by "+reviewer+": Wrong tone for a demo request", d.Run.Error)
		last := d.Steps[len(d.Steps)-1]
		assert.Equal(t, "rejected by "+reviewer+": Wrong tone for a demo request", last.Note)

		// The decided review's page says who decided, and why.
		require.NoError(t, chromedp.Do(ctx,
			chromedp.Navigate(srv.URL+"/review/reviews/"+id),
			chromedp.WaitVisible(chromedp.ID("decision")),
		))
		shot(t, ctx, "decided")
		decision := run(t, ctx, chromedp.Text(chromedp.ID("decision")))
		assert.Contains(t, decision, "rejected by "+reviewer)
		assert.Contains(t, decision, "Wrong tone for a demo request")
	})
}

// run runs an action that returns a value, failing the test on an error.
func run[T any](t *testing.T, ctx context.Context, a chromedp.Action[T]) T {
	t.Helper()
	v, err := chromedp.Run(ctx, a)
	require.NoError(t, err)
	return v
}

func chromium(t *testing.T) string {
	return browsertest.Chromium(t, "the review inbox's browser test")
}

// browser starts a headless Chromium for the test and returns a context
// that drives a tab of it.
func browser(t *testing.T, parent context.Context, bin string) context.Context {
	return browsertest.Start(t, parent, bin, 1200, 900)
}

// startWorker runs a worker for the fixture's pipeline until the test
// ends, polling often so that the test does not wait.
func startWorker(t *testing.T, f *fixture) {
	t.Helper()
	w, err := f.p.Runtime().NewWorker(pipeline.WorkerConfig{ID: "browser-test", Concurrency: 2, Poll: 10 * time.Millisecond, PruneEvery: -1})
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(f.kit.Context())
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		assert.NoError(t, <-done)
	})
}

// submit enqueues a lead and waits for the worker to park it for review.
func submit(t *testing.T, f *fixture, note string) string {
	t.Helper()
	id, err := f.p.Submit(t.Context(), Lead{Email: "bob@example.com", Note: note}, pipeline.SubmitOptions{})
	require.NoError(t, err)
	waitFor(t, f, id, store.AwaitingReview)
	return id
}

func waitFor(t *testing.T, f *fixture, id string, want store.Status) *store.RunDetail {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		d := f.kit.Get(id)
		if d.Run.Status == want {
			return d
		}
		if time.Now().After(deadline) {
			t.Fatalf("run %s is %s after 10 s, want %s: %s", id, d.Run.Status, want, d.Run.Error)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func indent(t *testing.T, v any) string {
	t.Helper()
	var b strings.Builder
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	require.NoError(t, enc.Encode(v))
	return strings.TrimSpace(b.String())
}

// shot saves a screenshot of the page when $PLUMB_SCREENSHOTS names a
// directory: a look at the pages after a change to the templates.
func shot(t *testing.T, ctx context.Context, name string) {
	t.Helper()
	dir := os.Getenv("PLUMB_SCREENSHOTS")
	if dir == "" {
		return
	}
	b := run(t, ctx, chromedp.FullScreenshot(100)) // 100: PNG
	require.NoError(t, os.WriteFile(filepath.Join(dir, name+".png"), b, 0o644))
}
