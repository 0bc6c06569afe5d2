package main

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/plumb-dev/plumb/store"
)

// plumb resume records who resumed and why in the pipeline's log, next to
// the pause it cleared; a resume of a pipeline that was not paused logs
// nothing.
func TestResumeIsLogged(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, nil)
	f.run("ok-1", adaText)

	f.ok("pause", pipelineName, "--reason", "the CRM is down", "--as", "ana")
	r := f.ok("resume", pipelineName, "--reason", "the CRM is back", "--as", "bo")
	assert.Contains(t, r.stdout, "Resumed leads (paused by ana")
	f.ok("resume", pipelineName, "--reason", "twice")
	f.ok("pause", pipelineName)
	f.ok("resume", pipelineName)

	log, err := f.st.PipelineLog(ctx, pipelineName, 0)
	require.NoError(t, err)
	require.Len(t, log, 4)
	assert.Equal(t, store.Resumed, log[0].Action)
	assert.Equal(t, "resumed by an operator", log[0].Reason, "the default reason")
	assert.Regexp(t, `^tester@`, log[0].By, "the default who: $USER@hostname")
	assert.Equal(t, store.Paused, log[1].Action)
	assert.Equal(t, store.PauseEntry{Pipeline: pipelineName, Action: store.Resumed, By: "bo", Reason: "the CRM is back", At: log[2].At}, log[2])
	assert.Equal(t, "ana", log[3].By)
	assert.Equal(t, "the CRM is down", log[3].Reason)
}
