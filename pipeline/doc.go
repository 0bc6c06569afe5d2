// Package pipeline composes typed steps into a pipeline and runs items
// through it, so that every run ends in exactly one recorded state.
//
// # Runtime and pipelines
//
// A Runtime is the deployment: the store, the telemetry, the one clock, the
// logger, retention, and the default dead-letter sinks and notifier. It is
// made once, with NewRuntime, and every pipeline built on it shares it. A
// pipeline is a definition with its own Policy: its outage schedule,
// breaker, run budget, expected cadence and notification link. One call,
// Runtime.Work, works every pipeline bound to the runtime:
//
//	rt := pipeline.NewRuntime(pipeline.RuntimeConfig{Store: st})
//	leads := pipeline.Then(pipeline.Then(pipeline.New(rt, "leads", parse, pipeline.Policy{}), classify), draft)
//	id, err := leads.Submit(ctx, lead, pipeline.SubmitOptions{IdempotencyKey: lead.ID})
//	go rt.Work(ctx, pipeline.WorkerConfig{})
//
// A nil runtime is the in-memory one, for scripts and tests: Run executes at
// once and dead letters are logged.
//
//	out, err := pipeline.New(nil, "leads", parse, pipeline.Policy{}).Run(ctx, raw, pipeline.RunOptions{})
//
// # Composition
//
// A pipeline starts with New and grows with Then; the compiler checks that
// each step's input type is the previous step's output type. Step names are
// unique within a pipeline (they name checkpoints), and pipeline names are
// unique within a runtime (they name the runs in the store); a pipeline
// grown with Then takes the place of the one it was grown from. A duplicate
// makes the pipeline invalid, which Err, Run and Submit report.
//
// Every configuration is a struct whose zero value is the default
// (RuntimeConfig, Policy, WorkerConfig, RunOptions, SubmitOptions,
// ReplayOptions, CancelOptions), passed whole: there are no variadic options.
//
// # Branches
//
// A step may branch, and every branch is a run of its own: a run of a
// sub-pipeline with a record of its own (input, steps, attempts, status,
// and its parent), checkpointed, retried, deferred, reviewed, paused by
// its breaker, dead-lettered and replayed as any run is.
//
//	each := pipeline.FanOut(leads, "enrich", enrichOne, pipeline.FanOutOptions{Limit: 8})
//	routed := pipeline.Route(tickets, "route", byKind, map[Kind]*pipeline.Pipeline[Ticket, Reply]{Bug: bugs, Invoice: billing})
//	both := pipeline.Parallel2(posts, "check", spelling, tone, mergeChecks)
//
// FanOut maps a list through a sub-pipeline, each element a branch, at most
// Limit of them queued or running at once across every worker; its Join
// policy (AllSucceed, KeepSucceeded, AtLeast, AtLeastShare) decides what
// the step makes of their outcomes, and the outputs keep the elements'
// order. Route sends a value to the one sub-pipeline its key names and
// records the route taken; a key with no route is a *NoRouteError, never a
// silent drop. Parallel2 and Parallel3 run sub-pipelines on the same value
// at once and join their outputs with a func. A join refused by its policy
// is a *BranchError naming each failed branch. Append is not a branch: it
// runs a pipeline's steps inline, in the same run, as "<sub>/<step>".
//
// With a store, a branching step forks: one store write records its
// branch runs and puts the run in the waiting status, and the worker moves
// on, holding nothing (Run returns a *PendingError with Status
// store.Waiting). When the last branch ends, the store queues the run
// again, and a worker joins the branches' outputs. A branch waiting for a
// person keeps its parent waiting. A dead-lettered branch can be replayed
// alone, with a patched input: once it succeeds, the store replays the
// parent from its join, which resumes with the branch's result. A run's
// budget covers its branches: each may spend what its parent had left when
// it forked, and the join refuses the branches' total when it crosses the
// parent's budget. A branch's spans sit in its parent's trace, named by
// the attribute plumb.parent_run_id. In memory the same steps run their
// branches at once, in goroutines, with the same policies and errors.
//
// # Runs
//
// Run passes an item through every step and returns the last output. A
// value reaches the next step only once it met its contract. When a step
// fails for good, the run is dead-lettered: a deadletter.Letter with the
// failed step's input, the last raw output and every attempt goes to each
// configured sink, and Run returns a *deadletter.Error (errors.As yields
// the letter, errors.Is matches the failure's class). A sink that refuses
// the letter is counted, logged and named in the error: a letter is never
// lost silently. A run whose context ends is cancelled, not dead-lettered;
// a durable one is given back to the queue, to resume.
//
// # Waiting for a result
//
// Submit answers once the run is in the store; Wait blocks until it has
// ended and returns its typed output, or why there is none: a
// *DeadLetteredError (errors.Is matches its class), a *CancelledError (who
// and why), or a *PendingError with Status store.AwaitingReview (or
// store.Held, for a run a changed definition held: see Versions). The store
// wakes it, from any process that shares the store: nothing polls.
// SubmitAndWait is both in one call, for a web handler; give it the
// request's idempotency key, and a retried request waits for the first
// one's run. When this process runs an idle worker of the pipeline, the
// run is handed to it with the submitted value, and the result comes back
// in memory once the store has it: both as copies, the values a read from
// the store would give, so the caller may reuse its value at once.
//
//	reply, err := leads.SubmitAndWait(r.Context(), lead, pipeline.SubmitOptions{IdempotencyKey: lead.ID})
//
// # Waiting for events
//
// Await adds a step that waits for an external event (a payment confirmed,
// a customer's reply, a click on an approval link) by name and key, with a
// deadline, and decides the step's output from the event's payload, or
// from its declared default once the deadline passes:
//
//	paid := pipeline.Await(billed, "payment", func(in Invoice) string { return "invoice:" + in.ID },
//		pipeline.AwaitOptions{Within: 72 * time.Hour},
//		func(in Invoice, p Payment) (Receipt, error) { return Receipt{Paid: true, Ref: p.Ref}, nil },
//		func(in Invoice) (Receipt, error) { return Receipt{}, nil }) // unpaid by the deadline
//
// The wait holds no worker and survives restarts: the step's first
// execution records the wait and puts the run back in the queue until the
// deadline, in one store write (Run and Wait see a *PendingError whose
// Event names the event). An event sent for the run makes it due at once
// (Runtime.SendEvent, the CLI's plumb events send, or a webhook route
// through store.DeliverEvent), and the next execution takes it; one sent
// before the run waits is kept for it (store.DefaultEventKeep). Each event
// goes to one run, the oldest waiting on its name and key; a second
// delivery with the same source and id is a duplicate that changes
// nothing. The payload's contract (the Go type of onEvent's second
// argument) is checked when the event is sent: a bad event is refused
// with its violations, not found at the resume. A replay of the step takes
// the event the run had taken before. The run's record shows the wait and
// what ended it ("waiting for payment invoice:42 until …", "event payment
// invoice:42 from stripe at …", "deadline passed: default").
//
// # Cancelling runs
//
// Runtime.Cancel (or Pipeline.Cancel, for one pipeline's runs) cancels a
// run that has not ended; CancelMatching cancels what a store.RunFilter
// matches, with a dry run and progress. A run no worker holds ends
// cancelled at once. A running one is marked, and its worker ends the
// step's context at its next heartbeat, with a *CancelledError as
// context.Cause (a lost lease has another cause); the run ends cancelled
// when the step returns; a step that ignores its context runs on, but its
// checkpoint is refused and the run ends cancelled then. A parent takes its live
// branch runs with it ("parent <id>" cancelled them). Every cancellation is
// notified (notify.Cancelled) and counted (the runs metric, outcome
// cancelled) once the run has ended, except that of a run whose worker died:
// the store ends it when its lease is claimed. A cancelled run can be
// replayed.
//
// # Versions
//
// Every run records the definition it started under (store.Run.Version):
// a fingerprint of the pipeline's steps, their order and their input and
// output contracts, which changes by itself with any of them, and the
// label Policy.Version gives it for people ("v2"). Pipeline.Version and
// Pipeline.Definition say what a build's definition is.
//
// A deploy may change a contract while runs are in flight. A worker that
// picks up a run of another fingerprint (deferred, approved after a
// review, a branch, or started by the previous deploy) checks it before
// any step runs: its input, or the checkpoint the next step would take,
// against the contracts of this build, and its checkpoints against the
// steps at their places. A run of this very definition costs one
// comparison. A run that cannot go on is not dead-lettered by surprise:
// it is held (store.Held), with the step and the reason (the contract
// path it breaks and the command to replay it), logged at warn, notified
// (notify.Held), counted (the runs metric, outcome held) and traced. A
// held run waits for a person: replay it with a patch that meets the new
// contracts, and its new attempt runs under this definition (the
// attempt's reason says "moved from v1 (…) to v2 (…)"); or roll back, and
// a replay under the old binary runs it under the old definition; or
// cancel it. A run whose payloads were not kept (HashPayloads) cannot be
// checked: it goes on, and its steps check their own contracts. The
// fingerprint covers schemas, not code: a changed Validate method (see
// package contract) changes no version, though a value of an older run
// that this build refuses to decode is held all the same.
//
// Runtime.CheckVersions is the same check before the deploy, for CI: on
// a runtime over a copy of production's store, with the new build's
// pipelines bound to it, it lists every run in flight, deferred, awaiting
// review, held or dead-lettered that the new definitions would break
// (plumb versions check is the same from the command line); fail the
// deploy when the report is not OK.
//
// # Side effects happen at least once before a checkpoint, never after
//
// Each step's output is checkpointed when the step returns; a step whose
// checkpoint is written never runs again in that run attempt. Before
// then, a crash, a lost lease, a cancellation or a retry runs it again: a
// step with a side effect (an e-mail, a charge, a CRM write) must make it
// idempotent. step.RunInfoFrom(ctx).IdempotencyKey() is the key for that:
// the same on every run of the step within the run attempt (retries,
// fallbacks, resumptions after a crash or a durable wait), another after a
// replay, which asks for the effect again. RunInfo.Attempt and Try number
// the run attempt and the step's call.
//
// # Draining and exiting
//
// A worker with WorkerConfig.StopWhenDrained returns once nothing is left
// for it: nothing it could claim and nothing in flight. Runtime.Backlog
// then says what is left for later: runs deferred (and when the next one is
// due), awaiting an event (Await, until its deadline), waiting for their
// branches, awaiting review, held after a deploy changed a contract (see
// Versions), or claimed by other workers. A batch job or a cron worker
// runs, drains and exits, and knows when to start again.
//
// # Schedules
//
// Schedule declares that a pipeline runs at each tick of a cron spec
// (robfig/cron's five fields or its descriptors, "@weekly", "@every 1h"),
// read in a time zone (Cron.TimeZone, an IANA name; UTC by default, never
// the host's): at each tick, one run, whose input the schedule's function
// makes from the tick. A bad spec, zone or policy is a build error of the
// pipeline. The schedule lives in the store, so every worker of every
// process and host that works the pipeline fires it, and each tick is
// still one run: a worker enqueues the tick's run with the idempotency key
// "schedule:<name>:<tick in RFC 3339, UTC>" (the trigger's source is
// "schedule:<name>", its external id the tick), then advances the
// schedule's next tick by compare-and-set; two workers firing one tick
// enqueue one run, and one of them advances it. An idle worker sleeps
// until the next tick (reading the store again at least every minute).
//
// Ticks that come due while no worker is up are missed; Cron.Missed says
// what a worker that comes back does with them: MissedOne (the default)
// runs the latest, MissedAll runs them all (at most Cron.MaxCatchUp, 100 by
// default, the latest ones), MissedSkip runs none and waits for the next
// tick. A tick up to Cron.Grace late (a minute) is on time and runs under
// every policy. The skipped ticks are logged, counted in the schedule's
// record (plumb schedules shows them) and in the plumb.schedule.ticks
// metric. Across a daylight-saving change a spec behaves as robfig/cron
// documents: a wall time the spring-forward gap skips does not fire that
// day, one the fall-back overlap repeats fires twice. A schedule a deploy
// stops declaring is never deleted by workers (during a rolling deploy
// they cannot tell): plumb schedules shows it overdue, and plumb
// schedules delete removes it.
//
// # Which failures wait
//
// A durable run whose step fails with a failure known to be transient
// (retry.Known: an error marked retry.Transient or retry.After, a network
// timeout or reset, an unexpected EOF, a model adapter's 429 or 5xx) goes
// back to the queue after each wait of Policy.Outage in turn, so an outage
// of hours heals by itself. An unclassified error (a bare
// errors.New("field x is malformed")) gets the step's retry policy and is
// then dead-lettered with class permanent: it is more likely a bug in the
// data or the code than an outage, and waiting hours would only hide it.
// Its attempts are marked Unclassified in the record, and plumb runs show
// says how to classify it: retry.Permanent if retrying cannot help,
// retry.Transient if it can.
//
// # Telemetry
//
// Each run is a span "plumb.run <pipeline>" with a child span per step;
// runs, attempts, step durations and dead letters are counted. See package
// observe.
//
// A durable run may execute several times: first, then after a durable
// wait, a review decision, a replay, or a reclaim of a dead worker's lease.
// Each execution is a trace of its own. Its step records name it
// (store.StepRecord.TraceID), the run names the first (store.Run.TraceID),
// and every later execution's root span links to the first one's, so that
// one trace leads to all of them; plumb runs show prints them. The trace
// rides on the writes an execution makes anyway: it costs no extra write.
//
// # Inputs
//
// A run's input is encoded as JSON when it is submitted, and encoding/json
// replaces each invalid UTF-8 byte of its strings with U+FFFD. The run
// records how many bytes were replaced (store.Run.InputReplaced), so that a
// changed input is noted, not changed silently.
package pipeline
