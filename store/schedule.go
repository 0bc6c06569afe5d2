package store

import (
	"context"
	"time"
)

// Missed is a schedule's policy for the ticks that passed while no worker
// fired them (everything was down): run the latest one, run them all, or
// skip them.
type Missed string

// The missed-tick policies.
const (
	// MissedOne runs the latest missed tick only; the older ones are
	// skipped (and counted).
	MissedOne Missed = "one"
	// MissedAll runs every missed tick, oldest first, up to the firing
	// side's bound (pipeline.MaxCatchUp); the older ones past it are
	// skipped (and counted).
	MissedAll Missed = "all"
	// MissedSkip runs none of them: the schedule's next tick is its next
	// future one.
	MissedSkip Missed = "skip"
)

// Valid reports whether m is one of the policies.
func (m Missed) Valid() bool { return m == MissedOne || m == MissedAll || m == MissedSkip }

// Schedule is a cron schedule declared for a pipeline: each tick enqueues
// one run with the idempotency key ScheduleKey(name, tick). The store keeps
// what the pipeline computed (it parses no cron spec): the next tick due,
// and what the last one started.
type Schedule struct {
	// Name identifies the schedule in the store (one namespace for every
	// pipeline).
	Name     string `json:"name"`
	Pipeline string `json:"pipeline"`
	// Spec is the cron spec as declared: five fields or a descriptor
	// (@hourly, @weekly, @every 1h), read in TimeZone.
	Spec string `json:"spec"`
	// TimeZone is the IANA name of the zone Spec is read in ("UTC",
	// "Europe/Berlin").
	TimeZone string `json:"time_zone"`
	Missed   Missed `json:"missed"`
	// Next is the next tick due, in UTC: a worker that finds it passed
	// enqueues the tick's run and advances it (AdvanceSchedule).
	Next time.Time `json:"next"`
	// LastTick is the latest tick that enqueued a run, in UTC; zero
	// before the first.
	LastTick time.Time `json:"last_tick,omitzero"`
	// LastRun is the id of the run LastTick enqueued.
	LastRun string `json:"last_run,omitempty"`
	// Skipped counts the ticks this schedule skipped since it was first
	// declared (missed ticks its policy did not run), so that a skip is
	// visible after the logs are gone.
	Skipped int `json:"skipped,omitempty"`
	// CreatedAt is when the schedule was first declared; UpdatedAt when
	// it was last declared or advanced.
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

// ScheduleAdvance moves a schedule's Next by compare-and-set.
type ScheduleAdvance struct {
	Name string
	// From is the Next the caller read; the advance happens only while
	// the schedule's Next is still From.
	From time.Time
	// Next is the new next tick (after From).
	Next time.Time
	// LastTick and LastRun, when LastRun is set, replace the schedule's:
	// the latest tick the caller enqueued and its run.
	LastTick time.Time
	LastRun  string
	// Skipped is added to the schedule's count of skipped ticks.
	Skipped int
}

// ScheduleQueue is what the workers that fire schedules need (part of
// Queue).
type ScheduleQueue interface {
	// PutSchedule declares a schedule, or updates its declaration, and
	// returns it as stored. It keeps the stored Next (and LastTick,
	// LastRun, Skipped, CreatedAt) when the pipeline, spec and time zone
	// are unchanged, so that every worker declaring it at its start agrees
	// on the tick due; otherwise it takes s.Next, which must be set. The
	// policy is always s's.
	PutSchedule(ctx context.Context, s Schedule) (Schedule, error)
	// AdvanceSchedule sets the schedule's Next from a.From to a.Next, with
	// a's LastTick, LastRun and Skipped, in one write; it reports false,
	// changing nothing, when the schedule's Next is no longer a.From
	// (another worker advanced it first). A schedule that does not exist
	// is ErrNotFound.
	AdvanceSchedule(ctx context.Context, a ScheduleAdvance) (bool, error)
}

// ScheduleOps is what inspection tools need of schedules (part of Ops).
type ScheduleOps interface {
	// Schedules lists the schedules of a pipeline, or of every pipeline
	// when pipeline is empty, by name.
	Schedules(ctx context.Context, pipeline string) ([]Schedule, error)
	// DeleteSchedule removes a schedule; it reports whether there was
	// one. Schedules are removed only by this call (plumb schedules
	// delete), never because a worker does not declare them: during a
	// rolling deploy, or with workers of other pipelines on one store, a
	// worker's declarations are not the whole truth. A worker that still
	// declares the schedule puts it back when it starts.
	DeleteSchedule(ctx context.Context, name string) (bool, error)
}

// ScheduleKey is the idempotency key of the run a schedule's tick
// enqueues: "schedule:<name>:<tick in RFC 3339, UTC>". Every worker firing
// that tick enqueues under it, so the tick has one run.
func ScheduleKey(name string, tick time.Time) string {
	return ScheduleSource(name) + ":" + ScheduleTick(tick)
}

// ScheduleSource is the trigger source of a schedule's runs:
// "schedule:<name>".
func ScheduleSource(name string) string { return "schedule:" + name }

// ScheduleTick is a tick as its runs' trigger external id names it: RFC
// 3339 in UTC.
func ScheduleTick(tick time.Time) string { return tick.UTC().Format(time.RFC3339) }
