package reviewhttp_test

import (
	"errors"
	"net/http"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/plumb-dev/plumb/contract"
	"github.com/plumb-dev/plumb/pipeline"
	"github.com/plumb-dev/plumb/retry"
	"github.com/plumb-dev/plumb/step"
)

// spoof is a note whose reason reads "exe.png" where bidirectional
// controls are applied: U+202E reverses what follows it.
const spoof = "invoice \u202egnp.exe"

// ctl is how a bidirectional control is shown: named, not applied.
const ctl = `<abbr class="ctl" title="a bidirectional control character, shown instead of applied">U+202E</abbr>`

func TestTextFromUsersAndModelsIsIsolated(t *testing.T) {
	f := newFixture(t)
	id := f.park(spoof)
	wantReason := "<bdi>low confidence in the reply Re: invoice " + ctl + "gnp.exe</bdi>"

	inbox := f.get("/review/")
	require.Equal(t, http.StatusOK, inbox.status)
	assert.Contains(t, inbox.body, `<td class="why" data-label="Why">`+wantReason+`</td>`)
	assert.Contains(t, inbox.body, `<bdi>leads</bdi>`, "the pipeline's name")
	assert.Contains(t, inbox.body, `<code><bdi>draft</bdi></code>`, "the step's name")
	assert.NotContains(t, inbox.body, "\u202e", "no control character reaches the page to be applied")

	page := f.get("/review/reviews/" + id)
	require.Equal(t, http.StatusOK, page.status)
	assert.Contains(t, page.body, `<span id="reason">`+wantReason+`</span>`)
	assert.Contains(t, page.body, `Review of step <code><bdi>draft</bdi></code>`)
	assert.Contains(t, page.body, `. <bdi>draft</bdi></strong>`, "the timeline's step names")
	assert.Contains(t, page.body, `Signed in as <bdi>`+reviewer+`</bdi>`)
	// JSON keeps its meaning: the control is written as an escape.
	assert.Contains(t, page.body, `invoice \u202egnp.exe`)
	assert.NotContains(t, page.body, "\u202e")

	// The proposal, escaped for display, still approves as the proposal.
	form := f.formValues(id)
	form.Set("output", textarea(t, page.body))
	res := f.postForm("/review/reviews/"+id+"/approve", form)
	require.Equal(t, http.StatusSeeOther, res.status, res.body)
	dc := f.kit.Get(id).Run.Review.Decision
	require.NotNil(t, dc)
	assert.True(t, dc.Approved)
	assert.False(t, dc.Edited, "the escaped proposal is the proposal")
}

func TestErrorsAndTriggersAreIsolated(t *testing.T) {
	f := newFixture(t)
	f.kit.FailWith("draft", retry.Permanent(errors.New("model said \u202etxt.exe")), 1)
	_, err := f.p.Run(f.kit.Context(), Lead{Email: "bob@example.com", Note: "x"},
		pipeline.RunOptions{Trigger: step.Trigger{Source: "hook \u202e1", ExternalID: "ext \u202e2"}})
	var pe *pipeline.PendingError
	require.True(t, errors.As(err, &pe), "want a pending run, got %v", err)

	page := f.get("/review/reviews/" + pe.RunID)
	require.Equal(t, http.StatusOK, page.status)
	assert.NotContains(t, page.body, "\u202e")
	assert.Contains(t, page.body, "<dd><bdi>hook "+ctl+"1</bdi> · <bdi>ext "+ctl+"2</bdi></dd>")
	assert.Contains(t, page.body, "permanent: model said "+ctl+"txt.exe</bdi>")
}

// An attempt whose record kept only the first of many violations says how
// many more there were.
func TestTimelineCountsViolationsNotKept(t *testing.T) {
	f := newFixture(t)
	var vs []contract.Violation
	for range contract.MaxViolations {
		vs = append(vs, contract.Violation{Path: "/subject", Keyword: "minLength", Message: "is too short"})
	}
	f.kit.FailWith("draft", retry.Permanent(&contract.ValidationError{Violations: vs, Total: 250}), 1)
	_, err := f.p.Run(f.kit.Context(), Lead{Email: "bob@example.com", Note: "x"}, pipeline.RunOptions{})
	var pe *pipeline.PendingError
	require.True(t, errors.As(err, &pe), "want a pending run, got %v", err)

	page := f.get("/review/reviews/" + pe.RunID)
	require.Equal(t, http.StatusOK, page.status)
	assert.Contains(t, page.body, "… and 150 more violations, counted but not kept")
}
