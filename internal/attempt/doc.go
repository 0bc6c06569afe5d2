// Package attempt is the machinery that plain steps and model steps share,
// kept out of the packages users import: the attempt loop (retry with
// backoff, defer long waits to the queue, sleep, record), what a pipeline
// tells the steps of a run beyond step.RunInfo (its spending, its logger,
// its long-wait threshold), the attempt log of a step whose function
// records its own attempts, the interceptor pipelinetest injects faults
// with, and the hooks through which llm and pipeline reach a step's
// plumbing.
//
// Only package step, llm, pipeline and pipelinetest import it. Its API may
// change at any time.
//
// # The loop
//
// Loop.Run makes attempts until one succeeds or what follows a failure says
// to stop. Each attempt says what follows it (Then): Backoff asks the retry
// schedule, which may wait in memory, defer the run to the queue when the
// wait is longer than the run's LongWait (Run returns when the next attempt
// is due, for the caller's *step.DeferredError), or give up; Now tries again at
// once (a model re-asked with its violations); Stop ends the loop. The
// attempt's record is kept by the caller; the loop writes into it the wait
// taken after it.
//
// # Hooks
//
// Package step sets Hooks in its init. Plumb gives a step what its builder
// knows beyond step.Config (that its function records its own attempts, a
// problem found while building it); CheckedRun returns the function a
// pipeline runs a step with when it has checked the input already.
package attempt
