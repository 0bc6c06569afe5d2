package llm_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/plumb-dev/plumb/llm"
	"github.com/plumb-dev/plumb/llm/llmtest"
	"github.com/plumb-dev/plumb/pipeline"
	"github.com/plumb-dev/plumb/pipelinetest"
	"github.com/plumb-dev/plumb/step"
	"github.com/plumb-dev/plumb/store"
)

// A model step that cannot work is a build error: its Err says so, and a
// pipeline built from it refuses every run before recording anything.
func TestNilModelIsABuildError(t *testing.T) {
	s := llm.Structured[Lead, Label]("classify", nil, prompt)
	require.Error(t, s.Err())
	assert.ErrorContains(t, s.Err(), "the model is nil")

	k := pipelinetest.New(t)
	p := pipeline.New(k.Runtime, "leads", s, pipeline.Policy{Outage: pipeline.NoOutage})
	require.Error(t, p.Err())
	assert.ErrorIs(t, p.Err(), step.ErrPermanent)
	assert.ErrorContains(t, p.Err(), "the model is nil")

	_, err := p.Run(k.Context(), lead, pipeline.RunOptions{})
	assert.Equal(t, p.Err(), err, "Run refuses with the build error")
	_, err = p.Submit(k.Context(), lead, pipeline.SubmitOptions{})
	assert.Equal(t, p.Err(), err, "Submit refuses with the build error")

	page, err := k.Store.ListRuns(context.Background(), store.RunFilter{})
	require.NoError(t, err)
	assert.Empty(t, page.Runs, "nothing was recorded")
	assert.Zero(t, k.Letters.Len(), "nothing was dead-lettered")
}

func TestStructuredBuildErrors(t *testing.T) {
	m := llmtest.New(llmtest.Config{})
	for name, s := range map[string]*step.Step[Lead, Label]{
		"the prompt function is nil": llm.Structured[Lead, Label]("classify", m, nil),
		"fallback model 1 is nil": llm.Structured("classify", m, prompt, llm.Options[Lead, Label]{
			Fallbacks: []llm.Model{m, nil}}),
		"the into function is nil": llm.StructuredInto[Lead, Label, Label]("classify", m, prompt, nil),
		"pass at most one Options": llm.Structured("classify", m, prompt, llm.Options[Lead, Label]{}, llm.Options[Lead, Label]{}),
		"answer contract":          llm.StructuredInto[Lead, chan int, Label]("classify", m, prompt, func(Lead, chan int) (Label, error) { return Label{}, nil }),
	} {
		require.Error(t, s.Err(), name)
		assert.ErrorContains(t, s.Err(), name)
		assert.ErrorContains(t, s.Err(), `llm step "classify"`)
		assert.Error(t, pipeline.New(nil, "leads", s, pipeline.Policy{}).Err(), name)
	}
	assert.NoError(t, llm.Structured[Lead, Label]("classify", m, prompt).Err())
	assert.Empty(t, m.Calls(), "building calls no model")
}
