package storetest

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/plumb-dev/plumb/retry"
	"github.com/plumb-dev/plumb/retry/retrytest"
	"github.com/plumb-dev/plumb/store"
)

// NewStore returns a fresh, empty store that reads time from clock.
// Exercise closes it when the test ends.
type NewStore func(t *testing.T, clock retry.Clock) store.Store

// Start is the time the suite's clock starts at.
var Start = time.Date(2026, 11, 27, 2, 17, 0, 0, time.UTC)

// Exercise runs the conformance suite against stores made by newStore.
func Exercise(t *testing.T, newStore NewStore) {
	tests := []struct {
		name string
		fn   func(t *testing.T, h *harness)
	}{
		{"EnqueueAndGet", testEnqueueAndGet},
		{"EnqueueIdempotency", testEnqueueIdempotency},
		{"EnqueueRejectsBadOrDuplicateIDs", testEnqueueRejects},
		{"NotFound", testNotFound},
		{"ClaimOrderLimitAndFilter", testClaimOrder},
		{"ClaimRespectsNotBefore", testClaimNotBefore},
		{"LeaseExpiryReclaimAndFencing", testLeaseFencing},
		{"Heartbeat", testHeartbeat},
		{"CheckpointsOnReclaim", testCheckpoints},
		{"EnqueueClaimed", testEnqueueClaimed},
		{"FinishSucceeded", testFinishSucceeded},
		{"FinalStatusIsFinal", testFinalIsFinal},
		{"Defer", testDefer},
		{"Release", testRelease},
		{"ReviewApprove", testReviewApprove},
		{"ReviewApproveEdited", testReviewApproveEdited},
		{"ReviewReject", testReviewReject},
		{"ReviewEscalateOnce", testReviewEscalate},
		{"ReviewStaleDecision", testReviewStale},
		{"ReviewFinishedAt", testReviewFinishedAt},
		{"FinalErrors", testFinalErrors},
		{"ReplayFromFailedStep", testReplayFromFailed},
		{"ReplayWithPatch", testReplayPatch},
		{"ReplayRefusals", testReplayRefusals},
		{"PayloadsNotKept", testPayloadsNotKept},
		{"ListRunsFilters", testListRuns},
		{"ListRunsPages", testListRunsPages},
		{"PauseAndProbe", testPause},
		{"PipelineLog", testPipelineLog},
		{"DeadLetterSink", testDeadLetterSink},
		{"Pipelines", testPipelines},
		{"Stats", testStats},
		{"Prune", testPrune},
		{"ConcurrentClaimsNeverShareALiveLease", testConcurrentClaims},
		{"ConcurrentIdempotentEnqueue", testConcurrentIdempotency},
		{"Import", testImport},
		{"ImportIdempotencyKey", testImportIdempotencyKey},
		{"Traces", testTraces},
		{"InputReplaced", testInputReplaced},
		{"Closed", testClosed},
		{"ForkRecordsChildren", testForkRecordsChildren},
		{"ForkRefusals", testForkRefusals},
		{"ForkAgainFindsItsChildren", testForkAgain},
		{"BranchesList", testBranchesList},
		{"BranchListingAndStats", testBranchListingAndStats},
		{"BranchSpentAndBudget", testSpentAndBudget},
		{"ImportRefusesWaiting", testImportWaiting},
		{"JoinQueuesParentWhenLastChildEnds", testJoinSettles},
		{"JoinWaitsForReview", testJoinWaitsForReview},
		{"ForkLimit", testForkLimit},
		{"ForkLimitAwait", testForkLimitAwait},
		{"ReplayedChildResumesParent", testReplayedChildResumesParent},
		{"CancelledParentCancelsChildren", testCancelledParentCancelsChildren},
		{"CancelQueued", testCancelQueued},
		{"CancelDeferred", testCancelDeferred},
		{"CancelAwaitingReview", testCancelAwaitingReview},
		{"CancelWaitingParent", testCancelWaitingParent},
		{"CancelBranchRun", testCancelBranchRun},
		{"CancelFinalAndNotFound", testCancelFinal},
		{"CancelRunningMarksUntilRelease", testCancelRunningMarks},
		{"CancelRunningRefusesWrites", testCancelRunningRefusesWrites},
		{"CancelRunningLeaseExpires", testCancelRunningLeaseExpires},
		{"CancelTree", testCancelTree},
		{"CancelMatching", testCancelMatching},
		{"ReplayCancelledClearsCancel", testReplayCancelled},
		{"ListRunsByExternalIDAndKey", testListRunsByExternalIDAndKey},
		{"WaitRunEnded", testWaitRunEnded},
		{"WaitRunWakes", testWaitRunWakes},
		{"WaitRunContext", testWaitRunContext},
		{"PruneTakesBranchesWithParent", testPruneBranches},
		{"BranchKeepsOutput", testBranchKeepsOutput},
		{"VersionRecorded", testVersionRecorded},
		{"FinishHeld", testFinishHeld},
		{"ReplayHeldVersion", testReplayHeldVersion},
		{"HeldBranch", testHeldBranch},
		{"ImportVersions", testImportVersions},
		{"CheckVersions", testCheckVersions},
		{"DeadLetterGroups", testDeadLetterGroups},
		{"StepHistory", testStepHistory},
		{"ListRunsUntil", testListRunsUntil},
		{"ListRunsReviewOrder", testListRunsReviewOrder},
	}
	tests = append(tests, eventCases...)
	tests = append(tests, scheduleCases...)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clock := retrytest.NewClock(Start)
			s := newStore(t, clock)
			closed := false
			t.Cleanup(func() {
				if !closed {
					_ = s.Close()
				}
			})
			tt.fn(t, &harness{t: t, s: s, clock: clock, ctx: context.Background(), closed: &closed})
		})
	}
}

type harness struct {
	t      *testing.T
	s      store.Store
	clock  *retrytest.Clock
	ctx    context.Context
	n      int
	closed *bool
}

const (
	pipeA = "leads"
	pipeB = "posts"
	lease = 30 * time.Second
)

// def is the three-step pipeline most cases use.
var def = store.PipelineDef{
	Name: pipeA, KeepPayloads: true,
	Steps: []store.StepDef{
		{Name: "parse", InputSchema: json.RawMessage(`{"type":"object"}`), OutputSchema: json.RawMessage(`{"type":"object"}`)},
		{Name: "classify", InputSchema: json.RawMessage(`{"type":"object"}`), OutputSchema: json.RawMessage(`{"type":"object","required":["label"]}`)},
		{Name: "draft", InputSchema: json.RawMessage(`{"type":"object","required":["label"]}`), OutputSchema: json.RawMessage(`{"type":"string"}`)},
	},
}

func (h *harness) id() string {
	h.n++
	return fmt.Sprintf("run-%04d", h.n)
}

// enqueue adds a run of pipeline with input {"n": i}.
func (h *harness) enqueue(pipeline string, mods ...func(*store.NewRun)) store.Run {
	h.t.Helper()
	nr := store.NewRun{ID: h.id(), Pipeline: pipeline, Input: json.RawMessage(fmt.Sprintf(`{"n":%d}`, h.n)), KeepPayloads: true}
	for _, m := range mods {
		m(&nr)
	}
	r, created, err := h.s.Enqueue(h.ctx, nr)
	require.NoError(h.t, err)
	require.True(h.t, created)
	// Distinct creation times make "oldest first" observable.
	h.clock.Advance(time.Millisecond)
	return r
}

func (h *harness) claim(worker string, limit int, pipelines ...string) []store.Claimed {
	h.t.Helper()
	c, err := h.s.Claim(h.ctx, store.ClaimRequest{Worker: worker, Pipelines: pipelines, Limit: limit, Lease: lease})
	require.NoError(h.t, err)
	return c
}

func (h *harness) claimOne(worker string) store.Claimed {
	h.t.Helper()
	c := h.claim(worker, 1)
	require.Len(h.t, c, 1, "expected a run to claim")
	return c[0]
}

func (h *harness) get(id string) *store.RunDetail {
	h.t.Helper()
	d, err := h.s.GetRun(h.ctx, id)
	require.NoError(h.t, err)
	return d
}

func (h *harness) checkpoint(l store.Lease, index int, step, output string) {
	h.t.Helper()
	require.NoError(h.t, h.s.Checkpoint(h.ctx, l, rec(index, step, store.StepSucceeded, output)))
}

func rec(index int, step string, status store.StepStatus, output string) store.StepRecord {
	r := store.StepRecord{Index: index, Step: step, Status: status, By: step,
		Input: json.RawMessage(`{"in":true}`), StartedAt: Start, FinishedAt: Start}
	if output != "" {
		r.Output = json.RawMessage(output)
	}
	return r
}

// deadLetter runs a claimed run through parse and fails it at classify.
func (h *harness) deadLetter(c store.Claimed) {
	h.t.Helper()
	h.checkpoint(c.Lease, 0, "parse", `{"name":"Ada"}`)
	fail := rec(1, "classify", store.StepFailed, "")
	fail.Error, fail.Class = "contract violated: /label: required", retry.ClassContract
	require.NoError(h.t, h.s.Finish(h.ctx, c.Lease, store.Outcome{
		Status: store.DeadLettered, Record: &fail, Step: "classify", Error: fail.Error, Class: retry.ClassContract,
	}))
}
