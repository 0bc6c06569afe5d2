// Package pipelinetest is a kit for testing your own pipelines, as
// rivertest is for River: an in-memory store, a clock that moves only when
// told, a memory dead-letter sink, faults injected into any step, and
// assertions on how runs end.
//
// # Use
//
//	func TestLeadFollowUp(t *testing.T) {
//		k := pipelinetest.New(t)
//		p := buildPipeline(k.Config())       // your pipeline, on the kit's store
//		k.Fail("classify", retry.ClassTransient, 2)
//		id, _ := p.Submit(k.Context(), lead)
//		k.Drain(p)
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
// The kit's Clock drives the store (leases, durable waits) and, when the
// steps use Kit.Retry, their backoff: a test of an hour-long outage runs
// in milliseconds. Advance it with Clock.Advance and Drain again.
package pipelinetest
