package store

import (
	"context"
	"encoding/json"
	"errors"
	"time"

	"github.com/plumb-dev/plumb/retry"
	"github.com/plumb-dev/plumb/step"
)

// Store is the single source of truth of a deployment: the queue, the run
// history, the dead-letter bucket, the review queue and the pause switches.
// Workers use the Queue half; the CLI and the review inbox use the Ops half.
//
// Any store becomes a dead-letter sink through deadletter.Store, which
// records each letter with Import, so that a dead letter is a run in the
// dead_lettered state of the canonical record; stores themselves know
// nothing of package deadletter.
//
// Implementations must be safe for concurrent use by many goroutines and,
// where they are shared (a SQLite file, a PostgreSQL database), by many
// processes. Every implementation passes storetest.Exercise.
type Store interface {
	Queue
	Ops
	Close() error
}

// Queue is what a worker needs: enqueue, claim with a lease, checkpoint,
// finish, release, and the pause switch its breaker throws.
type Queue interface {
	// RegisterPipeline records (or updates) a pipeline's definition.
	RegisterPipeline(ctx context.Context, def PipelineDef) error
	// Enqueue adds a run. With an idempotency key that an existing run of
	// the same pipeline has, it returns that run and created=false.
	Enqueue(ctx context.Context, r NewRun) (run Run, created bool, err error)
	// Claim leases up to Limit runnable runs of the given pipelines: queued
	// runs whose NotBefore has passed, and running runs whose lease expired
	// (their worker died). Runs of a paused pipeline are not claimed, except
	// one probe once the pause's ProbeAfter has passed. Oldest first.
	Claim(ctx context.Context, req ClaimRequest) ([]Claimed, error)
	// Heartbeat extends the given leases by d and returns the ids of the
	// runs no longer held under them (reclaimed, finished or gone), and
	// of those an operator asked to cancel (Run.Cancel), whose leases
	// stay valid so that the worker can give them back (Release).
	Heartbeat(ctx context.Context, leases []Lease, d time.Duration) (lost []string, err error)
	// Checkpoint records a step of a run the worker holds. It fails with
	// ErrLeaseLost when the lease is no longer the worker's.
	Checkpoint(ctx context.Context, l Lease, rec StepRecord) error
	// Finish ends (or defers) the current attempt of a run the worker
	// holds. It fails with ErrLeaseLost when the lease is no longer the
	// worker's.
	Finish(ctx context.Context, l Lease, o Outcome) error
	// Fork ends the current execution of a held run at a branching step,
	// in one transaction: it writes f.Record (the step's record, status
	// StepWaiting), records f.Children (a child whose id exists is kept as
	// it is, unless it has ended and its input differs from the new one:
	// then it starts a new attempt with the new input), opens or updates
	// the fork's join, and sets the run to Waiting, or to Queued at once
	// when none of the fork's children is live. At most f.Limit children
	// are queued or running at once; the others are created Waiting. It
	// fails with ErrLeaseLost when the lease is no longer the worker's.
	Fork(ctx context.Context, l Lease, f Fork) error
	// Await gives a held run's await step an event of a.Name and a.Key,
	// in one transaction: the one its wait took already, or one kept;
	// or reports the wait's deadline passed (AwaitResult.Expired); or
	// else writes a.Record and the wait, and queues the run until the
	// deadline, ending the execution (see Event). It fails with
	// ErrLeaseLost when the lease is no longer the worker's.
	Await(ctx context.Context, l Lease, a Await) (AwaitResult, error)
	// Release gives back runs held under the given leases, unfinished, for
	// another worker to take at once (graceful shutdown).
	Release(ctx context.Context, leases []Lease) error
	// SetPause shuts a pipeline's intake, or updates the pause, and adds
	// the pause to the pipeline's log (Ops.PipelineLog) in the same write.
	SetPause(ctx context.Context, p Pause) error
	// ClearPause opens the intake again. It reports whether there was a
	// pause; when there was, the resume, with who took it and why, is
	// added to the pipeline's log in the same write.
	ClearPause(ctx context.Context, r Resume) (bool, error)
	// GetPause returns the pipeline's pause, or nil.
	GetPause(ctx context.Context, pipeline string) (*Pause, error)
	// ScheduleQueue declares and advances cron schedules (schedule.go).
	ScheduleQueue
}

// Ops is what inspection and recovery tools need. It never runs step code:
// a replay or a review decision is an intent written to the store, carried
// out by a worker of the application's own binary.
type Ops interface {
	// EventOps delivers and lists the events runs wait for (event.go).
	EventOps
	// GetRun returns a run with its whole timeline.
	GetRun(ctx context.Context, id string) (*RunDetail, error)
	// ListRuns lists runs, newest first, up to the filter's limit; the
	// page says how many more match and where the next page starts.
	ListRuns(ctx context.Context, f RunFilter) (RunPage, error)
	// Branches lists the branch runs of a parent, in step index then
	// branch order.
	Branches(ctx context.Context, q BranchQuery) ([]Branch, error)
	// Replay starts a new attempt of a dead-lettered, cancelled or held
	// run from a step, reusing the checkpoints before it. The previous
	// attempt's history is kept. The new attempt runs under the pipeline's
	// registered definition (RunAttempt.Version), and its reason records a
	// move from another.
	Replay(ctx context.Context, req ReplayRequest) (*Run, error)
	// Decide records a person's decision on a run awaiting review: an
	// approval queues the run to resume after the reviewed step with the
	// approved output; a rejection dead-letters it. d.Review must name the
	// run's current review (checked in the write's transaction): another
	// one is a *StaleReviewError, a decided one a *FinalError.
	Decide(ctx context.Context, runID string, d Decision) (*Run, error)
	// Cancel cancels a run that has not ended: at once when no worker
	// holds it, at its worker's next heartbeat when one does (see
	// Cancellation). It returns the run as the store left it. A run that
	// has ended is a *FinalError.
	Cancel(ctx context.Context, req CancelRequest) (*Run, error)
	// WaitRun returns the run once it is in an end state (succeeded,
	// dead-lettered, cancelled, awaiting review or held), or ctx's error. The
	// store wakes it when the run ends, from any process that shares the
	// store: there is no polling of the run on the common path.
	WaitRun(ctx context.Context, id string) (*Run, error)
	// EscalateReview marks an overdue review as escalated. It returns
	// ErrConflict when it already was, so that one worker reports it.
	EscalateReview(ctx context.Context, runID string) error
	// Pipelines lists the registered pipeline definitions.
	Pipelines(ctx context.Context) ([]PipelineDef, error)
	// Pipeline returns one definition.
	Pipeline(ctx context.Context, name string) (*PipelineDef, error)
	// PipelineLog returns the pauses and resumes of a pipeline, newest
	// first, up to limit entries (DefaultLogLimit when limit <= 0): who
	// took each and why, the breaker's ("breaker:<step>") included.
	PipelineLog(ctx context.Context, pipeline string, limit int) ([]PauseEntry, error)
	// Stats summarises the queue and the failures of a pipeline, or of all
	// pipelines when name is empty.
	Stats(ctx context.Context, pipeline string, window time.Duration) ([]PipelineStats, error)
	// DeadLetterGroups counts the dead-lettered runs f matches (its
	// Status, Before, NoCount and CountLimit aside) by pipeline, step,
	// error class and whether the error was unclassified, largest group
	// first (then by pipeline, step, class, the classified first),
	// each with up to f.Limit (LimitOrDefault) of its newest run ids.
	// The SQL stores count from an index of the dead letters alone.
	DeadLetterGroups(ctx context.Context, f RunFilter) ([]DeadLetterGroup, error)
	// StepHistory counts each step's outcomes (of one pipeline, or of all
	// when pipeline is empty) in buckets of length bucket from since,
	// floored to its minute, to now, oldest first (then by pipeline and
	// step); a bucket where a step has no record is left out. The bucket
	// is a whole number of minutes (StepHistoryBuckets). The SQL stores
	// read the per-minute counters Stats reads, never the records.
	StepHistory(ctx context.Context, pipeline string, since time.Time, bucket time.Duration) ([]StepBucket, error)
	// Prune deletes succeeded top-level runs past the retention limits,
	// each with its branch runs. Runs dead lettered or awaiting review are
	// kept until resolved; branch runs are kept as long as their parent.
	Prune(ctx context.Context, r Retention) (deleted int, err error)
	// Import records a run that was executed elsewhere (in-process, known
	// from its dead letter) as it is. When a run with that id exists,
	// Import changes nothing and reports created=false: the store's own
	// record is canonical. d.Attempts must hold the run's current attempt
	// (with Input equal to Run.Input), as deadletter.Letter.Record makes
	// it; an invalid id, an empty pipeline, an unknown status, or an
	// idempotency key another run of the pipeline holds is ErrConflict.
	// An imported run holds its key: a later Enqueue with it returns the
	// imported run.
	Import(ctx context.Context, d RunDetail) (created bool, err error)
	// ScheduleOps lists and deletes cron schedules (schedule.go).
	ScheduleOps
}

// NewRun is a run to enqueue.
type NewRun struct {
	ID             string
	Pipeline       string
	Input          json.RawMessage
	Trigger        step.Trigger
	IdempotencyKey string
	NotBefore      time.Time
	KeepPayloads   bool
	// TraceID and SpanID name the root span of the run's first execution
	// when it started before the run was enqueued (Run with a store);
	// otherwise the store takes them from the first write that carries
	// them.
	TraceID, SpanID string
	// InputReplaced counts the invalid UTF-8 bytes of the input replaced
	// with U+FFFD when it was encoded (Run.InputReplaced).
	InputReplaced int
	// ClaimFor, when set, enqueues the run already claimed by this worker
	// for Lease (a run executed in-process at once, durably); the claim's
	// lease is returned in the run's LeaseToken.
	ClaimFor string
	Lease    time.Duration
	// Parent, for a branch run (Fork), names the run and step that
	// started it; nil for a top-level run.
	Parent *Parent
	// Budget caps the run's spending (Run.Budget); zero for none.
	Budget Spend
	// Version is the definition the run starts under (Run.Version).
	Version Version
}

// Handoff is implemented by stores that can enqueue a run already leased
// to an idle worker of the submitting process, in the enqueue's own
// transaction: the worker starts it at once, with no claim of its own and
// no wake-up (Pipeline.Submit uses it when such a worker is free).
//
// EnqueueHandoff is Enqueue, and when the run is created, due now
// (NotBefore not after now), its pipeline is not paused, and no runnable
// run of to.Pipelines waits for a claim (a queued run due now or a running
// run whose lease expired, of a pipeline that is not paused or is due a
// probe: what a Claim of to.Pipelines would take before it), the run is
// created running under a lease for to.Worker, expiring after to.Lease,
// and returned as claimed (its input, version, no checkpoints). Otherwise
// it is enqueued queued, exactly as Enqueue would, woken workers and all,
// and claimed is nil. A run handed off is an ordinary claimed run from
// then on: its lease is fenced, heartbeated and reclaimed after expiry
// like any other. r.ClaimFor and r.Parent must be empty.
type Handoff interface {
	EnqueueHandoff(ctx context.Context, r NewRun, to HandoffTo) (run Run, created bool, claimed *Claimed, err error)
}

// HandoffTo names the worker a run is handed to (Handoff): its id, the
// pipelines it claims, and its lease.
type HandoffTo struct {
	Worker    string
	Pipelines []string
	Lease     time.Duration
}

// ClaimRequest asks for runs to work on.
type ClaimRequest struct {
	Worker    string
	Pipelines []string
	Limit     int
	Lease     time.Duration
}

// Claimed is a run leased to a worker, with the checkpoints of its current
// attempt: for each step index, the last record if it is Done, in index
// order.
type Claimed struct {
	Run         Run
	Lease       Lease
	Checkpoints []StepRecord
}

// Lease identifies one claim of a run. Every write a worker makes carries
// it, and a store refuses writes under a lease that is no longer current
// (fencing): a worker that stalled past its lease cannot overwrite the work
// of the worker that took the run over.
type Lease struct {
	RunID string
	// Token is unique to this claim.
	Token string
	// Attempt is the run attempt the claim is for.
	Attempt int
}

// Outcome ends or defers a run attempt.
type Outcome struct {
	// Status is Succeeded, DeadLettered, AwaitingReview, Held (with Step,
	// Error and Class saying why), Cancelled, or Queued for a durable
	// wait (with NotBefore).
	Status Status
	// Record, when set, is written with the outcome in one transaction (the
	// last step's record).
	Record *StepRecord
	Output json.RawMessage
	Step   string
	Error  string
	Class  retry.Class
	// NotBefore is when a deferred run may run again.
	NotBefore time.Time
	// Review is the review to open when Status is AwaitingReview.
	Review *Review
	// Spent is what the attempt's model calls have spent (Run.Spent), in
	// this execution and the ones its deferrals ended.
	Spent Spend
}

// RunFilter selects runs. Zero fields match everything.
type RunFilter struct {
	Pipeline string
	Status   []Status
	// Step matches the step a run failed or waits at.
	Step  string
	Class retry.Class
	// Since and Until bound the run's last update. A run is updated
	// after it is submitted, so the SQL stores read a list by Until only
	// below the id Plumb would give a run submitted then (run ids are
	// ULIDs, made at submission: storekit.UntilBound) and among the ids
	// that cannot be Plumb's: the cost is the page's however far back
	// Until is. A run id of the application's own that begins with a
	// digit from 0 to 7 is taken for Plumb's.
	Since, Until time.Time
	// Limit caps the result. Defaults to 100.
	Limit int
	// Before, a run id, pages backwards: only runs older than it.
	Before string
	// ExternalID selects the runs whose trigger has this external id
	// (the item's id in its source system: the customer's lead id).
	ExternalID string
	// IdempotencyKey selects the run submitted with this key.
	IdempotencyKey string
	// Parent selects the branch runs of that run.
	Parent string
	// TopLevel selects only runs that are not branches.
	TopLevel bool
	// NoCount skips counting the runs past a full page (RunPage.More),
	// for callers that want only the newest runs, often.
	NoCount bool
	// CountLimit bounds that count (0: every run past the page), for
	// callers that show a number, not act on it: the store stops
	// counting past it, and a page with more says so (RunPage.Capped).
	CountLimit int
	// ReviewOrder lists runs awaiting review oldest review first
	// (Review.CreatedAt, then id) instead of newest first, from the
	// stores' index of pending reviews: the review inbox's order, whose
	// first page is the oldest reviews however many wait. Status must be
	// AwaitingReview alone and Before empty (else ErrConflict); the page
	// has no count (More stays 0: a full page may have more).
	ReviewOrder bool
}

// RunPage is one page of ListRuns: the runs, newest first, and what the
// limit cut off.
type RunPage struct {
	Runs []Run `json:"runs"`
	// More counts the runs past this page that the filter matches; 0 when
	// Runs holds them all. Stores count only when a page is full.
	More int `json:"more,omitempty"`
	// Next is the RunFilter.Before of the next page; empty when More is 0.
	Next string `json:"next,omitempty"`
	// Capped reports that more than More runs are past the page: the
	// count stopped at RunFilter.CountLimit.
	Capped bool `json:"capped,omitempty"`
}

// Truncated reports whether the limit cut the list off.
func (p RunPage) Truncated() bool { return p.More > 0 }

// ReplayRequest asks for a new attempt of a run.
type ReplayRequest struct {
	RunID string
	// From is the step to start from. Defaults to the step that failed.
	From string
	// Input, when set, replaces the input of the From step (a patch),
	// already validated against its contract by the caller.
	Input json.RawMessage
	// Reason is recorded in the history. Defaults to "replay from <step>".
	Reason string
}

// PipelineStats summarises a pipeline.
type PipelineStats struct {
	Pipeline string         `json:"pipeline"`
	ByStatus map[Status]int `json:"by_status"`
	// Deferred counts queued runs held back until a later time: a
	// durable retry wait, an outage schedule, a NotBefore, or an await
	// step's wait for an event (until its deadline).
	Deferred int `json:"deferred"`
	// AwaitingEvent counts the deferred runs that wait for an event
	// (pipeline.Await) whose deadline has not passed; Deferred includes
	// them.
	AwaitingEvent int    `json:"awaiting_event"`
	Paused        *Pause `json:"paused,omitempty"`
	// OldestReview is when the oldest pending review was opened.
	OldestReview time.Time `json:"oldest_review,omitzero"`
	// Steps gives each step's outcomes over the window.
	Steps []StepStats `json:"steps"`
	// Recoveries counts runs that succeeded on a replay after being dead
	// lettered; MeanRecovery is the mean time from the dead letter to that
	// success.
	Recoveries   int           `json:"recoveries"`
	MeanRecovery time.Duration `json:"mean_recovery"`
	// Branches counts the runs above that are branch runs (Run.Parent).
	Branches int `json:"branches,omitempty"`
}

// StepStats counts one step's outcomes over a window.
type StepStats struct {
	Step      string  `json:"step"`
	Succeeded int     `json:"succeeded"`
	Failed    int     `json:"failed"`
	Rate      float64 `json:"failure_rate"`
}

// Retention bounds how long succeeded runs are kept.
type Retention struct {
	// MaxAge deletes succeeded runs finished longer ago. Defaults to 14 days.
	MaxAge time.Duration
	// MaxRuns keeps at most this many succeeded runs per store, newest
	// first. Defaults to 100,000.
	MaxRuns int
}

// Retention defaults.
const (
	DefaultRetentionAge  = 14 * 24 * time.Hour
	DefaultRetentionRuns = 100_000
)

// WithDefaults fills zero fields with the defaults.
func (r Retention) WithDefaults() Retention {
	if r.MaxAge <= 0 {
		r.MaxAge = DefaultRetentionAge
	}
	if r.MaxRuns <= 0 {
		r.MaxRuns = DefaultRetentionRuns
	}
	return r
}

// Errors stores return. Wrap them with %w; test with errors.Is.
var (
	// ErrNotFound: no run (or pipeline) with that id.
	ErrNotFound = errors.New("not found")
	// ErrLeaseLost: the run is no longer held by this worker (its lease
	// expired and another worker took it, or it was released or finished).
	ErrLeaseLost = errors.New("lease lost")
	// ErrFinal: the operation would change something final: a replay of a
	// succeeded run, a decision on a decided review (*FinalError, which
	// also matches ErrConflict).
	ErrFinal = errors.New("run is final")
	// ErrConflict: the run is not in a state that allows the operation.
	ErrConflict = errors.New("conflict")
	// ErrNeedsInput: the run kept no payload, so a replay needs a new input.
	ErrNeedsInput = errors.New("run kept no payload: replay needs a new input")
	// ErrNotAStore: the database is not a Plumb store, is corrupt, or was
	// written by a newer version.
	ErrNotAStore = errors.New("not a plumb store")
	// ErrClosed: the store has been closed.
	ErrClosed = errors.New("store closed")
)

// Waker is implemented by stores that can tell idle workers at once that
// runs may have become claimable, from any process (PostgreSQL's
// LISTEN/NOTIFY). Workers still poll, as a fallback.
type Waker interface {
	// Subscribe returns a channel that receives a value whenever work may
	// have arrived, until ctx ends.
	Subscribe(ctx context.Context) (<-chan struct{}, error)
}
