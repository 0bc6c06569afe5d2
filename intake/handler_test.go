package intake_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/plumb-dev/plumb/intake"
	"github.com/plumb-dev/plumb/pipeline"
	"github.com/plumb-dev/plumb/retry"
	"github.com/plumb-dev/plumb/store"
)

const ghSecret = "gh-secret"

func TestAnswers(t *testing.T) {
	e := newEnv(t)
	_, url := e.serve(intake.Source{Name: "github", Verify: intake.GitHub(ghSecret), ExternalID: "/id", MaxBody: 200})
	c := &http.Client{}
	ctx := context.Background()
	gh := func(delivery string, body []byte) reply {
		return post(t, c, url, githubSign(ghSecret, delivery, body), body)
	}

	// 202, then the same delivery again: 200, the same run.
	body := leadBody("lead-1", "ada@example.com")
	r := gh("d-1", body)
	require.Equal(t, http.StatusAccepted, r.code)
	assert.Equal(t, intake.Answer{Status: intake.Accepted, RunID: r.answer.RunID}, r.answer)
	first := r.answer.RunID
	r = gh("d-1", body)
	require.Equal(t, http.StatusOK, r.code)
	assert.Equal(t, intake.Answer{Status: intake.Duplicate, RunID: first, Duplicate: true}, r.answer)
	d, err := e.st.GetRun(ctx, first)
	require.NoError(t, err)
	assert.Equal(t, "webhook:github:d-1", d.Run.IdempotencyKey)
	assert.Equal(t, "lead-1", d.Run.Trigger.ExternalID, "ExternalID is read from the body")
	assert.JSONEq(t, string(body), string(d.Run.Input))

	// 405.
	res, err := c.Get(url)
	require.NoError(t, err)
	res.Body.Close()
	assert.Equal(t, http.StatusMethodNotAllowed, res.StatusCode)
	assert.Equal(t, "POST", res.Header.Get("Allow"))

	// 413, with a Content-Length and without one (chunked).
	big := leadBody(strings.Repeat("x", 300), "ada@example.com")
	r = gh("d-big", big)
	assert.Equal(t, http.StatusRequestEntityTooLarge, r.code)
	assert.Equal(t, intake.TooLarge, r.answer.Status)
	req, _ := http.NewRequest(http.MethodPost, url, struct{ *bytes.Reader }{bytes.NewReader(big)})
	req.Header = githubSign(ghSecret, "d-big", big)
	req.Header.Set("Content-Type", "application/json")
	res, err = c.Do(req)
	require.NoError(t, err)
	res.Body.Close()
	assert.Equal(t, http.StatusRequestEntityTooLarge, res.StatusCode)

	// 415; a charset parameter is fine.
	h := githubSign(ghSecret, "d-4", body)
	h.Set("Content-Type", "text/plain")
	r = post(t, c, url, h, body)
	assert.Equal(t, http.StatusUnsupportedMediaType, r.code)
	assert.Equal(t, intake.Answer{Status: intake.Unsupported, Error: "content type text/plain is not accepted; send application/json"}, r.answer)
	h.Set("Content-Type", "application/json; charset=utf-8")
	assert.Equal(t, http.StatusAccepted, post(t, c, url, h, leadBody("lead-1", "ada@example.com")).code)

	// 401: counted, never stored.
	r = post(t, c, url, githubSign("not-the-secret", "d-5", body), body)
	assert.Equal(t, http.StatusUnauthorized, r.code)
	assert.Equal(t, intake.Unauthorized, r.answer.Status)
	page, err := e.st.ListRuns(ctx, store.RunFilter{IdempotencyKey: "webhook:github:d-5"})
	require.NoError(t, err)
	assert.Empty(t, page.Runs)

	// 400: no delivery id, or two. The signed body is recorded as a dead
	// letter under an id made from its SHA-256, which a copy finds.
	noID := leadBody("lead-7", "grace@example.com")
	h = githubSign(ghSecret, "", noID)
	h.Del("X-Github-Delivery")
	r = post(t, c, url, h, noID)
	assert.Equal(t, http.StatusBadRequest, r.code)
	assert.Equal(t, intake.NoDeliveryID, r.answer.Status)
	assert.Equal(t, "no delivery id: the X-GitHub-Delivery header is missing; the body was recorded as a dead letter (run_id) under delivery id sha256:"+
		sha256Prefix(noID), r.answer.Error)
	require.NotEmpty(t, r.answer.RunID)
	require.Len(t, r.answer.Violations, 1)
	assert.Equal(t, "deliveryId", r.answer.Violations[0].Keyword)
	d, err = e.st.GetRun(ctx, r.answer.RunID)
	require.NoError(t, err)
	assert.Equal(t, store.DeadLettered, d.Run.Status)
	assert.Equal(t, "webhook:github:sha256:"+sha256Prefix(noID), d.Run.IdempotencyKey)
	assert.Equal(t, "lead-7", d.Run.Trigger.ExternalID)
	assert.JSONEq(t, string(noID), string(d.Run.Input))
	recorded := r.answer.RunID
	r = post(t, c, url, h, noID)
	assert.Equal(t, http.StatusBadRequest, r.code)
	assert.Equal(t, recorded, r.answer.RunID, "the same body resent finds its record")
	assert.True(t, r.answer.Duplicate)
	h = githubSign(ghSecret, "", body)
	h.Del("X-Github-Delivery")
	h.Add("X-Github-Delivery", "a")
	h.Add("X-Github-Delivery", "b")
	r = post(t, c, url, h, body)
	assert.Equal(t, http.StatusBadRequest, r.code)
	assert.Contains(t, r.answer.Error, "given 2 times")

	// 422: breaks the contract; recorded as a dead letter with its body.
	bad := []byte(`{"id":"lead-9","email":"not an email"}`)
	r = gh("d-9", bad)
	require.Equal(t, http.StatusUnprocessableEntity, r.code, "%+v", r.answer)
	assert.Equal(t, intake.Invalid, r.answer.Status)
	require.Len(t, r.answer.Violations, 1)
	assert.Equal(t, "/email", r.answer.Violations[0].Path)
	assert.Equal(t, "format", r.answer.Violations[0].Keyword)
	assert.NotEmpty(t, r.answer.Violations[0].Message)
	dl := r.answer.RunID
	d, err = e.st.GetRun(ctx, dl)
	require.NoError(t, err)
	assert.Equal(t, store.DeadLettered, d.Run.Status)
	assert.Equal(t, "leads", d.Run.Pipeline)
	assert.Equal(t, "check", d.Run.Step)
	assert.Equal(t, retry.ClassContract, d.Run.Class)
	assert.Equal(t, "webhook:github:d-9", d.Run.IdempotencyKey)
	assert.Equal(t, "webhook:github", d.Run.Trigger.Source)
	assert.Equal(t, "lead-9", d.Run.Trigger.ExternalID)
	assert.JSONEq(t, string(bad), string(d.Run.Input))
	assert.Contains(t, d.Run.Error, "intake webhook:github: delivery d-9 refused")
	assert.Contains(t, d.Run.Error, "/email")
	// The same bad delivery again is the same record.
	r = gh("d-9", bad)
	assert.Equal(t, http.StatusUnprocessableEntity, r.code)
	assert.Equal(t, dl, r.answer.RunID)
	assert.True(t, r.answer.Duplicate)
	// A corrected body under the same delivery id is that delivery too:
	// the dead letter is what to replay.
	r = gh("d-9", leadBody("lead-9", "ada@example.com"))
	assert.Equal(t, intake.Answer{Status: intake.Duplicate, RunID: dl, Duplicate: true}, r.answer)

	// 422 for a body that is not JSON: its text is kept as a JSON string.
	notJSON := []byte(`id=lead-10&email=x`)
	r = gh("d-10", notJSON)
	require.Equal(t, http.StatusUnprocessableEntity, r.code)
	assert.Equal(t, "syntax", r.answer.Violations[0].Keyword)
	d, err = e.st.GetRun(ctx, r.answer.RunID)
	require.NoError(t, err)
	var kept string
	require.NoError(t, json.Unmarshal(d.Run.Input, &kept))
	assert.Equal(t, string(notJSON), kept)
	assert.Contains(t, d.Run.Error, "the input is the body's text as a JSON string")

	// 422 for a value of the wrong type, with its path.
	r = gh("d-11", []byte(`{"id":"lead-11","email":"a@example.com","seats":"many"}`))
	require.Equal(t, http.StatusUnprocessableEntity, r.code)
	assert.Equal(t, "/seats", r.answer.Violations[0].Path)
	assert.Equal(t, "type", r.answer.Violations[0].Keyword)

	// A delivery accepted once and resent with a body that now breaks the
	// contract is still a duplicate of the first.
	r = gh("d-1", bad)
	assert.Equal(t, http.StatusOK, r.code)
	assert.Equal(t, first, r.answer.RunID)

	// `plumb deadletters list` lists the refusals: the three for their
	// content and the two without a usable delivery id.
	page, err = e.st.ListRuns(ctx, store.RunFilter{Status: []store.Status{store.DeadLettered}})
	require.NoError(t, err)
	assert.Len(t, page.Runs, 5)
}

func TestRateLimit(t *testing.T) {
	e := newEnv(t)
	_, url := e.serve(intake.Source{Name: "github", Verify: intake.GitHub(ghSecret), RateLimit: intake.RateLimit{Rate: 1, Burst: 3}})
	c := &http.Client{}
	gh := func(delivery string, body []byte) reply {
		return post(t, c, url, githubSign(ghSecret, delivery, body), body)
	}
	body := leadBody("lead-1", "ada@example.com")
	require.Equal(t, http.StatusAccepted, gh("d-1", body).code)
	require.Equal(t, http.StatusOK, gh("d-1", body).code)
	// Refused signatures spend nothing: they are refused before the limit.
	require.Equal(t, http.StatusUnauthorized, post(t, c, url, githubSign("wrong", "d-x", body), body).code)
	// 429 past the burst (the duplicate spent a token too), with
	// Retry-After; a second later the bucket has one.
	r := gh("d-2", leadBody("lead-2", "bo@example.com"))
	require.Equal(t, http.StatusAccepted, r.code, "%+v", r.answer)
	r = gh("d-3", leadBody("lead-3", "cy@example.com"))
	require.Equal(t, http.StatusTooManyRequests, r.code, "%+v", r.answer)
	assert.Equal(t, "1", r.header.Get("Retry-After"))
	assert.Equal(t, intake.RateLimited, r.answer.Status)
	assert.Equal(t, 1, r.answer.RetryAfter)
	assert.Contains(t, r.answer.Error, "retry after 1 s")
	e.clock.Advance(time.Second)
	require.Equal(t, http.StatusAccepted, gh("d-3", leadBody("lead-3", "cy@example.com")).code)

}

func TestStoreFailureIs503(t *testing.T) {
	e := newEnv(t)
	_, url := e.serve(intake.Source{Name: "github", Verify: intake.GitHub(ghSecret)})
	require.NoError(t, e.st.Close())
	body := leadBody("lead-1", "ada@example.com")
	r := post(t, http.DefaultClient, url, githubSign(ghSecret, "d-1", body), body)
	assert.Equal(t, http.StatusServiceUnavailable, r.code)
	assert.Equal(t, "5", r.header.Get("Retry-After"))
	assert.Equal(t, intake.Answer{Status: intake.Unavailable, RetryAfter: 5, Error: "the delivery could not be stored; nothing was accepted: retry"}, r.answer)
	// An invalid one that cannot be recorded is not answered 422: nothing
	// refused may be lost, so the sender must retry.
	bad := []byte(`{"id":"x","email":"no"}`)
	r = post(t, http.DefaultClient, url, githubSign(ghSecret, "d-2", bad), bad)
	assert.Equal(t, http.StatusServiceUnavailable, r.code)
}

func TestStripeDeliveryIDIsTheEvent(t *testing.T) {
	e := newEnv(t)
	_, url := e.serve(intake.Source{Name: "stripe", Verify: intake.Stripe(0, "whsec_x")})
	type event struct {
		ID   string `json:"id"`
		Type string `json:"type"`
	}
	for _, tc := range []struct {
		body string
		code int
	}{
		{`{"id":"evt_1","email":"a@example.com"}`, http.StatusAccepted},
		{`{"id":"evt_1","email":"a@example.com"}`, http.StatusOK},
		{`{"email":"a@example.com"}`, http.StatusBadRequest},
		{`{"id":{"nested":1},"email":"a@example.com"}`, http.StatusBadRequest},
		{`{"id":"","email":"a@example.com"}`, http.StatusBadRequest},
		{`not json`, http.StatusBadRequest},
	} {
		r := post(t, http.DefaultClient, url, stripeSign(e.clock.Now(), []byte(tc.body), "whsec_x"), []byte(tc.body))
		assert.Equal(t, tc.code, r.code, "%s: %+v", tc.body, r.answer)
	}
}

// TestReplayARefusedDelivery patches a refused delivery the way `plumb
// replay <id> --set /email=…` does (store.ReplayRun is the CLI's library)
// and a worker runs it to success.
func TestReplayARefusedDelivery(t *testing.T) {
	e := newEnv(t)
	_, url := e.serve(intake.Source{Name: "github", Verify: intake.GitHub(ghSecret)})
	bad := []byte(`{"id":"lead-1","email":"ada at example"}`)
	r := post(t, http.DefaultClient, url, githubSign(ghSecret, "d-1", bad), bad)
	require.Equal(t, http.StatusUnprocessableEntity, r.code)
	ctx := context.Background()
	def, err := e.st.Pipeline(ctx, "leads")
	require.NoError(t, err, "the refusal registered the pipeline its dead letter names")
	assert.Equal(t, e.p.Definition().Version, def.Version)

	// A patch that still breaks the contract is refused.
	_, err = store.ReplayRun(ctx, e.st, store.ReplayRequest{RunID: r.answer.RunID, Input: json.RawMessage(`{"id":"lead-1","email":"still bad"}`)})
	require.Error(t, err)
	run, err := store.ReplayRun(ctx, e.st, store.ReplayRequest{RunID: r.answer.RunID, Input: json.RawMessage(`{"id":"lead-1","email":"ada@example.com"}`)})
	require.NoError(t, err)
	assert.Equal(t, store.Queued, run.Status)

	work(t, e.rt)
	out, err := e.p.Wait(ctx, r.answer.RunID)
	require.NoError(t, err)
	assert.Equal(t, "welcome ada@example.com", out.Note)

	// The sender retrying the delivery still finds that one run.
	r2 := post(t, http.DefaultClient, url, githubSign(ghSecret, "d-1", bad), bad)
	assert.Equal(t, http.StatusOK, r2.code)
	assert.Equal(t, r.answer.RunID, r2.answer.RunID)
}

// work runs a worker of rt until its queue is empty.
func work(t *testing.T, rt *pipeline.Runtime) {
	t.Helper()
	w, err := rt.NewWorker(pipeline.WorkerConfig{Poll: 5 * time.Millisecond, PruneEvery: -1, StopWhenDrained: true})
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	require.NoError(t, w.Run(ctx))
}

// sha256Prefix is the first 16 bytes of body's SHA-256 in hex: the
// delivery id a delivery without one is recorded under.
func sha256Prefix(body []byte) string {
	sum := sha256.Sum256(body)
	return hex.EncodeToString(sum[:16])
}
