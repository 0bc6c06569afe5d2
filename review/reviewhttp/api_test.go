package reviewhttp_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/plumb-dev/plumb/contract"
	"github.com/plumb-dev/plumb/pipeline"
	"github.com/plumb-dev/plumb/review/reviewhttp"
	"github.com/plumb-dev/plumb/store"
)

type listBody struct {
	Reviews []struct {
		RunID     string          `json:"run_id"`
		Pipeline  string          `json:"pipeline"`
		Step      string          `json:"step"`
		Reason    string          `json:"reason"`
		Attempt   int             `json:"attempt"`
		Deadline  time.Time       `json:"deadline"`
		Overdue   bool            `json:"overdue"`
		Escalated bool            `json:"escalated"`
		Proposed  json.RawMessage `json:"proposed"`
		URL       string          `json:"url"`
	} `json:"reviews"`
	Truncated bool `json:"truncated"`
}

type errorBody struct {
	Error      string               `json:"error"`
	Violations []contract.Violation `json:"violations"`
}

type decidedBody struct {
	Run store.Run `json:"run"`
}

func TestAPIListsPendingReviewsOldestFirst(t *testing.T) {
	f := newFixture(t)
	first := f.park("pricing")
	f.kit.Clock.Advance(40 * time.Minute)
	second := f.park("demo")
	f.kit.Clock.Advance(30 * time.Minute) // the first review is overdue now

	var list listBody
	res := f.get("/review/api/reviews")
	require.Equal(t, http.StatusOK, res.status, res.body)
	res.json(t, &list)
	require.Len(t, list.Reviews, 2)
	a, b := list.Reviews[0], list.Reviews[1]
	assert.Equal(t, []string{first, second}, []string{a.RunID, b.RunID})
	assert.Equal(t, "leads", a.Pipeline)
	assert.Equal(t, "draft", a.Step)
	assert.Equal(t, "low confidence in the reply Re: pricing", a.Reason)
	assert.Equal(t, 1, a.Attempt)
	assert.True(t, a.Overdue)
	assert.False(t, b.Overdue)
	assert.JSONEq(t, `{"to":"bob@example.com","subject":"Re: pricing","confidence":0.4}`, string(a.Proposed))
	assert.Equal(t, "/review/reviews/"+first, a.URL)
	assert.False(t, list.Truncated)

	res = f.get("/review/api/reviews?pipeline=other")
	res.json(t, &list)
	assert.Empty(t, list.Reviews)
}

func TestAPIGetReturnsTheRunDetail(t *testing.T) {
	f := newFixture(t)
	id := f.park("pricing")
	var d store.RunDetail
	res := f.get("/review/api/reviews/" + id)
	require.Equal(t, http.StatusOK, res.status)
	res.json(t, &d)
	assert.Equal(t, id, d.Run.ID)
	assert.Equal(t, store.AwaitingReview, d.Run.Status)
	require.NotNil(t, d.Run.Review)
	assert.NotEmpty(t, d.Run.Review.OutputSchema)
	require.NotEmpty(t, d.Steps)
	assert.Equal(t, store.StepReview, d.Steps[len(d.Steps)-1].Status)

	res = f.get("/review/api/reviews/nope")
	assert.Equal(t, http.StatusNotFound, res.status)
	assert.JSONEq(t, `{"error":"no run with id \"nope\""}`, res.body)
}

func TestAPIApproveTheProposal(t *testing.T) {
	f := newFixture(t)
	id := f.park("pricing")
	res := f.postJSON("/review/api/reviews/"+id+"/approve", "")
	require.Equal(t, http.StatusOK, res.status, res.body)
	var out decidedBody
	res.json(t, &out)
	assert.Equal(t, store.Queued, out.Run.Status)
	dc := out.Run.Review.Decision
	require.NotNil(t, dc)
	assert.True(t, dc.Approved)
	assert.False(t, dc.Edited)
	assert.Equal(t, reviewer, dc.Reviewer)
	assert.Contains(t, f.logs.String(), "plumb: review approved")
	assert.Contains(t, f.logs.String(), "reviewer="+reviewer)

	f.kit.Drain()
	d := f.kit.AssertSucceeded(id)
	assert.JSONEq(t, `{"to":"bob@example.com","subject":"Re: pricing"}`, string(d.Run.Output))
}

func TestAPIApproveAnEdit(t *testing.T) {
	f := newFixture(t)
	id := f.park("pricing")
	res := f.postJSON("/review/api/reviews/"+id+"/approve",
		`{"output":{"to":"bob@example.com","subject":"Our pricing, explained","confidence":1},"attempt":1}`)
	require.Equal(t, http.StatusOK, res.status, res.body)
	assert.True(t, f.kit.Get(id).Run.Review.Decision.Edited)

	f.kit.Drain()
	d := f.kit.AssertSucceeded(id)
	assert.JSONEq(t, `{"to":"bob@example.com","subject":"Our pricing, explained"}`, string(d.Run.Output))
}

func TestAPIRefusesAnEditThatBreaksTheContract(t *testing.T) {
	f := newFixture(t)
	id := f.park("pricing")
	res := f.postJSON("/review/api/reviews/"+id+"/approve", `{"output":{"to":"bob@example.com","subject":"","confidence":2}}`)
	require.Equal(t, http.StatusUnprocessableEntity, res.status, res.body)
	var e errorBody
	res.json(t, &e)
	assert.Equal(t, "the output breaks the step's contract", e.Error)
	var paths []string
	for _, v := range e.Violations {
		paths = append(paths, v.Path+" "+v.Keyword)
		assert.NotEmpty(t, v.Message)
	}
	assert.Equal(t, []string{"/confidence maximum", "/subject minLength"}, paths)
	assert.Equal(t, store.AwaitingReview, f.status(id))
}

func TestAPIReject(t *testing.T) {
	f := newFixture(t)
	id := f.park("pricing")
	res := f.postJSON("/review/api/reviews/"+id+"/reject", `{"reason":"wrong tone"}`)
	require.Equal(t, http.StatusOK, res.status, res.body)
	var out decidedBody
	res.json(t, &out)
	assert.Equal(t, store.DeadLettered, out.Run.Status)

	d := f.kit.Get(id)
	assert.Equal(t, store.DeadLettered, d.Run.Status)
	assert.Equal(t, "rejected by "+reviewer+": wrong tone", d.Run.Error)
	assert.Equal(t, reviewer, d.Run.Review.Decision.Reviewer)
	assert.Equal(t, "wrong tone", d.Run.Review.Decision.Reason)
	last := d.Steps[len(d.Steps)-1]
	assert.Equal(t, store.StepFailed, last.Status)
	assert.Equal(t, "rejected by "+reviewer+": wrong tone", last.Note)
	assert.Contains(t, f.logs.String(), "plumb: review rejected")
}

func TestAPIErrorStatuses(t *testing.T) {
	f := newFixture(t)
	pending := f.park("pricing")
	decided := f.park("demo")
	require.Equal(t, http.StatusOK, f.postJSON("/review/api/reviews/"+decided+"/approve", "").status)
	finished := f.park("finished")
	require.Equal(t, http.StatusOK, f.postJSON("/review/api/reviews/"+finished+"/approve", "").status)
	f.kit.Drain()
	f.kit.AssertSucceeded(finished)
	f.kit.AssertSucceeded(decided)
	// decided is succeeded now too; a fresh decided-but-not-resumed run:
	queued := f.park("queued")
	require.Equal(t, http.StatusOK, f.postJSON("/review/api/reviews/"+queued+"/reject", `{"reason":"no"}`).status)

	api := "/review/api/reviews/"
	for _, tc := range []struct {
		name, path, body, ctype string
		status                  int
		msg                     string
	}{
		{"malformed", api + pending + "/approve", `{`, "", 400, "malformed body"},
		{"unknown field", api + pending + "/approve", `{"outptu":{}}`, "", 400, `unknown field "outptu"`},
		{"two values", api + pending + "/approve", `{} {}`, "", 400, "text after the JSON value"},
		{"not JSON", api + pending + "/approve", `output=1`, "application/x-www-form-urlencoded", 415, "application/json"},
		{"no content type", api + pending + "/reject", `{"reason":"x"}`, "-", 415, "application/json"},
		{"reject without reason", api + pending + "/reject", `{}`, "", 400, "needs a reason"},
		{"reject with a blank reason", api + pending + "/reject", `{"reason":"  "}`, "", 400, "needs a reason"},
		{"too large", api + pending + "/approve", `{"output":"` + strings.Repeat("x", 5<<20) + `"}`, "", 413, "too large"},
		{"unknown run", api + "nope/approve", `{}`, "", 404, `no run with id "nope"`},
		{"unknown run, reject", api + "nope/reject", `{"reason":"x"}`, "", 404, "no run"},
		{"stale attempt", api + pending + "/approve", `{"attempt":7}`, "", 409, "changed since it was opened"},
		{"stale step", api + pending + "/reject", `{"reason":"x","attempt":1,"step":"send"}`, "", 409, "it waits at step draft of attempt 1 now"},
		{"already rejected", api + queued + "/approve", `{}`, "", 409, "rejected by " + reviewer},
		{"already rejected, bad edit", api + queued + "/approve", `{"output":{"confidence":9}}`, "", 409, "not awaiting review"},
		{"succeeded", api + finished + "/reject", `{"reason":"late"}`, "", 409, "is succeeded, not awaiting review"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			hdr := []string{"Content-Type", "application/json"}
			switch tc.ctype {
			case "":
			case "-":
				hdr = nil
			default:
				hdr[1] = tc.ctype
			}
			res := f.request(reviewer, "POST", tc.path, tc.body, hdr...)
			assert.Equal(t, tc.status, res.status, res.body)
			var e errorBody
			res.json(t, &e)
			assert.Contains(t, e.Error, tc.msg)
		})
	}
	assert.Equal(t, store.AwaitingReview, f.status(pending))
	assert.Equal(t, http.StatusMethodNotAllowed, f.request(reviewer, "DELETE", api+pending, "").status)
}

func TestAPIReviewWithoutProposalNeedsAnOutput(t *testing.T) {
	f := newFixture(t)
	id := f.parkFailed()
	assert.Nil(t, f.kit.Get(id).Run.Review.Proposed)

	res := f.postJSON("/review/api/reviews/"+id+"/approve", `{"output":null}`)
	require.Equal(t, http.StatusUnprocessableEntity, res.status, res.body)
	var e errorBody
	res.json(t, &e)
	require.Len(t, e.Violations, 1)
	assert.Contains(t, e.Violations[0].Message, "proposed no output")

	res = f.postJSON("/review/api/reviews/"+id+"/approve", `{"output":{"to":"bob@example.com","subject":"Written by hand","confidence":1}}`)
	require.Equal(t, http.StatusOK, res.status, res.body)
	f.kit.Drain()
	d := f.kit.AssertSucceeded(id)
	assert.JSONEq(t, `{"to":"bob@example.com","subject":"Written by hand"}`, string(d.Run.Output))
}

func TestPipelinesFilterHidesOtherPipelines(t *testing.T) {
	f := newFixture(t, func(c *reviewhttp.Config) { c.Pipelines = []string{"leads"} })
	mine := f.park("pricing")
	other := newPipeline(f.kit.Runtime, "other")
	_, err := other.Run(f.kit.Context(), Lead{Email: "eve@example.com", Note: "secret"}, pipeline.RunOptions{})
	require.Error(t, err)
	hidden := f.kit.Store
	runsPage, err := hidden.ListRuns(t.Context(), store.RunFilter{Pipeline: "other"})
	runs := runsPage.Runs
	require.NoError(t, err)
	require.Len(t, runs, 1)
	theirs := runs[0].ID

	var list listBody
	f.get("/review/api/reviews").json(t, &list)
	require.Len(t, list.Reviews, 1)
	assert.Equal(t, mine, list.Reviews[0].RunID)
	f.get("/review/api/reviews?pipeline=other").json(t, &list)
	assert.Empty(t, list.Reviews)

	assert.Equal(t, http.StatusNotFound, f.get("/review/api/reviews/"+theirs).status)
	assert.Equal(t, http.StatusNotFound, f.get("/review/reviews/"+theirs).status)
	assert.Equal(t, http.StatusNotFound, f.postJSON("/review/api/reviews/"+theirs+"/approve", "").status)
	assert.NotContains(t, f.get("/review/").body, "secret")
	assert.Equal(t, store.AwaitingReview, f.status(theirs))
}
