package reviewhttp_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// xssID is an external id an attacker controls (a web form's hidden
// field, say): markup, quotes and a right-to-left override.
const xssID = `"><img src=x onerror="window.pwned=1"><script>window.pwned=2</script>` + "\u202egnp.exe"

type foundBody struct {
	Reviews []struct {
		RunID          string `json:"run_id"`
		Source         string `json:"source"`
		ExternalID     string `json:"external_id"`
		IdempotencyKey string `json:"idempotency_key"`
	} `json:"reviews"`
}

func TestEveryInboxRowSaysWhoseItemItIs(t *testing.T) {
	f := newFixture(t)
	hub := f.parkFrom("webhook:hubspot", "lead-0197", "batch-1/lead-0197", "pricing")
	f.kit.Clock.Advance(time.Minute)
	bare := f.park("demo")

	body := f.get("/review/").body
	assert.Contains(t, body, `<th>From</th>`)
	assert.Contains(t, body, `<td class="from" data-label="From"><span class="source"><bdi>webhook:hubspot</bdi></span> `+
		`<a class="external" href="/review/?q=lead-0197" title="every review of this item"><code><bdi>lead-0197</bdi></code></a></td>`)
	assert.Contains(t, body, `<span class="muted">no source</span></span> <span class="muted">no external id</span>`,
		"a run with no trigger says so")
	assert.Contains(t, body, `href="/review/reviews/`+bare+`"`)

	var list foundBody
	f.get("/review/api/reviews").json(t, &list)
	require.Len(t, list.Reviews, 2)
	assert.Equal(t, hub, list.Reviews[0].RunID)
	assert.Equal(t, "webhook:hubspot", list.Reviews[0].Source)
	assert.Equal(t, "lead-0197", list.Reviews[0].ExternalID)
	assert.Equal(t, "batch-1/lead-0197", list.Reviews[0].IdempotencyKey)
	assert.Contains(t, f.get("/review/api/reviews").body, `"external_id": ""`, "present when empty, for clients")
}

func TestTheInboxFindsACustomersItemByItsID(t *testing.T) {
	f := newFixture(t)
	byExternal := f.parkFrom("web-form", "lead-0197", "batch-1/lead-0197", "pricing")
	f.kit.Clock.Advance(time.Minute)
	byKey := f.parkFrom("import", "row-88", "lead-0197", "resubmitted by hand")
	f.parkFrom("web-form", "lead-0200", "batch-1/lead-0200", "demo")
	f.park("no trigger")

	t.Run("the page", func(t *testing.T) {
		res := f.get("/review/?q=lead-0197")
		require.Equal(t, http.StatusOK, res.status)
		assert.Contains(t, res.body, `Waiting for review for <bdi>lead-0197</bdi> <span class="count">2</span>`)
		assert.Contains(t, res.body, `href="/review/reviews/`+byExternal+`"`)
		assert.Contains(t, res.body, `href="/review/reviews/`+byKey+`"`, "the id matched as an idempotency key")
		assert.NotContains(t, res.body, "lead-0200")
		assert.Contains(t, res.body, `<input type="search" id="q" name="q" value="lead-0197"`)
		assert.Contains(t, res.body, `<a id="clear" href="/review/">Show every review</a>`)

		spaced := f.get("/review/?q=" + url.QueryEscape("  lead-0197 "))
		assert.Contains(t, spaced.body, `<span class="count">2</span>`, "a pasted id's spaces do not matter")

		none := f.get("/review/?q=lead-9999")
		assert.Contains(t, none.body, `<p class="empty" id="no-match">No review waits for an item with the external id or idempotency key <bdi>lead-9999</bdi>.</p>`)

		within := f.get("/review/?pipeline=other&q=lead-0197")
		assert.Contains(t, within.body, `<span class="count">0</span>`, "the pipeline filter still holds")
		assert.Contains(t, within.body, `<input type="hidden" name="pipeline" value="other">`, "a search keeps the pipeline")
		assert.Contains(t, within.body, `<a id="clear" href="/review/?pipeline=other">Show every review in <bdi>other</bdi></a>`)
	})

	t.Run("the API", func(t *testing.T) {
		var list foundBody
		f.get("/review/api/reviews?q=lead-0197").json(t, &list)
		require.Len(t, list.Reviews, 2)
		assert.Equal(t, []string{byExternal, byKey}, []string{list.Reviews[0].RunID, list.Reviews[1].RunID}, "oldest first")
		f.get("/review/api/reviews?q=batch-1/lead-0200").json(t, &list)
		require.Len(t, list.Reviews, 1)
		assert.Equal(t, "lead-0200", list.Reviews[0].ExternalID)
		f.get("/review/api/reviews?q=lead-0197&pipeline=other").json(t, &list)
		assert.Empty(t, list.Reviews)
	})
}

func TestAnExternalIDIsShownAsText(t *testing.T) {
	f := newFixture(t)
	id := f.parkFrom(`<b>src</b>`, xssID, "", "pricing")

	for _, path := range []string{"/review/", "/review/?q=" + url.QueryEscape(xssID)} {
		body := f.get(path).body
		assert.Contains(t, body, `href="/review/reviews/`+id+`"`, path)
		assert.NotContains(t, body, "<img", path)
		assert.NotContains(t, body, "<script>window", path)
		assert.NotContains(t, body, "<b>src", path)
		assert.NotContains(t, body, "\u202e", "%s: the override is named, not applied", path)
		assert.Contains(t, body, ctl+"gnp.exe</bdi>", path)
		assert.Contains(t, body, `&lt;b&gt;src&lt;/b&gt;`, path)
		// The link that lists the item's reviews carries the id encoded.
		assert.Contains(t, body, `<a class="external" href="/review/?q=%22%3E%3Cimg&#43;src%3Dx&#43;onerror`, path)
	}
	searched := f.get("/review/?q=" + url.QueryEscape(xssID)).body
	assert.Contains(t, searched, `<span class="count">1</span>`)
	i := strings.Index(searched, `name="q" value="`)
	require.Positive(t, i)
	assert.True(t, strings.HasPrefix(searched[i:], `name="q" value="&#34;&gt;&lt;img`), "the search box holds the id as text: %.80s", searched[i:])
	assert.Contains(t, searched, `&lt;/script&gt;gnp.exe" placeholder`, "without its override, which the heading names")
}
