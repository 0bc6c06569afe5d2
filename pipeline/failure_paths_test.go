package pipeline_test

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/plumb-dev/plumb/contract"
	"github.com/plumb-dev/plumb/deadletter"
	"github.com/plumb-dev/plumb/notify"
	"github.com/plumb-dev/plumb/pipeline"
	"github.com/plumb-dev/plumb/pipelinetest"
	"github.com/plumb-dev/plumb/retry"
	"github.com/plumb-dev/plumb/step"
	"github.com/plumb-dev/plumb/store"
)

// events collects notifications.
type events struct {
	mu  sync.Mutex
	all []notify.Event
}

func (e *events) Notify(_ context.Context, ev notify.Event) error {
	e.mu.Lock()
	e.all = append(e.all, ev)
	e.mu.Unlock()
	return nil
}

func (e *events) kinds() []notify.Kind {
	e.mu.Lock()
	defer e.mu.Unlock()
	var out []notify.Kind
	for _, ev := range e.all {
		out = append(out, ev.Kind)
	}
	return out
}

func (e *events) of(k notify.Kind) []notify.Event {
	e.mu.Lock()
	defer e.mu.Unlock()
	var out []notify.Event
	for _, ev := range e.all {
		if ev.Kind == k {
			out = append(out, ev)
		}
	}
	return out
}

type Enriched struct {
	Lead  Lead   `json:"lead"`
	Score int    `json:"score" jsonschema:"minimum=0,maximum=100"`
	Note  string `json:"note"`
}

func enrichPipeline(k *pipelinetest.Kit, rt *pipeline.Runtime, pol pipeline.Policy, rule step.ReviewRule) *pipeline.Pipeline[RawLead, Draft] {
	p1 := pipeline.New(rt, "enrich-leads", step.New("parse", parse, step.Config{Retry: retry.Policy{MaxAttempts: 1, Jitter: -1}}), pol)
	p2 := pipeline.Then(p1, step.New("enrich", func(_ context.Context, l Lead) (Enriched, error) {
		score := 80
		if l.Name == "Unsure Lead" {
			score = 30
		}
		return Enriched{Lead: l, Score: score, Note: "from the CRM"}, nil
	}, step.Config{Retry: retry.Policy{MaxAttempts: 2, Jitter: -1}, Review: rule}))
	return pipeline.Then(p2, step.New("draft", func(_ context.Context, e Enriched) (Draft, error) {
		return Draft{To: e.Lead.Email, Body: fmt.Sprintf("Hi %s, your score is %d (%s).", e.Lead.Name, e.Score, e.Note)}, nil
	}, step.Config{}))
}

func TestBreakerPausesIntakeProbesAndResumes(t *testing.T) {
	k := pipelinetest.New(t)
	ev := &events{}
	rt := k.Runtime
	pol := pipeline.Policy{Outage: pipeline.NoOutage, Notifier: ev, Breaker: pipeline.BreakerConfig{Window: 10, Rate: 0.5, CoolDown: time.Minute}}
	p := enrichPipeline(k, rt, pol, step.ReviewRule{})

	var ids []string
	submit := func(n int) {
		for i := 0; i < n; i++ {
			id, err := p.Submit(k.Context(), ada, pipeline.SubmitOptions{})
			require.NoError(t, err)
			ids = append(ids, id)
			k.Clock.Advance(time.Millisecond)
		}
	}
	submit(10)
	k.Drain()
	for _, id := range ids {
		k.AssertSucceeded(id)
	}

	// The CRM goes down: enrich fails every time.
	k.Fail("enrich", retry.ClassTransient, 0)
	submit(30)
	k.Drain()
	pause, err := k.Store.GetPause(context.Background(), "enrich-leads")
	require.NoError(t, err)
	require.NotNil(t, pause, "the breaker paused the intake")
	assert.Equal(t, "breaker:enrich", pause.By)
	assert.Contains(t, pause.Reason, "failed 5 of its last 10")

	dead, queued := 0, 0
	for _, id := range ids[10:] {
		d := k.Get(id)
		switch d.Run.Status {
		case store.DeadLettered:
			dead++
			assert.False(t, d.Run.FinishedAt.After(pause.Since), "no run is dead-lettered after the pause")
		case store.Queued:
			queued++
		default:
			t.Fatalf("run %s is %s", id, d.Run.Status)
		}
	}
	assert.Equal(t, 4, dead, "the breaker trips within its window: four failures, the fifth trips it")
	assert.Equal(t, 26, queued, "the rest wait in the queue, not in the dead-letter bucket")
	require.Len(t, ev.of(notify.Paused), 1)
	assert.Len(t, ev.of(notify.DeadLettered), 4)

	// After the cool-down one probe goes through; it fails, so the intake
	// stays shut for another cool-down.
	before := k.Attempts("enrich")
	k.Clock.Advance(time.Minute)
	k.Drain()
	assert.Equal(t, before+2, k.Attempts("enrich"), "exactly one probe run (two attempts) went through")
	pause, _ = k.Store.GetPause(context.Background(), "enrich-leads")
	require.NotNil(t, pause)
	assert.Contains(t, pause.Reason, "probe run failed")

	// The CRM is back: the next probe succeeds and the intake resumes.
	k.Heal("enrich")
	k.Clock.Advance(time.Minute)
	k.Drain()
	pause, _ = k.Store.GetPause(context.Background(), "enrich-leads")
	assert.Nil(t, pause, "the probe's success resumed intake")
	require.Len(t, ev.of(notify.Resumed), 1)
	k.Drain()
	dead = 0
	for _, id := range ids {
		if k.Get(id).Run.Status == store.DeadLettered {
			dead++
			continue
		}
		k.AssertSucceeded(id)
	}
	assert.Equal(t, 4, dead, "every run but the four dead-lettered before the pause succeeded")
}

func TestManualPauseAndResume(t *testing.T) {
	k := pipelinetest.New(t)
	ev := &events{}
	rt := k.Runtime
	pol := pipeline.Policy{Outage: pipeline.NoOutage, Notifier: ev}
	p := enrichPipeline(k, rt, pol, step.ReviewRule{})
	require.NoError(t, p.Pause(k.Context(), "CRM maintenance tonight", "ana"))
	id, err := p.Submit(k.Context(), ada, pipeline.SubmitOptions{})
	require.NoError(t, err)
	k.Drain()
	k.AssertStatus(id, store.Queued)
	require.NoError(t, p.Resume(k.Context(), "maintenance done", "ben"))
	k.Drain()
	k.AssertSucceeded(id)
	assert.Equal(t, []notify.Kind{notify.Paused, notify.Resumed}, ev.kinds())
	assert.Contains(t, ev.of(notify.Paused)[0].Reason, "paused by ana")
	assert.Equal(t, "maintenance done (resumed by ben)", ev.of(notify.Resumed)[0].Reason)
	log, err := k.Store.PipelineLog(k.Context(), p.Name(), 10)
	require.NoError(t, err)
	require.Len(t, log, 2)
	assert.Equal(t, store.Resumed, log[0].Action, "newest first")
	assert.Equal(t, "ben", log[0].By)
	assert.Equal(t, "maintenance done", log[0].Reason)
	assert.Equal(t, "ana", log[1].By)
}

func TestReviewByPredicateApproveWithEdit(t *testing.T) {
	k := pipelinetest.New(t)
	ev := &events{}
	rt := k.Runtime
	pol := pipeline.Policy{Outage: pipeline.NoOutage, Notifier: ev, Link: func(id string) string { return "https://ops.example.com/review/" + id }}
	p := enrichPipeline(k, rt, pol, step.ReviewRule{If: func(e Enriched) (string, bool) {
		return fmt.Sprintf("score %d is below 50", e.Score), e.Score < 50
	}})
	id, err := p.Submit(k.Context(), RawLead{Text: "Unsure Lead <unsure@example.com>"}, pipeline.SubmitOptions{})
	require.NoError(t, err)
	k.Drain()
	d := k.AssertAwaitingReview(id, "enrich")
	assert.Equal(t, "score 30 is below 50", d.Run.Review.Reason)
	assert.JSONEq(t, `{"lead":{"name":"Unsure Lead","email":"unsure@example.com"},"score":30,"note":"from the CRM"}`, string(d.Run.Review.Proposed))
	assert.NotEmpty(t, d.Run.Review.OutputSchema, "the review carries the output contract")
	rn := ev.of(notify.ReviewNeeded)
	require.Len(t, rn, 1)
	assert.Equal(t, "https://ops.example.com/review/"+id, rn[0].Link)

	reviews, err := p.Reviews(k.Context())
	require.NoError(t, err)
	require.Len(t, reviews, 1)

	_, err = p.Approve(k.Context(), id, "ana@example.com", json.RawMessage(`{"lead":{"name":"Unsure Lead","email":"unsure@example.com"},"score":250,"note":"x"}`))
	var ve *contract.ValidationError
	require.ErrorAs(t, err, &ve, "a bad edit is refused with its violations")
	assert.Equal(t, "/score", ve.Violations[0].Path)
	k.AssertAwaitingReview(id, "enrich")

	k.Clock.Advance(5 * time.Minute)
	_, err = p.Approve(k.Context(), id, "ana@example.com", json.RawMessage(`{"lead":{"name":"Unsure Lead","email":"unsure@example.com"},"score":65,"note":"checked by hand"}`))
	require.NoError(t, err)
	k.Drain()
	d = k.AssertSucceeded(id)
	assert.Contains(t, string(d.Run.Output), "your score is 65 (checked by hand)", "the run resumed at the next step with the edit")
	assert.Equal(t, "ana@example.com", d.Run.Review.Decision.Reviewer, "who decided is in the history")
	assert.True(t, d.Run.Review.Decision.At.Equal(pipelinetest.Start.Add(5*time.Minute)), "and when")
	assert.True(t, d.Run.Review.Decision.Edited)
}

// Reviews lists the oldest review first: a run submitted earlier but
// deferred past a later one is reviewed later, and listed after it.
func TestReviewsOldestReviewFirst(t *testing.T) {
	k := pipelinetest.New(t)
	p := enrichPipeline(k, k.Runtime, pipeline.Policy{Outage: pipeline.NoOutage}, step.ReviewRule{Always: true})
	later, err := p.Submit(k.Context(), ada, pipeline.SubmitOptions{NotBefore: k.Clock.Now().Add(time.Hour)})
	require.NoError(t, err)
	k.Clock.Advance(time.Second)
	first, err := p.Submit(k.Context(), ada, pipeline.SubmitOptions{})
	require.NoError(t, err)
	k.Drain()
	k.Clock.Advance(time.Hour)
	k.Drain()
	reviews, err := p.Reviews(k.Context())
	require.NoError(t, err)
	require.Len(t, reviews, 2)
	assert.Equal(t, []string{first, later}, []string{reviews[0].ID, reviews[1].ID}, "by when the review opened, not when the run was submitted")
}

func TestReviewAlwaysAndReject(t *testing.T) {
	k := pipelinetest.New(t)
	ev := &events{}
	rt := k.Runtime
	pol := pipeline.Policy{Outage: pipeline.NoOutage, Notifier: ev}
	p := enrichPipeline(k, rt, pol, step.ReviewRule{Always: true})
	id, err := p.Submit(k.Context(), ada, pipeline.SubmitOptions{})
	require.NoError(t, err)
	k.Drain()
	k.AssertAwaitingReview(id, "enrich")
	_, err = p.Reject(k.Context(), id, "bob", "not a real company")
	require.NoError(t, err)
	d := k.AssertDeadLettered(id, "enrich", retry.ClassNeedsReview)
	assert.Contains(t, d.Run.Error, "rejected by bob: not a real company")
}

func TestReviewOnFailureClassGetsNoProposal(t *testing.T) {
	k := pipelinetest.New(t)
	k.Fail("enrich", retry.ClassContract, 0)
	p := enrichPipeline(k, k.Runtime, pipeline.Policy{Outage: pipeline.NoOutage}, step.ReviewRule{OnClasses: []retry.Class{retry.ClassContract}})
	id, err := p.Submit(k.Context(), ada, pipeline.SubmitOptions{})
	require.NoError(t, err)
	k.Drain()
	d := k.AssertAwaitingReview(id, "enrich")
	assert.Nil(t, d.Run.Review.Proposed, "the step failed: the reviewer supplies the output")
	assert.Contains(t, d.Run.Review.Reason, "contract")
	_, err = p.Approve(k.Context(), id, "ana", nil)
	assert.ErrorIs(t, err, store.ErrConflict)
	_, err = p.Approve(k.Context(), id, "ana", json.RawMessage(`{"lead":{"name":"Ada","email":"ada@example.com"},"score":70,"note":"typed in"}`))
	require.NoError(t, err)
	k.Heal("enrich")
	k.Drain()
	k.AssertSucceeded(id)
}

func TestReviewDeadlineEscalatesAndTakesTheDefault(t *testing.T) {
	k := pipelinetest.New(t)
	ev := &events{}
	rt := k.Runtime
	pol := pipeline.Policy{Outage: pipeline.NoOutage, Notifier: ev}
	p := enrichPipeline(k, rt, pol, step.ReviewRule{Always: true, Deadline: time.Hour, OnDeadline: step.ApproveProposal})
	id, err := p.Submit(k.Context(), ada, pipeline.SubmitOptions{})
	require.NoError(t, err)
	k.Drain()
	k.AssertAwaitingReview(id, "enrich")
	k.Clock.Advance(61 * time.Minute)
	require.Eventually(t, func() bool {
		k.Drain()
		return len(ev.of(notify.ReviewOverdue)) == 1
	}, 5*time.Second, 10*time.Millisecond)
	k.Drain()
	d := k.AssertSucceeded(id)
	assert.True(t, d.Run.Review.Escalated)
	assert.True(t, d.Run.Review.Decision.Default)
	assert.Contains(t, ev.of(notify.ReviewOverdue)[0].Reason, "approved by default")
}

func TestNotificationsSpeakOnlyForFinalOutcomes(t *testing.T) {
	k := pipelinetest.New(t)
	ev := &events{}
	rt := k.NewRuntime(pipeline.RuntimeConfig{DeadLetters: append([]deadletter.Sink{k.Letters}, failingSink{}), Logger: quietLogger()})
	pol := pipeline.Policy{Outage: pipeline.NoOutage, Notifier: ev}
	k.Fail("enrich", retry.ClassTransient, 1) // healed by the retry: no event
	p := enrichPipeline(k, rt, pol, step.ReviewRule{})
	ok, err := p.Submit(k.Context(), ada, pipeline.SubmitOptions{})
	require.NoError(t, err)
	k.Drain()
	k.AssertSucceeded(ok)
	assert.Empty(t, ev.kinds(), "a failure retries handled says nothing")

	bad, err := p.Submit(k.Context(), RawLead{Text: "no email"}, pipeline.SubmitOptions{})
	require.NoError(t, err)
	k.Drain()
	k.AssertDeadLettered(bad, "parse", retry.ClassPermanent)
	assert.ElementsMatch(t, []notify.Kind{notify.SinkFailed, notify.DeadLettered}, ev.kinds())
	dl := ev.of(notify.DeadLettered)[0]
	assert.Equal(t, bad, dl.RunID)
	assert.Equal(t, "parse", dl.Step)
	assert.Equal(t, "permanent", dl.Class)
	assert.Equal(t, "plumb runs show "+bad, dl.Link)
}

func TestBudgetExceededEvent(t *testing.T) {
	k := pipelinetest.New(t)
	ev := &events{}
	rt := k.Runtime
	pol := pipeline.Policy{Outage: pipeline.NoOutage, Notifier: ev}
	k.FailWith("enrich", retry.Budget(fmt.Errorf("run token budget of 1000 would be exceeded")), 1)
	p := enrichPipeline(k, rt, pol, step.ReviewRule{})
	id, err := p.Submit(k.Context(), ada, pipeline.SubmitOptions{})
	require.NoError(t, err)
	k.Drain()
	k.AssertDeadLettered(id, "enrich", retry.ClassBudget)
	assert.Equal(t, []notify.Kind{notify.BudgetExceeded}, ev.kinds())
}

func TestSilenceIsNoticed(t *testing.T) {
	k := pipelinetest.New(t)
	ev := &events{}
	rt := k.Runtime
	pol := pipeline.Policy{Outage: pipeline.NoOutage, Notifier: ev, ExpectEvery: 2 * time.Hour}
	p := enrichPipeline(k, rt, pol, step.ReviewRule{})
	id, err := p.Submit(k.Context(), ada, pipeline.SubmitOptions{})
	require.NoError(t, err)
	k.Drain()
	k.AssertSucceeded(id)
	assert.Empty(t, ev.of(notify.Silent))
	k.Clock.Advance(2*time.Hour + time.Minute)
	require.Eventually(t, func() bool {
		k.Drain()
		return len(ev.of(notify.Silent)) == 1
	}, 5*time.Second, 10*time.Millisecond)
	assert.Contains(t, ev.of(notify.Silent)[0].Reason, "expected at least one every 2h")
}
