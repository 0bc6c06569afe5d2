package pipeline_test

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/codes"

	"github.com/plumb-dev/plumb/notify"
	"github.com/plumb-dev/plumb/observe"
	"github.com/plumb-dev/plumb/pipeline"
	"github.com/plumb-dev/plumb/pipelinetest"
	"github.com/plumb-dev/plumb/retry"
	"github.com/plumb-dev/plumb/retry/retrytest"
	"github.com/plumb-dev/plumb/step"
	"github.com/plumb-dev/plumb/store"
)

// The two definitions of the prospects pipeline: v2 raises the score a
// letter may be drafted for (draft's input contract, score's output
// contract); the steps and their names stay.
type (
	prospect struct {
		Name  string `json:"name" jsonschema:"minLength=1"`
		Score int    `json:"score"`
	}
	scoredV1 struct {
		Name  string `json:"name"`
		Score int    `json:"score"`
	}
	scoredV2 struct {
		Name  string `json:"name"`
		Score int    `json:"score" jsonschema:"minimum=50"`
	}
	outreach struct {
		To   string `json:"to"`
		Body string `json:"body"`
	}
)

// prospects builds a version of the pipeline: score (which sends the
// prospects named "review ..." to a person) then draft (which fails
// transiently while down is set).
func prospects[S any](rt *pipeline.Runtime, label string, down *atomic.Bool, mk func(string, int) S, get func(S) (string, int)) *pipeline.Pipeline[prospect, outreach] {
	once := retry.Policy{MaxAttempts: 1}
	p := pipeline.New(rt, "prospects", step.New("score", func(_ context.Context, in prospect) (S, error) {
		return mk(in.Name, in.Score), nil
	}, step.Config{Retry: once, Review: step.ReviewRule{If: func(s S) (string, bool) {
		name, _ := get(s)
		return "a person scores it", len(name) > 7 && name[:7] == "review "
	}}}), pipeline.Policy{Version: label, Outage: []time.Duration{time.Minute}})
	return pipeline.Then(p, step.New("draft", func(_ context.Context, s S) (outreach, error) {
		if down != nil && down.Load() {
			return outreach{}, retry.Transient(errors.New("the mail server is down"))
		}
		name, score := get(s)
		return outreach{To: name, Body: "score " + itoa(score)}, nil
	}, step.Config{Retry: once}))
}

func itoa(n int) string { b, _ := json.Marshal(n); return string(b) }

func prospectsV1(rt *pipeline.Runtime, down *atomic.Bool) *pipeline.Pipeline[prospect, outreach] {
	return prospects(rt, "v1", down, func(n string, s int) scoredV1 { return scoredV1{n, s} }, func(s scoredV1) (string, int) { return s.Name, s.Score })
}

func prospectsV2(rt *pipeline.Runtime) *pipeline.Pipeline[prospect, outreach] {
	return prospects(rt, "v2", nil, func(n string, s int) scoredV2 { return scoredV2{n, s} }, func(s scoredV2) (string, int) { return s.Name, s.Score })
}

func TestAVersionIsStableAndChangesWithAContract(t *testing.T) {
	a := prospectsV1(nil, nil).Version()
	b := prospectsV1(pipeline.NewRuntime(pipeline.RuntimeConfig{}), nil).Version()
	v2 := prospectsV2(nil).Version()
	assert.Equal(t, a, b, "two builds of the same code have one version")
	assert.Len(t, a.Fingerprint, 16)
	assert.Equal(t, "v1", a.Label)
	assert.NotEqual(t, a.Fingerprint, v2.Fingerprint, "a contract change changes the fingerprint")

	def := prospectsV2(nil).Definition()
	assert.Equal(t, "prospects", def.Name)
	assert.Equal(t, v2, def.Version)
	require.Len(t, def.Steps, 2)
	assert.Equal(t, store.Fingerprint(def.Steps), def.Version.Fingerprint, "the fingerprint is of the steps it exports")
	assert.Contains(t, string(def.Steps[1].InputSchema), `"minimum":50`)
	def.Steps[0].Name = "changed"
	assert.Equal(t, "score", prospectsV2(nil).Definition().Steps[0].Name)

	raw, err := json.Marshal(def)
	require.NoError(t, err)
	var back store.PipelineDef
	require.NoError(t, json.Unmarshal(raw, &back))
	assert.Equal(t, v2, back.Version, "the JSON that plumb versions check --definition reads keeps the version")
}

// workAll works rt's runs until none is left for it.
func workAll(t *testing.T, rt *pipeline.Runtime) {
	t.Helper()
	require.NoError(t, rt.Work(context.Background(), pipeline.WorkerConfig{StopWhenDrained: true, Poll: 5 * time.Millisecond, PruneEvery: -1}))
}

// A deploy that tightens a contract: the runs a v1 worker left in the
// store are checked by rt2.CheckVersions before the v2 workers start;
// the v2 worker holds the breaking ones and finishes the others; a replay
// with a patch moves a held run to v2, and a rolled-back v1 worker runs a
// replayed one under v1. Nothing is dead-lettered.
func deployAChangedContract(t *testing.T, st store.Store, clock retry.Clock) {
	ctx := context.Background()
	quiet := slog.New(slog.DiscardHandler)
	var down atomic.Bool
	down.Store(true)
	rt1 := pipeline.NewRuntime(pipeline.RuntimeConfig{Store: st, Clock: clock, Logger: quiet})
	p1 := prospectsV1(rt1, &down)
	ids := map[string]string{}
	for _, in := range []prospect{{"a", 80}, {"b", 10}, {"review d", 20}, {"review e", 60}} {
		id, err := p1.Submit(ctx, in, pipeline.SubmitOptions{})
		require.NoError(t, err)
		ids[in.Name] = id
	}
	det, err := st.GetRun(ctx, ids["a"])
	require.NoError(t, err)
	assert.Equal(t, p1.Version(), det.Run.Version, "the run records the definition it started under")
	assert.Equal(t, p1.Version(), det.Attempts[0].Version)
	workAll(t, rt1)
	for name, want := range map[string]store.Status{"a": store.Queued, "b": store.Queued, "review d": store.AwaitingReview, "review e": store.AwaitingReview} {
		det, err := st.GetRun(ctx, ids[name])
		require.NoError(t, err)
		require.Equal(t, want, det.Run.Status, name)
	}

	// The deploy: v2 is built on a runtime of its own, as the new binary.
	ev := make(eventChan, 16)
	tel, sr, reader := telemetry(t)
	rt2 := pipeline.NewRuntime(pipeline.RuntimeConfig{Store: st, Clock: clock, Logger: quiet, Notifier: ev, Telemetry: tel})
	p2 := prospectsV2(rt2)
	f, err := p2.Submit(ctx, prospect{"f", 70}, pipeline.SubmitOptions{})
	require.NoError(t, err)
	rep, err := rt2.CheckVersions(ctx)
	require.NoError(t, err)
	assert.False(t, rep.OK())
	assert.Equal(t, 4, rep.Checked)
	assert.Equal(t, 1, rep.Current, "the run started under v2 is not read")
	broken := map[string]store.Incompatibility{}
	for _, inc := range rep.Broken {
		broken[inc.RunID] = inc
	}
	require.Len(t, broken, 2, "%+v", rep.Broken)
	assert.Equal(t, "checkpoint", broken[ids["b"]].What)
	assert.Equal(t, "draft", broken[ids["b"]].Step)
	assert.Equal(t, "review", broken[ids["review d"]].What)
	assert.Equal(t, "score", broken[ids["review d"]].Step)
	assert.Equal(t, p1.Version(), broken[ids["b"]].Version)

	// The v2 worker: the deferred runs are due.
	clock.(*retrytest.Clock).Advance(2 * time.Minute)
	workAll(t, rt2)
	_, err = p2.Approve(ctx, ids["review d"], "ops@example.com", nil)
	require.NoError(t, err)
	_, err = p2.Approve(ctx, ids["review e"], "ops@example.com", nil)
	require.NoError(t, err)
	workAll(t, rt2)
	for _, name := range []string{"a", "review e"} {
		det, err := st.GetRun(ctx, ids[name])
		require.NoError(t, err)
		assert.Equal(t, store.Succeeded, det.Run.Status, "%s is compatible: the v2 worker finishes it", name)
	}
	det, err = st.GetRun(ctx, f)
	require.NoError(t, err)
	assert.Equal(t, store.Succeeded, det.Run.Status)
	for _, name := range []string{"b", "review d"} {
		det, err := st.GetRun(ctx, ids[name])
		require.NoError(t, err)
		assert.Equal(t, store.Held, det.Run.Status, "%s breaks v2: held, not dead-lettered", name)
		assert.Equal(t, "draft", det.Run.Step)
		assert.Equal(t, retry.ClassContract, det.Run.Class)
		assert.Contains(t, det.Run.Error, "step draft")
		assert.Contains(t, det.Run.Error, "/score")
		assert.Contains(t, det.Run.Error, "plumb replay "+ids[name])
		assert.Empty(t, det.Run.LeaseToken)
	}
	held := map[string]notify.Event{}
	for len(ev) > 0 {
		if e := <-ev; e.Kind == notify.Held {
			held[e.RunID] = e
		}
	}
	require.Len(t, held, 2)
	assert.Equal(t, "draft", held[ids["b"]].Step)
	assert.Equal(t, "contract", held[ids["b"]].Class)
	assert.Contains(t, held[ids["b"]].Reason, "plumb replay")
	assert.Equal(t, int64(2), collect(t, reader)["plumb.runs|"+observe.OutcomeHeld+"|"])
	heldSpans := 0
	for _, sp := range sr.Ended() {
		if attrs(sp)[observe.AttrOutcome].AsString() == observe.OutcomeHeld {
			heldSpans++
			assert.Equal(t, codes.Error, sp.Status().Code, "a held run's span says what broke")
			assert.Equal(t, "contract", attrs(sp)[observe.AttrErrorType].AsString())
		}
	}
	assert.Equal(t, 2, heldSpans)
	b, err := rt2.Backlog(ctx)
	require.NoError(t, err)
	assert.Equal(t, 2, b.Held)
	assert.False(t, b.Empty(), "a held run waits for a person")
	_, err = p2.Wait(ctx, ids["b"])
	var pe *pipeline.PendingError
	require.ErrorAs(t, err, &pe)
	assert.Equal(t, store.Held, pe.Status)
	assert.ErrorIs(t, err, retry.ErrContract)

	// A replay with a patch that meets v2 moves the run to v2.
	_, err = p2.Replay(ctx, ids["b"], pipeline.ReplayOptions{From: "draft", Input: json.RawMessage(`{"name":"b","score":55}`)})
	require.NoError(t, err)
	workAll(t, rt2)
	det, err = st.GetRun(ctx, ids["b"])
	require.NoError(t, err)
	assert.Equal(t, store.Succeeded, det.Run.Status)
	require.Len(t, det.Attempts, 2)
	assert.Equal(t, p2.Version(), det.Attempts[1].Version)
	assert.Equal(t, p2.Version(), det.Run.Version)
	assert.Contains(t, det.Attempts[1].Reason, "moved from "+p1.Version().String()+" to "+p2.Version().String())

	// A roll-back: a v1 binary replays the other held run, which runs under v1.
	down.Store(false)
	rt1b := pipeline.NewRuntime(pipeline.RuntimeConfig{Store: st, Clock: clock, Logger: quiet})
	p1b := prospectsV1(rt1b, &down)
	_, err = p1b.Replay(ctx, ids["review d"], pipeline.ReplayOptions{})
	require.NoError(t, err)
	workAll(t, rt1b)
	det, err = st.GetRun(ctx, ids["review d"])
	require.NoError(t, err)
	assert.Equal(t, store.Succeeded, det.Run.Status)
	require.Len(t, det.Attempts, 2)
	assert.Equal(t, p1.Version(), det.Attempts[1].Version)
	assert.NotContains(t, det.Attempts[1].Reason, "moved")

	dead, err := st.ListRuns(ctx, store.RunFilter{Pipeline: "prospects", Status: []store.Status{store.DeadLettered}, Limit: 10})
	require.NoError(t, err)
	assert.Empty(t, dead.Runs, "a deploy dead-letters nothing by surprise")
}

func TestADeployHoldsTheRunsItsContractsBreak(t *testing.T) { onEveryStore(t, deployAChangedContract) }

// batchOf is a parent's input: the prospects its fan-out scores, one
// branch each.
type batchOf struct {
	Prospects []prospect `json:"prospects"`
}

func split() *step.Step[batchOf, []prospect] {
	return step.New("split", func(_ context.Context, b batchOf) ([]prospect, error) { return b.Prospects, nil }, step.Config{})
}

// splitQualified is v2's split: its output contract is the sub-pipeline's
// new input contract.
func splitQualified() *step.Step[batchOf, []qualified] {
	return step.New("split", func(_ context.Context, b batchOf) ([]qualified, error) {
		qs := make([]qualified, len(b.Prospects))
		for i, p := range b.Prospects {
			qs[i] = qualified(p)
		}
		return qs, nil
	}, step.Config{})
}

// A branch run goes through the same check: a v2 worker holds the branch
// whose input breaks the sub-pipeline's new contract, and its parent
// keeps waiting for it; once a patched replay of the branch succeeds, the
// parent, whose checkpoint breaks v2 too, is held at its fan-out rather
// than dead-lettered, and a patched replay of it from there joins.
func deployHoldsABranch(t *testing.T, st store.Store, clock retry.Clock) {
	ctx := context.Background()
	quiet := slog.New(slog.DiscardHandler)
	pol := pipeline.Policy{Outage: []time.Duration{time.Minute}}
	var down atomic.Bool
	down.Store(true)
	rt1 := pipeline.NewRuntime(pipeline.RuntimeConfig{Store: st, Clock: clock, Logger: quiet})
	sub1 := pipeline.New(rt1, "score-one", step.New("score", func(_ context.Context, p prospect) (scoredV1, error) {
		if down.Load() {
			return scoredV1{}, retry.Transient(errors.New("the scoring service is down"))
		}
		return scoredV1{p.Name, p.Score}, nil
	}, step.Config{Retry: retry.Policy{MaxAttempts: 1}}), pol)
	p1 := pipeline.FanOut(pipeline.New(rt1, "batch", split(), pol), "each", sub1, pipeline.FanOutOptions{})
	id, err := p1.Submit(ctx, batchOf{[]prospect{{"a", 80}, {"b", 10}}}, pipeline.SubmitOptions{})
	require.NoError(t, err)
	workAll(t, rt1)

	rt2 := pipeline.NewRuntime(pipeline.RuntimeConfig{Store: st, Clock: clock, Logger: quiet})
	sub2 := pipeline.New(rt2, "score-one", step.New("score", func(_ context.Context, q qualified) (scoredV2, error) {
		return scoredV2{q.Name, q.Score}, nil
	}, step.Config{}), pol)
	p2 := pipeline.FanOut(pipeline.New(rt2, "batch", splitQualified(), pol), "each", sub2, pipeline.FanOutOptions{})
	kids, err := st.Branches(ctx, store.BranchQuery{Parent: id})
	require.NoError(t, err)
	require.Len(t, kids, 2)
	det, err := st.GetRun(ctx, kids[1].RunID)
	require.NoError(t, err)
	assert.Equal(t, sub1.Version(), det.Run.Version, "a branch records its sub-pipeline's version")
	assert.NotEqual(t, p1.Version(), p2.Version(), "a fan-out's input contract is part of its pipeline's version")

	rep, err := rt2.CheckVersions(ctx)
	require.NoError(t, err)
	broken := map[string]string{}
	for _, inc := range rep.Broken {
		broken[inc.RunID] = inc.What + " at " + inc.Step
	}
	assert.Equal(t, map[string]string{id: "checkpoint at each", kids[1].RunID: "input at score"}, broken)

	clock.(*retrytest.Clock).Advance(2 * time.Minute)
	workAll(t, rt2)
	kids, err = st.Branches(ctx, store.BranchQuery{Parent: id})
	require.NoError(t, err)
	assert.Equal(t, store.Succeeded, kids[0].Status)
	assert.Equal(t, store.Held, kids[1].Status, "the branch scored 10 breaks v2's minimum")
	det, err = st.GetRun(ctx, id)
	require.NoError(t, err)
	assert.Equal(t, store.Waiting, det.Run.Status, "a held branch keeps its parent waiting")

	_, err = sub2.Replay(ctx, kids[1].RunID, pipeline.ReplayOptions{Input: json.RawMessage(`{"name":"b","score":55}`)})
	require.NoError(t, err)
	workAll(t, rt2)
	det, err = st.GetRun(ctx, id)
	require.NoError(t, err)
	assert.Equal(t, store.Held, det.Run.Status, "its checkpoint still holds the score of 10")
	assert.Equal(t, "each", det.Run.Step)

	_, err = p2.Replay(ctx, id, pipeline.ReplayOptions{From: "each", Input: json.RawMessage(`[{"name":"a","score":80},{"name":"b","score":55}]`)})
	require.NoError(t, err)
	workAll(t, rt2)
	out, err := p2.Wait(ctx, id)
	require.NoError(t, err)
	assert.Equal(t, []scoredV2{{"a", 80}, {"b", 55}}, out)
}

func TestADeployHoldsABranchAndItsParentWaits(t *testing.T) { onEveryStore(t, deployHoldsABranch) }

// vetted refuses one name in its Validate method, which no schema shows.
type vetted struct {
	Name string `json:"name"`
}

func (v vetted) Validate() error {
	if v.Name == "bob" {
		return errors.New("bob is not vetted")
	}
	return nil
}

// A stored value of an older run that passes the schemas but does not
// decode under this build (its Validate method refuses it) is held, not
// dead-lettered: the version check reads schemas, the worker reads code.
func TestARunOfAnotherVersionThatDoesNotDecodeIsHeld(t *testing.T) {
	k := pipelinetest.New(t)
	p := pipeline.New(k.Runtime, "vetting", step.New("greet", func(_ context.Context, v vetted) (outreach, error) {
		return outreach{To: v.Name}, nil
	}, step.Config{}), pipeline.Policy{Outage: pipeline.NoOutage})
	require.NoError(t, p.Err())
	old := store.Version{Fingerprint: "0123456789abcdef", Label: "v0"}
	_, _, err := k.Store.Enqueue(k.Context(), store.NewRun{ID: "run-bob", Pipeline: "vetting", Input: json.RawMessage(`{"name":"bob"}`),
		KeepPayloads: true, Version: old})
	require.NoError(t, err)
	k.Drain()
	d := k.AssertStatus("run-bob", store.Held)
	assert.Equal(t, "greet", d.Run.Step)
	assert.Contains(t, d.Run.Error, "its input breaks the input contract of step greet")
	assert.Contains(t, d.Run.Error, "bob is not vetted")
	assert.Contains(t, d.Run.Error, "started under v0 (0123456789abcdef)")
}
