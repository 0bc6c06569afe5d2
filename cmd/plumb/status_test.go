package main

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/plumb-dev/plumb/pipeline"
	"github.com/plumb-dev/plumb/step"
	"github.com/plumb-dev/plumb/store"
)

func TestPauseAndResumeAreTheStoresSwitch(t *testing.T) {
	f := newFixture(t, nil)
	f.run("ada", adaText)
	ctx := context.Background()

	r := f.ok("pause", pipelineName, "--reason", "the CRM is down")
	assert.Contains(t, r.stdout, "Paused leads")
	p, err := f.st.GetPause(ctx, pipelineName)
	require.NoError(t, err)
	require.NotNil(t, p)
	assert.Equal(t, "the CRM is down", p.Reason)
	assert.Regexp(t, `^tester@`, p.By)

	st := decode[statusReport](t, f.ok("status", "--json"))
	require.Len(t, st.Pipelines, 1)
	require.NotNil(t, st.Pipelines[0].Paused)
	assert.Equal(t, "the CRM is down", st.Pipelines[0].Paused.Reason)
	assert.Contains(t, f.ok("status").stdout, "PAUSED by tester@")

	again := decode[store.Pause](t, f.ok("pause", pipelineName, "--as", "ops-bot", "--json"))
	assert.Equal(t, "ops-bot", again.By)

	r = f.ok("resume", pipelineName)
	assert.Contains(t, r.stdout, "Resumed leads (paused by ops-bot")
	p, err = f.st.GetPause(ctx, pipelineName)
	require.NoError(t, err)
	assert.Nil(t, p)
	assert.Contains(t, f.ok("resume", pipelineName).stdout, "leads was not paused.")

	r = f.plumb("pause", "laeds")
	assert.Equal(t, exitNotFound, r.code, r.String())
	assert.Contains(t, r.stderr, `no pipeline "laeds" in plumb.db; the pipelines there: leads`)
	assert.Equal(t, exitNotFound, f.plumb("resume", "laeds").code)
}

func TestStatusFigures(t *testing.T) {
	f := newFixture(t, nil)
	f.run("ok-1", adaText)
	f.run("ok-2", adaText)
	f.run("dead", noEmailText)
	f.run("review", unsureText)
	f.run("recovered", badText)
	f.broken.Store(false)
	_, err := store.ReplayRun(context.Background(), f.st, store.ReplayRequest{RunID: "recovered"})
	require.NoError(t, err)
	f.drain()
	f.submit("waiting", adaText)
	_, err = f.p.Submit(context.Background(), RawLead{ID: "later", Text: adaText}, pipeline.SubmitOptions{
		RunID: "later", NotBefore: time.Now().Add(time.Hour), Trigger: step.Trigger{Source: "cron"}})
	require.NoError(t, err)

	st := decode[statusReport](t, f.ok("status", "--window", "1h", "--json"))
	require.Len(t, st.Pipelines, 1)
	p := st.Pipelines[0]
	assert.Equal(t, pipelineName, p.Pipeline)
	assert.Equal(t, 3600.0, st.WindowSeconds)
	assert.Equal(t, 2, p.Queued, "queued, of which one deferred")
	assert.Equal(t, 1, p.Deferred)
	assert.Equal(t, 0, p.Running)
	assert.Equal(t, 1, p.AwaitingReview)
	assert.Equal(t, 1, p.DeadLettered)
	assert.Equal(t, 3, p.ByStatus[store.Succeeded])
	assert.Equal(t, 1, p.Recoveries)
	assert.Greater(t, p.MeanRecoverySeconds, 0.0)
	assert.Greater(t, p.OldestReviewSeconds, 0.0)
	require.Len(t, p.Steps, 3)
	assert.Equal(t, []string{"parse", "classify", "draft"}, []string{p.Steps[0].Step, p.Steps[1].Step, p.Steps[2].Step}, "in the pipeline's order")
	assert.Equal(t, 1, p.Steps[0].Failed)
	assert.Equal(t, 1, p.Steps[1].Failed, "the contract failure before the fix")

	text := f.ok("status").stdout
	assert.Contains(t, text, "2 queued (1 deferred), 0 running")
	assert.Contains(t, text, "1 awaiting review, the oldest for")
	assert.Contains(t, text, "recovered  1 run, mean")
	assert.Contains(t, text, "parse             4       1         20.0%")

	r := f.plumb("status", "--pipeline", "nope")
	assert.Equal(t, exitNotFound, r.code, r.String())
	one := decode[statusReport](t, f.ok("status", "--pipeline", pipelineName, "--json"))
	assert.Len(t, one.Pipelines, 1)
}
