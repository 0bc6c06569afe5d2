package console_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/plumb-dev/plumb/pipeline"
	"github.com/plumb-dev/plumb/step"
	"github.com/plumb-dev/plumb/store"
)

// evil is put in every field a user, a source system or a model fills.
const evil = `<img src=x onerror="window.pwned=1"><script>window.pwned=2</script>`

// notPwned asserts that no payload ran on the page.
func notPwned(t *testing.T, ctx context.Context, where string) {
	t.Helper()
	assert.Equal(t, "undefined", run(t, ctx, chromedp.Evaluate[string](`String(window.pwned)`)), "a payload ran on %s", where)
}

// click clicks what leads to another page, and waits for that page.
func click[S chromedp.Selectable](t *testing.T, ctx context.Context, sel S) {
	t.Helper()
	_, err := chromedp.RunResponse(ctx, chromedp.Click(sel))
	require.NoError(t, err)
}

// labels asserts that every control of the page has a label.
func labels(t *testing.T, ctx context.Context, where string) {
	t.Helper()
	assert.Empty(t, run(t, ctx, chromedp.Evaluate[[]string](unlabelled)), "unlabelled controls on %s", where)
}

// TestBrowserOperator drives every page and action of the console in a
// real headless Chromium, as an operator, next to a worker: the forms are
// submitted by the browser itself, under the page's CSP.
func TestBrowserOperator(t *testing.T) {
	f := newFixture(t)
	ctx := browserAs(t, operator, "operator")
	base := f.srv.URL + "/ops/"
	nav := func(t *testing.T, path string) {
		t.Helper()
		require.NoError(t, chromedp.Do(ctx, chromedp.Navigate(base+path), chromedp.WaitVisible(chromedp.ID("main"))))
	}

	// The morning's record: three leads refused at parse (one carrying a
	// payload in every field), one that succeeds after a re-ask, one
	// waiting for review, and a digest whose branch failed.
	bad := f.lead(Lead{ID: "lead-evil", Text: evil}, step.Trigger{Source: "form " + evil, ExternalID: "ext " + evil}, "key "+evil)
	require.Equal(t, store.DeadLettered, bad.Run.Status)
	f.lead(Lead{ID: "lead-2", Text: "no address"}, step.Trigger{Source: "form", ExternalID: "lead-2"}, "")
	f.lead(Lead{ID: "lead-3", Text: "no address either"}, step.Trigger{Source: "form", ExternalID: "lead-3"}, "")
	good := f.lead(Lead{ID: "lead-4", Email: "bob@example.com", Text: "pricing"}, step.Trigger{Source: "form", ExternalID: "lead-4"}, "")
	require.Equal(t, store.Succeeded, good.Run.Status)
	rev := f.lead(Lead{ID: "lead-5", Email: "eve@example.com", Text: "please review"}, step.Trigger{Source: "form", ExternalID: "lead-5"}, "")
	require.Equal(t, store.AwaitingReview, rev.Run.Status)
	dig, err := f.digest.Submit(t.Context(), "plumb x works", pipeline.SubmitOptions{})
	require.NoError(t, err)
	digest := f.settle(dig)

	t.Run("overview", func(t *testing.T) {
		nav(t, "")
		text := run(t, ctx, chromedp.Text(chromedp.ID("main")))
		assert.Contains(t, text, "leads")
		assert.Contains(t, run(t, ctx, chromedp.TextContent(chromedp.ID("main"))), "Dead letters3")
		assert.Contains(t, text, "3 failed, 2 succeeded: 60.0%")
		// The hourly charts are computed in the background; the live
		// refresh brings them in.
		until(t, ctx, `document.querySelectorAll("svg.chart").length > 0`)
		// Each step's chart has a title and a text description; its bars
		// name their hour and counts.
		titles := run(t, ctx, chromedp.Evaluate[[]string](`[...document.querySelectorAll("svg.chart > title")].map(e => e.textContent)`))
		assert.Contains(t, titles, "Failure rate of step parse per hour, last 24 hours")
		desc := run(t, ctx, chromedp.Evaluate[string](`[...document.querySelectorAll("svg.chart > desc")].map(e => e.textContent).join("\n")`))
		assert.Contains(t, desc, "3 of 5 attempts of step parse failed over the last 24 hours")
		labels(t, ctx, "the overview")
		shot(t, ctx, "overview")
	})

	t.Run("search", func(t *testing.T) {
		nav(t, "runs")
		require.NoError(t, chromedp.Do(ctx, chromedp.SetValue(chromedp.ID("f-status"), "dead_lettered"), chromedp.SendKeys(chromedp.ID("f-pipeline"), "leads")))
		click(t, ctx, chromedp.ID("search"))
		require.NoError(t, chromedp.Do(ctx, chromedp.WaitVisible(chromedp.ID("results"))))
		assert.Equal(t, 3, run(t, ctx, chromedp.Evaluate[int](`document.querySelectorAll("#results a.run").length`)))
		labels(t, ctx, "the search")
		shot(t, ctx, "runs")
		nav(t, "runs?external_id="+urlq("ext "+evil))
		assert.Contains(t, run(t, ctx, chromedp.Text(chromedp.ID("results"))), "ext "+evil, "the payload is shown as text")
		notPwned(t, ctx, "the search")
	})

	t.Run("a run's page shows its record as text", func(t *testing.T) {
		nav(t, "runs/"+bad.Run.ID)
		assert.Contains(t, run(t, ctx, chromedp.Text(chromedp.ID("run-error"))), evil)
		trigger := run(t, ctx, chromedp.Text(chromedp.ID("trigger")))
		assert.Contains(t, trigger, "form "+evil)
		assert.Contains(t, trigger, "ext "+evil)
		notPwned(t, ctx, "the run page")
		labels(t, ctx, "the run page")
	})

	t.Run("patch: violations at their path, then a replay", func(t *testing.T) {
		nav(t, "runs/"+bad.Run.ID)
		var in Lead
		require.NoError(t, json.Unmarshal([]byte(run(t, ctx, chromedp.Value(chromedp.ID("patch")))), &in))
		assert.Equal(t, "lead-evil", in.ID)
		broken := `{"id":"lead-evil","email":5,"text":"t"}`
		require.NoError(t, chromedp.Do(ctx, chromedp.SetValue(chromedp.ID("patch"), broken)))
		click(t, ctx, chromedp.ID("check"))
		require.NoError(t, chromedp.Do(ctx, chromedp.WaitVisible(chromedp.ID("violations"))))
		assert.Contains(t, run(t, ctx, chromedp.Text(chromedp.ID("violations"))), "/email: ")
		assert.Equal(t, broken, run(t, ctx, chromedp.Value(chromedp.ID("patch"))), "the text is kept")
		// Replay is refused the same way: nothing is written.
		click(t, ctx, chromedp.ID("replay-button"))
		require.NoError(t, chromedp.Do(ctx, chromedp.WaitVisible(chromedp.ID("violations"))))
		assert.Equal(t, 1, f.waitStatus(bad.Run.ID, store.DeadLettered).Run.Attempt)
		require.NoError(t, chromedp.Do(ctx, chromedp.ScrollIntoView(chromedp.ID("replay"))))
		shot(t, ctx, "patch-violations")

		fixed := `{"id":"lead-evil","email":"bob@example.com","text":"` + strings.ReplaceAll(evil, `"`, `\"`) + `"}`
		require.NoError(t, chromedp.Do(ctx, chromedp.SetValue(chromedp.ID("patch"), fixed)))
		click(t, ctx, chromedp.ID("check"))
		require.NoError(t, chromedp.Do(ctx, chromedp.WaitVisible(chromedp.ID("checked"))))
		assert.Contains(t, run(t, ctx, chromedp.Text(chromedp.ID("changes"))), `"email": "bob@example.com"`)
		require.NoError(t, chromedp.Do(ctx, chromedp.SendKeys(chromedp.ID("replay-reason"), "address from the CRM "+evil)))
		click(t, ctx, chromedp.ID("replay-button"))
		require.NoError(t, chromedp.Do(ctx, chromedp.WaitVisible(chromedp.ID("flash"))))
		assert.Contains(t, run(t, ctx, chromedp.Text(chromedp.ID("flash"))), "with your patch")
		// The page follows the run without a reload: the worker's success
		// arrives by the live refresh.
		until(t, ctx, `document.getElementById("run-status").textContent.startsWith("succeeded")`)
		assert.Contains(t, run(t, ctx, chromedp.Text(chromedp.ID("attempt-2"))), "replay from parse by "+operator+": address from the CRM "+evil)
		notPwned(t, ctx, "the replayed run")
		d := f.waitStatus(bad.Run.ID, store.Succeeded)
		assert.Equal(t, 2, d.Run.Attempt)
	})

	t.Run("re-ask diff and raw answers", func(t *testing.T) {
		nav(t, "runs/"+good.Run.ID)
		text := run(t, ctx, chromedp.Text(chromedp.ID("attempt-1")))
		assert.Contains(t, text, "(re-ask)")
		rows := run(t, ctx, chromedp.Evaluate[[]string](`[...document.querySelectorAll("table.diff tr")].map(r => r.textContent.replace(/\s+/g, " ").trim())`))
		assert.Contains(t, rows, `-removed "score": 7`)
		assert.Contains(t, rows, `+added "score": 0.8`)
		raw := run(t, ctx, chromedp.Evaluate[string](`[...document.querySelectorAll("pre.raw")].map(e => e.textContent).join("\n")`))
		assert.Contains(t, raw, `{"stage":"warm","score":7}`)
		require.NoError(t, chromedp.Do(ctx, chromedp.ScrollIntoView(chromedp.CSS("table.diff"))))
		shot(t, ctx, "run-reask")
	})

	t.Run("branches and the trace link", func(t *testing.T) {
		nav(t, "runs/"+digest.Run.ID)
		tree := run(t, ctx, chromedp.Text(chromedp.ID("branches")))
		for _, b := range []string{digest.Run.ID + ".1.0", digest.Run.ID + ".1.1", digest.Run.ID + ".1.2"} {
			assert.Contains(t, tree, b)
		}
		assert.Contains(t, tree, "dead_lettered at step title")
		require.NoError(t, chromedp.Do(ctx, chromedp.ScrollIntoView(chromedp.ID("branches-h"))))
		shot(t, ctx, "run-branches")
		click(t, ctx, chromedp.CSS(`#branches a[href$=".1.1"]`))
		require.NoError(t, chromedp.Do(ctx, chromedp.WaitVisible(chromedp.ID("parent"))))
		assert.Equal(t, digest.Run.ID, run(t, ctx, chromedp.Text(chromedp.ID("parent"))))
	})

	t.Run("batch replay of a dead-letter group", func(t *testing.T) {
		nav(t, "deadletters")
		text := run(t, ctx, chromedp.Text(chromedp.ID("main")))
		assert.Contains(t, text, "leads · step parse · permanent: 2 runs")
		labels(t, ctx, "the dead letters")
		shot(t, ctx, "deadletters")
		click(t, ctx, chromedp.CSS(`a[id^="preview-"][href*="pipeline=leads"]`))
		require.NoError(t, chromedp.Do(ctx, chromedp.WaitVisible(chromedp.ID("preview-count"))))
		assert.Equal(t, "2 runs would be replayed.", run(t, ctx, chromedp.Text(chromedp.ID("preview-count"))))
		labels(t, ctx, "the preview")
		shot(t, ctx, "replay-preview")
		click(t, ctx, chromedp.ID("confirm"))
		require.NoError(t, chromedp.Do(ctx, chromedp.WaitVisible(chromedp.ID("progress"))))
		until(t, ctx, `document.getElementById("job-summary").textContent.startsWith("Replayed 2 of 2")`)
		shot(t, ctx, "replay-done")
		page, err := f.st.ListRuns(t.Context(), store.RunFilter{ExternalID: "lead-2"})
		require.NoError(t, err)
		d := f.settle(page.Runs[0].ID)
		assert.Equal(t, 2, d.Run.Attempt)
		assert.Equal(t, "batch replay from parse by "+operator, d.Attempts[1].Reason, "who replayed is in the record")
		nav(t, "runs/"+d.Run.ID)
		assert.Contains(t, run(t, ctx, chromedp.Text(chromedp.ID("attempt-2"))), "batch replay from parse by "+operator, "and on the run's page")
	})

	t.Run("pause, cancel one and by filter, resume", func(t *testing.T) {
		nav(t, "")
		require.NoError(t, chromedp.Do(ctx, chromedp.SendKeys(chromedp.CSS(`input[id^="pause-reason-"]`), "CRM outage "+evil)))
		click(t, ctx, chromedp.CSS(`button[id$="-button"].danger`))
		require.NoError(t, chromedp.Do(ctx, chromedp.WaitVisible(chromedp.ID("flash"))))
		p, err := f.st.GetPause(t.Context(), "digest")
		require.NoError(t, err)
		require.NotNil(t, p, "the first pipeline on the page, digest, is paused")
		assert.Equal(t, operator, p.By)
		assert.Equal(t, "CRM outage "+evil, p.Reason)
		assert.Contains(t, run(t, ctx, chromedp.Text(chromedp.ID("main"))), "Paused by "+operator)
		notPwned(t, ctx, "the overview")

		var ids []string
		for _, s := range []string{"a", "b", "c"} {
			id, err := f.digest.Submit(t.Context(), s, pipeline.SubmitOptions{})
			require.NoError(t, err)
			ids = append(ids, id)
		}
		nav(t, "runs/"+ids[0])
		require.NoError(t, chromedp.Do(ctx, chromedp.SendKeys(chromedp.ID("cancel-reason"), "duplicate "+evil)))
		click(t, ctx, chromedp.ID("cancel-button"))
		require.NoError(t, chromedp.Do(ctx, chromedp.WaitVisible(chromedp.ID("run-cancel"))))
		assert.Contains(t, run(t, ctx, chromedp.Text(chromedp.ID("run-cancel"))), "cancelled by "+operator)
		notPwned(t, ctx, "the cancelled run")

		nav(t, "runs?pipeline=digest&status=queued")
		click(t, ctx, chromedp.ID("cancel-filter"))
		require.NoError(t, chromedp.Do(ctx, chromedp.WaitVisible(chromedp.ID("preview-count"))))
		assert.Equal(t, "2 runs would be cancelled.", run(t, ctx, chromedp.Text(chromedp.ID("preview-count"))))
		for _, id := range ids[1:] {
			assert.Equal(t, store.Queued, f.waitStatus(id, store.Queued).Run.Status, "a dry run cancels nothing")
		}
		require.NoError(t, chromedp.Do(ctx, chromedp.SendKeys(chromedp.ID("batch-reason"), "client paused the campaign")))
		click(t, ctx, chromedp.ID("confirm"))
		require.NoError(t, chromedp.Do(ctx, chromedp.WaitVisible(chromedp.ID("progress"))))
		until(t, ctx, `document.getElementById("job-summary").textContent.startsWith("Cancelled 2 of 2")`)
		for _, id := range ids[1:] {
			d := f.waitStatus(id, store.Cancelled)
			assert.Equal(t, operator, d.Run.Cancel.By)
			assert.Equal(t, "client paused the campaign", d.Run.Cancel.Reason)
		}

		nav(t, "")
		require.NoError(t, chromedp.Do(ctx, chromedp.SendKeys(chromedp.CSS(`input[id^="resume-reason-"]`), "CRM is back")))
		click(t, ctx, chromedp.CSS(`button[id^="resume-"]`))
		require.NoError(t, chromedp.Do(ctx, chromedp.WaitVisible(chromedp.ID("flash"))))
		p, err = f.st.GetPause(t.Context(), "digest")
		require.NoError(t, err)
		assert.Nil(t, p)
		// The overview keeps who paused and resumed, and why, newest first.
		require.NoError(t, chromedp.Do(ctx, chromedp.Click(chromedp.CSS(`#pause-log-0 > summary`))))
		entries := run(t, ctx, chromedp.Evaluate[[]string](`[...document.querySelectorAll("#pause-log-0 li")].map(e => e.textContent.replace(/\s+/g, " ").trim())`))
		require.Len(t, entries, 2)
		assert.Regexp(t, `^resumed by `+operator+` at .*: CRM is back$`, entries[0])
		assert.Contains(t, entries[1], "paused by "+operator)
		assert.Contains(t, entries[1], "CRM outage "+evil)
		notPwned(t, ctx, "the pause log")
		log, err := f.st.PipelineLog(t.Context(), "digest", 0)
		require.NoError(t, err)
		require.Len(t, log, 2)
		assert.Equal(t, store.PauseEntry{Pipeline: "digest", Action: store.Resumed, By: operator, Reason: "CRM is back", At: log[0].At}, log[0])
		require.NoError(t, chromedp.Do(ctx, chromedp.ScrollIntoView(chromedp.ID("pause-log-0"))))
		shot(t, ctx, "pause-log")
	})

	t.Run("the review inbox is inside", func(t *testing.T) {
		nav(t, "runs/"+rev.Run.ID)
		click(t, ctx, chromedp.CSS(`#decision a`))
		require.NoError(t, chromedp.Do(ctx, chromedp.WaitVisible(chromedp.ID("approve"))))
		click(t, ctx, chromedp.ID("approve"))
		require.NoError(t, chromedp.Do(ctx, chromedp.WaitVisible(chromedp.CSS(".flash"))))
		d := f.waitStatus(rev.Run.ID, store.Succeeded)
		assert.Equal(t, operator, d.Run.Review.Decision.Reviewer)
		nav(t, "runs/"+rev.Run.ID)
		assert.Contains(t, run(t, ctx, chromedp.Text(chromedp.ID("decision"))), "approved by "+operator)
	})

	t.Run("keyboard", func(t *testing.T) {
		nav(t, "runs")
		// The first Tab reaches the skip link, which moves the focus to the
		// content; the search form's controls follow in reading order.
		require.NoError(t, chromedp.Do(ctx, chromedp.KeyEvent("\t")))
		assert.Equal(t, "Skip to the content", run(t, ctx, chromedp.Evaluate[string](`document.activeElement.textContent`)))
		require.NoError(t, chromedp.Do(ctx, chromedp.KeyEvent("\r")))
		var order []string
		for range 30 {
			require.NoError(t, chromedp.Do(ctx, chromedp.KeyEvent("\t")))
			// A date field takes several Tabs, one for each of its parts.
			if id := run(t, ctx, chromedp.Evaluate[string](`document.activeElement.id || document.activeElement.tagName`)); len(order) == 0 || order[len(order)-1] != id {
				order = append(order, id)
			}
		}
		assert.Equal(t, []string{"f-pipeline", "f-status", "f-step", "f-class", "f-external", "f-key", "f-since", "f-until", "search"}, order[:9])
		// A search typed and sent from the keyboard alone.
		require.NoError(t, chromedp.Do(ctx,
			chromedp.Focus(chromedp.ID("f-external")),
			chromedp.SendKeys(chromedp.ID("f-external"), "lead-4\r"),
			chromedp.WaitVisible(chromedp.ID("results")),
		))
		// The results element is on the page before the Enter too: wait
		// for the search's own page.
		until(t, ctx, `location.search.includes("external_id=lead-4") && document.readyState === "complete"`)
		assert.Equal(t, 1, run(t, ctx, chromedp.Evaluate[int](`document.querySelectorAll("#results a.run").length`)))
	})
	_ = time.Second
}

func urlq(s string) string {
	return strings.NewReplacer("%", "%25", " ", "%20", "<", "%3C", ">", "%3E", `"`, "%22", "=", "%3D", "#", "%23", "&", "%26", ";", "%3B", "+", "%2B").Replace(s)
}
