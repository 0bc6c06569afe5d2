// Package pipelinetest is a kit for testing your own pipelines, as
// rivertest is for River: a runtime on an in-memory store, a clock that
// moves only when told, a memory dead-letter sink, faults injected into
// any step, and assertions on how runs end. Production code that builds
// pipelines takes a *pipeline.Runtime; a test hands it the kit's.
//
// # Use
//
//	func TestLeadFollowUp(t *testing.T) {
//		k := pipelinetest.New(t)
//		p := buildPipeline(k.Runtime)        // your builder, on the kit's runtime
//		k.Fail("classify", retry.ClassTransient, 2)
//		id, _ := p.Submit(k.Context(), lead, pipeline.SubmitOptions{})
//		k.Drain()
//		k.AssertSucceeded(id)
//	}
//
// # Faults
//
// Fail, FailWith, Panic and Delay act on a step by name, for its next N
// attempts or every attempt: the step sees the fault before its function
// runs, exactly as if the function had failed, panicked or been slow.
// Attempts counts a step's attempts. Faults are carried by the kit's
// Context, so they reach only runs under it (and the workers Drain
// starts).
//
// # Time
//
// The kit's Clock is its runtime's one clock: it drives the store (leases,
// durable waits) and the backoff of every step whose retry policy names no
// clock of its own, so a test of an hour-long outage runs in milliseconds.
// Advance it with Clock.Advance and Drain again: Drain also fires the
// ticks of the runtime's schedules (pipeline.Schedule) that the clock has
// passed, so a month of a weekly schedule is four Advances (a schedule is
// declared by the first Drain, from the clock's time then; a tick whose
// input function fails stays due, and Drain then reports that the queue
// did not drain). Kit.NewRuntime makes
// another runtime on the same store and clock, for a test that needs a
// deployment setting of its own (telemetry, a notifier).
package pipelinetest
