// Command plumb is the operator's tool for Plumb pipelines: the one place
// to look when something is wrong, and the way to put it right. It needs
// only the store. A replay, a cancellation or a review decision is an
// intent written to the store; the workers of the application's own binary, which have the step
// code, carry it out.
//
//	go run ./cmd/plumb --db plumb.db runs find lead-0197
//	go run ./cmd/plumb --db plumb.db deadletters list
//	go run ./cmd/plumb --db plumb.db runs show 01M8ET3R4F3TBMMCRGER9CKRT8
//	go run ./cmd/plumb --db plumb.db versions check --definition next.json
//
// # The store
//
// Every command works on one store: a SQLite file (--db PATH, or $PLUMB_DB,
// default ./plumb.db) or a PostgreSQL database (--dsn DSN, or $PLUMB_DSN,
// with the store's tables in --schema, or $PLUMB_SCHEMA, default plumb).
// A flag wins over the environment; two addresses at the same level are
// refused rather than guessed between. Only plumb migrate creates a store
// or changes a PostgreSQL schema: every other command given a path with no
// store says so ("no Plumb store at PATH; check --db") instead of creating
// an empty one there and reporting that nothing is wrong. Hints that print
// a command to run never repeat a DSN, which may hold a password.
//
// Every command that lists or shows takes --json and then prints only JSON
// on stdout. Progress, plans and notes go to stderr whenever stdout carries
// data, so that a script can pipe the data on.
//
// # Looking
//
//   - plumb runs find ID looks up a customer's item by the id the customer
//     quotes: as the external id of the runs' triggers and as their
//     idempotency key at once. It lists the runs either matches, newest
//     first (status, source, which id matched, error), each with the
//     command that looks at it where it stands (deadletters show, review
//     show, runs show); exit code 4 when nothing matches.
//   - plumb runs list [--status S --pipeline P --step S --class C --since
//     90m|2h|3d|TIME --until T --limit N --before ID --parent ID
//     --top-level --external-id ID --key KEY] lists runs, newest first.
//     --external-id and --key match the trigger's external id and the
//     idempotency key exactly; deadletters list, replay --filter and
//     cancel --filter take them too. The ERROR column of a run whose
//     cancellation was asked but has not ended says who asked. --parent lists one run's
//     branch runs, --top-level only runs that are not branches; when the
//     list holds branch runs, a PARENT column names each one's parent.
//     --status takes waiting too (a parent waiting for its branches, a
//     branch waiting for a slot under its fork's limit).
//   - plumb runs show ID [--full] prints a run's whole timeline: what
//     triggered it, each run attempt and why it started, each step with its
//     status and who produced its output (a fallback, a reviewer), every
//     attempt of the step (its note, duration, error and class, contract
//     violations by JSON pointer, the model and its tokens, the raw model
//     answer), the step's input and output as indented JSON, the run's
//     first trace id and, per attempt, the trace of each execution (the
//     first, and one after each durable wait, review decision or reclaim),
//     a note of the invalid UTF-8 bytes replaced in the submitted input,
//     and the review (reason, proposal, who decided and when, what an edit
//     changed), and a cancellation: who, why and when, and for a running
//     run that it was asked and has not ended yet. Long payloads and answers are cut with a note of their full
//     size; --full shows them whole. For a parent it adds, per branching
//     step, the sub-pipeline and its children's counts by status ("5
//     branches of pipeline publish-post — 4 succeeded, 1 dead_lettered"),
//     each child that failed, was cancelled or awaits review with its
//     step, class, error and the command that acts on it (the first five;
//     then the runs list command for the rest), and a waiting parent's
//     state says what it waits for ("waiting for 3 of 5 branches at step
//     publish"); --json adds the forks as "branches". For a branch run it
//     names the parent ("branch 3 of run X at step publish"). Control
//     characters in recorded errors and names are printed escaped.
//   - plumb deadletters list groups dead-lettered runs by pipeline, step
//     and error class, with a count, the newest error and the run ids: the
//     40 runs one bad field poisoned are one group, fixed and replayed
//     together. Failed branch runs group like any run, and a group says
//     how many of its runs are branches and of which parents; a group of
//     parents whose joins failed on listed branches points at the
//     branches instead. --parent ID lists one run's failed branches.
//     plumb deadletters show ID adds what to do next: what the failure
//     class usually means and the replay commands to run; for a parent
//     whose join failed, the replay commands of its failed branches; for
//     a branch, what its success does to its parent's join.
//   - plumb status [--pipeline P] [--window 1h] prints, per pipeline, the
//     queue (queued, of which deferred; running; waiting), how many of
//     the pipeline's runs are branch runs, the runs awaiting review
//     and the age of the oldest, the dead letters, the held runs (only
//     when there are any, with the commands that explain and list them),
//     a pause (who, why, since when), each step's failure rate over the
//     window, and how many runs recovered from a dead letter and how long
//     that took on average.
//
// # Versions
//
// Every run records the definition it started under (store.Version: the
// author's label, pipeline.Policy.Version, and a fingerprint of the steps
// and their contracts); runs show prints it in the header and each
// attempt's under its line ("under v1 (76509bcac75e636a)"), and a replay
// that moved the run to another definition says so in the attempt's
// reason ("moved from v1 (…) to v2 (…)").
//
//   - plumb versions check [--pipeline P] [--definition FILE] lists the
//     runs (queued, running, waiting, awaiting review, held or
//     dead-lettered) whose records would break a definition: the
//     registered ones, or those in FILE (the JSON of one
//     store.PipelineDef or of an array of them, as
//     pipeline.Pipeline.Definition() marshals; - for stdin). Each broken
//     run is printed with its status, the version it started under, the
//     step that would refuse it, what is refused and each violation by
//     JSON pointer; then per pipeline the runs checked, those that would
//     break it, those started under it (skipped) and those whose payloads
//     were not kept, and what to do. It exits 6 when any run breaks, so
//     that CI can tell a deploy that strands runs from a check that could
//     not run. Progress goes to stderr when the check takes more than a
//     second; --json prints the report.
//   - plumb versions list prints each pipeline's registered definition:
//     its label, fingerprint and steps, and when it was registered.
//
// A held run (a worker of a changed definition picked it up and could not
// go on with it) is listed by runs list --status held, replayed like a dead
// letter (with a patch that meets the new contract: replay ID --set ...;
// as it is after a roll-back: replay --filter --status held), or
// cancelled.
//
// # Repairing
//
//   - plumb replay ID [--from STEP] [--set PATH=VALUE ...] [--patch FILE]
//     [--dry-run] [--wait] starts a new attempt of a dead-lettered, held or
//     cancelled run from the step that failed, under the pipeline's
//     registered definition (the plan says when that moves the run to
//     another version); the steps before it are not
//     run again. --set edits the input that step had (PATH a JSON pointer,
//     VALUE JSON when it parses as JSON, else a string); --patch gives the
//     whole input (- for stdin). The plan (where it starts, which steps are
//     reused, what the patch changes) is printed first, and a patch that
//     breaks the step's input contract is refused with its violations.
//     --wait follows the run until the attempt ends and prints the outcome;
//     it is woken by the store when the run ends (from any process), and
//     after a quiet period of 10 s with the run still queued it asks
//     whether a worker is running.
//     A branch run is replayed like any run, its patch checked against its
//     own pipeline's step; the plan says what its success does to its
//     parent (a parent whose join failed on it is replayed from the
//     branching step by the store, and the join resumes with its result).
//     A parent waiting for its branches is refused: nothing to replay yet.
//   - plumb replay --filter [--pipeline --step --class --since --until
//     --parent ID --top-level --external-id ID --key KEY] [--status S]
//     [--from STEP] [--dry-run] [--yes] lists the dead-lettered runs the
//     filter matches, then replays each from its own failed step, with
//     progress on stderr and a summary on stdout. --status held (or
//     dead_lettered,held, or cancelled) replays those runs instead: held
//     runs are left out by default, since replayed as they are under the
//     definition that held them they are held again. Without --yes it asks
//     on a terminal and refuses without one.
//   - plumb cancel ID [--reason TEXT] [--by NAME] [--wait] ends a run that
//     has not ended, recording who (default $USER) and why. A queued
//     (deferred included), waiting, awaiting-review or held run ends cancelled
//     at once, where it stopped; a running run is marked and ends at its
//     worker's next heartbeat, and the command says so and prints the one
//     that follows it (--wait, woken by the store). A run's live branch
//     runs are cancelled with it. A run that has ended is refused with
//     how it ended (exit code 1). A cancelled run can be replayed.
//   - plumb cancel --filter [the filter flags, --status among queued,
//     running, waiting, awaiting_review, held] [--reason TEXT] [--dry-run]
//     [--yes] lists the live runs the filter matches, then cancels
//     exactly those, with progress on stderr and a summary on stdout
//     (cancelled, marked because running, ended before their turn,
//     refused). Without --yes it asks on a terminal and refuses without
//     one.
//   - plumb review list, show ID, approve ID [--edit FILE] [--as NAME] and
//     reject ID --reason TEXT [--as NAME] decide runs awaiting a person. An
//     edit is checked against the step's output contract; the reviewer
//     defaults to $USER@hostname.
//   - plumb events send EVENT KEY --data JSON [--source S --id ID --keep D]
//     delivers an event to the oldest run waiting for it (a step built
//     with pipeline.Await), which is due at once, or keeps it for a wait
//     to come; the payload is checked against the awaiting steps'
//     contract first, and a second send with the same --source and --id
//     changes nothing. plumb events list [--event E --key K --run ID
//     --all] shows the waits pending with their deadlines and the events
//     kept.
//   - plumb pause PIPELINE [--reason TEXT] shuts a pipeline's intake
//     (workers claim none of its runs) until plumb resume PIPELINE.
//   - plumb schedules [list] [--pipeline P] [--ticks N] lists the cron
//     schedules (pipeline.Schedule): pipeline, spec, zone, missed-tick
//     policy, the next ticks in the zone and in UTC, the last tick, its
//     run and the run's status, the ticks skipped, and OVERDUE when no
//     worker fires one. plumb schedules delete NAME removes a schedule no
//     deploy declares any more (workers never remove one).
//   - plumb migrate creates the store or upgrades its schema, and prints the
//     schema version.
//
// # Exit codes
//
// Scripts can rely on these:
//
//	0  ok
//	1  the operation failed or was refused: a replay of a run that is not
//	   dead-lettered, held or cancelled, a cancel of a run that has ended, a
//	   patch or an edit that breaks the contract, a --wait'ed run
//	   dead-lettered, cancelled or held again (or a wait that timed out), a batch
//	   replay or cancel in which some runs were refused
//	2  usage error: an unknown command or flag, bad arguments, a batch
//	   replay or cancel without --yes and without a terminal to ask on
//	3  the store is unreachable or is not a Plumb store
//	4  not found: no such run, step or pipeline; runs find found none
//	5  stale review: plumb review approve or reject decided a review
//	   that is no longer the run's (another decision came first and the
//	   run moved on, maybe to its next review); nothing was decided
//	6  plumb versions check found runs whose records would break the
//	   definition checked against (in CI: do not deploy it as it is)
//
// A --wait'ed run that ends awaiting review exits 0: the replay went
// through the step that failed, and a person decides the rest.
package main
