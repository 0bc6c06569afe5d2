package pipeline_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/plumb-dev/plumb/pipeline"
	"github.com/plumb-dev/plumb/pipelinetest"
	"github.com/plumb-dev/plumb/step"
)

type tagged struct {
	Name string              `json:"name"`
	Tags map[string][]string `json:"tags"`
}

// Invalid UTF-8 that encoding a submitted input replaced with U+FFFD is
// noted on the run, counted per byte, wherever it was in the value; what
// only looks like a replacement is not counted.
func TestSubmitNotesReplacedInvalidUTF8(t *testing.T) {
	k := pipelinetest.New(t)
	p := pipeline.New(k.Runtime, "utf8", step.New("echo", func(_ context.Context, v tagged) (tagged, error) { return v, nil }, step.Config{}), pipeline.Policy{Outage: pipeline.NoOutage})
	for _, tc := range []struct {
		name string
		in   tagged
		want int
	}{
		{"latin-1 byte", tagged{Name: "caf\xe9", Tags: map[string][]string{}}, 1},
		{"nested, and in a key", tagged{Name: "ok", Tags: map[string][]string{"k\xff": {"a", "b\xfe\xfd"}}}, 3},
		{"valid U+FFFD", tagged{Name: "caf\uFFFD", Tags: map[string][]string{}}, 0},
		{"an escaped backslash before ufffd", tagged{Name: `caf\ufffd`, Tags: map[string][]string{}}, 0},
		{"clean", tagged{Name: "café", Tags: map[string][]string{}}, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			id, err := p.Submit(k.Context(), tc.in, pipeline.SubmitOptions{})
			require.NoError(t, err)
			d, err := k.Store.GetRun(k.Context(), id)
			require.NoError(t, err)
			assert.Equal(t, tc.want, d.Run.InputReplaced)
		})
	}

	// Run with a store notes it too.
	_, err := p.Run(k.Context(), tagged{Name: "caf\xe9", Tags: map[string][]string{}}, pipeline.RunOptions{RunID: "run-utf8"})
	require.NoError(t, err)
	d, err := k.Store.GetRun(k.Context(), "run-utf8")
	require.NoError(t, err)
	assert.Equal(t, 1, d.Run.InputReplaced)
}
