package llm_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/plumb-dev/plumb/contract"
	"github.com/plumb-dev/plumb/llm"
	"github.com/plumb-dev/plumb/llm/llmtest"
	"github.com/plumb-dev/plumb/pipeline"
	"github.com/plumb-dev/plumb/pipelinetest"
	"github.com/plumb-dev/plumb/retry"
	"github.com/plumb-dev/plumb/step"
	"github.com/plumb-dev/plumb/store"
)

type faultReport struct {
	succeeded, review, dead int
	tokens                  int
	calls                   int
}

// runFaulty drives items through a pipeline whose model step faces 30%
// injected faults of every kind, and reports how the runs ended.
func runFaulty(t *testing.T, items int, reasks int, withFallback bool) faultReport {
	k := pipelinetest.New(t)
	answer := func(req llm.Request) llmtest.Answer { return llmtest.Text(good) }
	primary := llmtest.New(llmtest.Config{Model: "primary", Respond: answer, Faults: llmtest.Every(0.30, 11)})
	var fallbackModels []llm.Model
	if withFallback {
		fallbackModels = []llm.Model{llmtest.New(llmtest.Config{Model: "fallback", Respond: answer, Faults: llmtest.Every(0.30, 12)})}
	}
	var invalidSeen atomic.Int64
	check, err := contract.For[Label]()
	require.NoError(t, err)
	p1 := pipeline.New(k.Runtime, "faulty", llm.Structured[Label]("classify", primary, prompt, llm.Options{
		Reasks: reasks, FallbackModels: fallbackModels, Retry: retry.Policy{MaxAttempts: 3, Jitter: -1},
		// A refusal is a judgement call: a person decides.
		Step: step.Config{Review: step.ReviewRule{OnClasses: []retry.Class{retry.ClassRefusal}}},
	}), pipeline.Policy{Outage: pipeline.NoOutage})
	p := pipeline.Then(p1, step.New("route", func(_ context.Context, l Label) (string, error) {
		if check.Check(l) != nil {
			invalidSeen.Add(1)
		}
		return "queue:" + l.Stage, nil
	}, step.Config{}))
	ids := make([]string, items)
	for i := range ids {
		id, err := p.Submit(k.Context(), Lead{Name: fmt.Sprint("lead ", i), Message: "pricing please"}, pipeline.SubmitOptions{})
		require.NoError(t, err)
		ids[i] = id
	}
	k.Drain()

	var rep faultReport
	for _, id := range ids {
		d := k.Get(id)
		for _, s := range d.Steps {
			for _, a := range s.Attempts {
				rep.tokens += a.InputTokens + a.OutputTokens
				if a.Model != "" {
					rep.calls++
				}
			}
		}
		switch d.Run.Status {
		case store.Succeeded:
			rep.succeeded++
		case store.AwaitingReview:
			rep.review++
		case store.DeadLettered:
			rep.dead++
			last := d.Steps[len(d.Steps)-1]
			require.NotEmpty(t, last.Attempts, "a dead letter keeps its attempts")
			for _, a := range last.Attempts {
				if a.OutputTokens > 0 {
					assert.NotEmpty(t, a.Raw, "a dead letter keeps every raw answer (run %s)", id)
				}
			}
		default:
			t.Fatalf("run %s ended %s: every item must end succeeded, in review or dead-lettered", id, d.Run.Status)
		}
	}
	assert.Zero(t, invalidSeen.Load(), "no broken output is passed on")
	assert.Equal(t, items, rep.succeeded+rep.review+rep.dead, "none is lost")
	return rep
}

// TestThirtyPercentFaults is the model-step reliability figure that
// BENCHMARKS.md reports: 1,000 items, 30% of calls faulty (malformed JSON,
// truncation, missing field, wrong enum, 429, 500, timeout, refusal).
func TestThirtyPercentFaults(t *testing.T) {
	const items = 1000
	bare := runFaulty(t, items, -1, false)
	full := runFaulty(t, items, 2, true)
	for _, r := range []struct {
		name string
		rep  faultReport
	}{{"no re-ask, no fallback", bare}, {"re-ask x2 + fallback model", full}} {
		t.Logf("%-26s succeeded %5.1f%%  review %4.1f%%  dead-lettered %4.1f%%  calls/item %.2f  tokens per success %.0f",
			r.name, pct(r.rep.succeeded, items), pct(r.rep.review, items), pct(r.rep.dead, items),
			float64(r.rep.calls)/items, float64(r.rep.tokens)/float64(max(1, r.rep.succeeded)))
	}
	assert.GreaterOrEqual(t, pct(full.succeeded+full.review, items), 99.0, "with re-ask and fallback, at least 99%% end succeeded or awaiting review")
	assert.GreaterOrEqual(t, pct(full.succeeded, items), 95.0, "and at least 95%% succeed")
	assert.Greater(t, full.succeeded, bare.succeeded, "re-asks and the fallback earn their keep")
}

func pct(n, of int) float64 { return 100 * float64(n) / float64(of) }
