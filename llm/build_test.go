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
	"github.com/plumb-dev/plumb/retry"
	"github.com/plumb-dev/plumb/step"
	"github.com/plumb-dev/plumb/store"
)

// A model step that cannot work is a build error: its Err says so, and a
// pipeline built from it refuses every run before recording anything.
func TestModelStepBuildErrorsReachThePipeline(t *testing.T) {
	m := llmtest.New(llmtest.Config{})
	for want, s := range map[string]*step.Step[Lead, Label]{
		"the model is nil":                   llm.Structured[Label]("classify", nil, prompt, llm.Options{}),
		"the prompt function is nil":         llm.Structured[Label, Lead]("classify", m, nil, llm.Options{}),
		"fallback model 0 is nil":            llm.Structured[Label]("classify", m, prompt, llm.Options{FallbackModels: []llm.Model{nil}}),
		`step "classify": fallback 0 is nil`: llm.Structured[Label]("classify", m, prompt, llm.Options{}).Or(nil),
		"Review.If is a func(llm_test.Lead) (string, bool)": llm.Structured[Label]("classify", m, prompt, llm.Options{
			Step: step.Config{Review: step.ReviewRule{If: func(Lead) (string, bool) { return "", false }}}}),
	} {
		t.Run(want, func(t *testing.T) {
			require.Error(t, s.Err())
			assert.ErrorContains(t, s.Err(), want)

			k := pipelinetest.New(t)
			p := pipeline.New(k.Runtime, "leads", s, pipeline.Policy{Outage: pipeline.NoOutage})
			require.Error(t, p.Err())
			assert.ErrorIs(t, p.Err(), retry.ErrPermanent)
			assert.ErrorContains(t, p.Err(), want)

			_, err := p.Run(k.Context(), lead, pipeline.RunOptions{})
			assert.Equal(t, p.Err(), err, "Run refuses with the build error")
			_, err = p.Submit(k.Context(), lead, pipeline.SubmitOptions{})
			assert.Equal(t, p.Err(), err, "Submit refuses with the build error")

			page, err := k.Store.ListRuns(context.Background(), store.RunFilter{})
			require.NoError(t, err)
			assert.Empty(t, page.Runs, "nothing was recorded")
			assert.Zero(t, k.Letters.Len(), "nothing was dead-lettered")
		})
	}
	assert.Empty(t, m.Calls(), "building calls no model")
}

func TestStructuredBuildErrors(t *testing.T) {
	m := llmtest.New(llmtest.Config{})
	for name, s := range map[string]*step.Step[Lead, Label]{
		"the prompt function is nil": llm.Structured[Label, Lead]("classify", m, nil, llm.Options{}),
		"fallback model 1 is nil": llm.Structured[Label]("classify", m, prompt, llm.Options{
			FallbackModels: []llm.Model{m, nil}}),
		"the into function is nil": llm.StructuredInto[Label, Label, Lead]("classify", m, prompt, nil, llm.Options{}),
		"answer contract":          llm.StructuredInto[chan int, Label, Lead]("classify", m, prompt, func(Lead, chan int) (Label, error) { return Label{}, nil }, llm.Options{}),
	} {
		require.Error(t, s.Err(), name)
		assert.ErrorContains(t, s.Err(), name)
		assert.ErrorContains(t, s.Err(), `llm step "classify"`)
		assert.Error(t, pipeline.New(nil, "leads", s, pipeline.Policy{}).Err(), name)
	}
	assert.NoError(t, llm.Structured[Label]("classify", m, prompt, llm.Options{}).Err())
	assert.Empty(t, m.Calls(), "building calls no model")
}
