package pipeline

import (
	"context"
	"errors"
	"fmt"
	"runtime/debug"
	"slices"
	"time"

	"github.com/plumb-dev/plumb/internal/crontab"
	"github.com/plumb-dev/plumb/step"
	"github.com/plumb-dev/plumb/store"
)

// Missed is a schedule's policy for the ticks that passed while no worker
// fired them: MissedOne, MissedAll or MissedSkip.
type Missed = store.Missed

// The missed-tick policies (see Cron.Missed).
const (
	MissedOne  = store.MissedOne
	MissedAll  = store.MissedAll
	MissedSkip = store.MissedSkip
)

// Defaults of Cron.
const (
	// DefaultGrace is how late a tick may fire and still be on time.
	DefaultGrace = time.Minute
	// DefaultMaxCatchUp is the most runs one catch-up enqueues.
	DefaultMaxCatchUp = 100
)

// Cron says when a schedule fires: a cron spec read in a time zone, and
// what happens to the ticks missed while everything was down. Its zero
// value is invalid (Spec is required); every other field has a default.
type Cron struct {
	// Spec is a standard five-field cron spec (minute, hour, day of
	// month, month, day of week: "0 9 * * MON") or a descriptor
	// (@hourly, @daily, @weekly, @monthly, @yearly, "@every 90m"), as
	// github.com/robfig/cron/v3 reads them. An @every schedule counts from
	// its first declaration in the store.
	Spec string
	// TimeZone is the IANA zone Spec is read in ("Europe/Berlin"), as
	// robfig/cron's CRON_TZ: across a daylight-saving change, a wall time
	// that the spring-forward gap skips does not fire that day, and one
	// that the fall-back overlap repeats fires twice, an hour apart.
	// Defaults to "UTC" (never the host's zone, which may differ from
	// host to host).
	TimeZone string
	// Missed is what happens to the ticks that came due while no worker
	// was up to fire them (older than Grace when a worker finds them):
	// MissedOne runs the latest of them, MissedAll runs them all, oldest
	// first (at most MaxCatchUp), MissedSkip runs none. A skipped tick is
	// logged, counted in the schedule's record (plumb schedules) and in
	// the plumb.schedule.ticks metric. Defaults to MissedOne.
	Missed Missed
	// Grace is how late a tick may fire and still be on time, run under
	// every policy (a worker restarting, a busy store). Defaults to
	// DefaultGrace (1 minute).
	Grace time.Duration
	// MaxCatchUp bounds the runs one catch-up enqueues under MissedAll:
	// the latest MaxCatchUp missed ticks run, and the older ones are
	// skipped (and counted). Defaults to DefaultMaxCatchUp (100).
	MaxCatchUp int
}

func (c Cron) withDefaults() Cron {
	if c.TimeZone == "" {
		c.TimeZone = crontab.DefaultZone
	}
	if c.Missed == "" {
		c.Missed = MissedOne
	}
	if c.Grace == 0 {
		c.Grace = DefaultGrace
	}
	if c.MaxCatchUp == 0 {
		c.MaxCatchUp = DefaultMaxCatchUp
	}
	return c
}

// parse checks c (its defaults applied) and reads its spec.
func (c Cron) parse() (*crontab.Schedule, error) {
	var errs []error
	if !c.Missed.Valid() {
		errs = append(errs, fmt.Errorf("missed-tick policy %q: want pipeline.MissedOne, MissedAll or MissedSkip", c.Missed))
	}
	if c.Grace < 0 {
		errs = append(errs, fmt.Errorf("grace %v is negative", c.Grace))
	}
	if c.MaxCatchUp < 0 {
		errs = append(errs, fmt.Errorf("max catch-up %d is negative", c.MaxCatchUp))
	}
	tab, err := crontab.Parse(c.Spec, c.TimeZone)
	if err != nil {
		errs = append(errs, err)
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return tab, nil
}

// Ticks returns the first n ticks of c after t, in c's zone, or what is
// wrong with c: what a dashboard shows, or what a test asserts.
func (c Cron) Ticks(t time.Time, n int) ([]time.Time, error) {
	tab, err := c.withDefaults().parse()
	if err != nil {
		return nil, err
	}
	return tab.Ticks(t, n), nil
}

// schedule is a schedule declared on a runtime.
type schedule struct {
	name     string
	pipeline string
	cron     Cron
	tab      *crontab.Schedule
	err      error
	// submit enqueues the tick's run on d, the pipeline's current
	// definition, and returns its id.
	submit func(ctx context.Context, d *definition, tick time.Time) (string, error)
}

// Schedule declares that p runs on a schedule: at each tick of c, one run
// of p, whose input input makes from the tick (in c's zone). The schedule
// is kept in the runtime's store under name (one namespace for every
// pipeline of the store): the workers of every process and host working p
// (Runtime.Work) fire it, and each tick enqueues exactly one run, with the
// idempotency key "schedule:<name>:<tick in RFC 3339, UTC>" and the
// trigger {Source: "schedule:<name>", ExternalID: the tick}. An input
// that fails (or panics) enqueues nothing: the tick is retried a minute
// later, and logged as an error until it succeeds.
//
// Call it while building, before Work. A bad spec, zone or policy, an
// empty or duplicate name, a nil input, or a runtime without a store is a
// build error: p.Err reports it, and Work refuses to start. A schedule
// that a later deploy no longer declares stays in the store, unfired
// (plumb schedules shows it overdue) until plumb schedules delete removes
// it.
func Schedule[In, Out any](p *Pipeline[In, Out], name string, c Cron, input func(tick time.Time) (In, error)) {
	d := p.def
	c = c.withDefaults()
	s := &schedule{name: name, pipeline: d.name, cron: c}
	var errs []error
	if name == "" {
		errs = append(errs, errors.New("a schedule needs a name"))
	}
	if input == nil {
		errs = append(errs, errors.New("its input function is nil"))
	}
	if d.cfg.Store == nil {
		errs = append(errs, errors.New("the runtime has no store: schedules live in the store, where every worker finds them"))
	}
	tab, err := c.parse()
	if err != nil {
		errs = append(errs, err)
	}
	s.tab = tab
	loc := time.UTC
	if tab != nil {
		loc = tab.Location()
	}
	s.submit = func(ctx context.Context, cur *definition, tick time.Time) (id string, err error) {
		var in In
		func() {
			defer func() {
				if v := recover(); v != nil {
					err = &step.PanicError{Value: v, Stack: debug.Stack()}
				}
			}()
			in, err = input(tick.In(loc))
		}()
		if err != nil {
			return "", fmt.Errorf("the input of tick %s: %w", store.ScheduleTick(tick), err)
		}
		// Submit reads only the definition and In: the pipeline bound
		// under the name now may have grown (Then) since Schedule.
		return (&Pipeline[In, Out]{def: cur}).Submit(ctx, in, SubmitOptions{
			IdempotencyKey: store.ScheduleKey(name, tick),
			Trigger:        step.Trigger{Source: store.ScheduleSource(name), ExternalID: store.ScheduleTick(tick), ReceivedAt: cur.cfg.Clock.Now()},
		})
	}
	if err := d.rt.addSchedule(s); err != nil {
		errs = append(errs, err)
	}
	if err := errors.Join(errs...); err != nil {
		s.err = fmt.Errorf("schedule %q: %w", name, err)
		d.addBuildError(s.err)
	}
}

// addBuildError adds err to the definition's build error.
func (d *definition) addBuildError(err error) {
	var prev []error
	var be *BuildError
	if errors.As(d.err, &be) {
		prev = append(prev, be.Err)
	}
	d.err = joinBuild(d.name, append(prev, err))
}

// addSchedule binds s to the runtime under its name.
func (rt *Runtime) addSchedule(s *schedule) error {
	if rt.cfg.Store == nil || s.name == "" {
		return nil // said already
	}
	rt.mu.Lock()
	defer rt.mu.Unlock()
	if rt.schedules == nil {
		rt.schedules = map[string]*schedule{}
	}
	if cur, ok := rt.schedules[s.name]; ok {
		return fmt.Errorf("the runtime already has a schedule named %q (of pipeline %q): a name identifies a schedule and its runs' idempotency keys in the store", s.name, cur.pipeline)
	}
	rt.schedules[s.name] = s
	return nil
}

// Schedules returns the names of the schedules declared on the runtime,
// in order.
func (rt *Runtime) Schedules() []string {
	rt.mu.Lock()
	defer rt.mu.Unlock()
	names := make([]string, 0, len(rt.schedules))
	for n := range rt.schedules {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

// scheduleErr returns the build error of a schedule of one of defs (one
// declared on a pipeline that has grown since reports it here).
func (rt *Runtime) scheduleErr(defs map[string]*definition) error {
	rt.mu.Lock()
	defer rt.mu.Unlock()
	for _, s := range rt.schedules {
		if _, ours := defs[s.pipeline]; ours && s.err != nil {
			return &BuildError{Pipeline: s.pipeline, Err: s.err}
		}
	}
	return nil
}

// nextTick is the earliest tick due of the runtime's schedules in the
// store, zero when it has none.
func (rt *Runtime) nextTick(ctx context.Context) (time.Time, error) {
	names := rt.Schedules()
	if len(names) == 0 {
		return time.Time{}, nil
	}
	all, err := rt.cfg.Store.Schedules(ctx, "")
	if err != nil {
		return time.Time{}, err
	}
	var next time.Time
	for _, s := range all {
		if slices.Contains(names, s.Name) && (next.IsZero() || s.Next.Before(next)) {
			next = s.Next
		}
	}
	return next, nil
}
