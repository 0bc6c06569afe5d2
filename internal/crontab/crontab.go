// Package crontab reads cron specs in a time zone and plans the ticks a
// schedule fires: github.com/robfig/cron/v3's parser, behind the two
// questions Plumb asks of it (the next tick, and what to run of the ticks
// that came due). Package pipeline fires schedules with it and the CLI
// shows their next ticks; the stores never parse a spec.
package crontab

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/robfig/cron/v3"

	"github.com/plumb-dev/plumb/store"
)

// DefaultZone is the zone of a schedule that names none. Never the host's
// local zone: two hosts in different zones would disagree on the ticks.
const DefaultZone = "UTC"

// parser reads the standard five fields (minute, hour, day of month,
// month, day of week) and the descriptors (@hourly, @daily, @weekly,
// @monthly, @yearly, @every <duration>).
var parser = cron.NewParser(cron.Minute | cron.Hour | cron.Dom | cron.Month | cron.Dow | cron.Descriptor)

// Schedule is a parsed spec in its zone.
type Schedule struct {
	spec  string
	loc   *time.Location
	sched cron.Schedule
	// every is the interval of an @every spec, whose ticks are computed
	// rather than walked.
	every time.Duration
}

// Parse reads spec in zone (an IANA name; "" is UTC). The zone goes in
// zone, never in the spec (CRON_TZ=...): one place says it.
func Parse(spec, zone string) (s *Schedule, err error) {
	spec = strings.TrimSpace(spec)
	if spec == "" {
		return nil, errors.New("a schedule needs a cron spec (\"0 9 * * MON\", \"@hourly\", \"@every 1h\")")
	}
	if strings.HasPrefix(spec, "TZ=") || strings.HasPrefix(spec, "CRON_TZ=") {
		return nil, fmt.Errorf("cron spec %q names its zone: give the zone as the schedule's time zone and the spec without it", spec)
	}
	loc, err := Zone(zone)
	if err != nil {
		return nil, err
	}
	defer func() {
		// The parser is not ours: a spec it cannot read is an error, never
		// a panic.
		if p := recover(); p != nil {
			s, err = nil, fmt.Errorf("cron spec %q is not valid: %v", spec, p)
		}
	}()
	sched, err := parser.Parse(spec)
	if err != nil {
		return nil, fmt.Errorf("cron spec %q is not valid: %w", spec, err)
	}
	s = &Schedule{spec: spec, loc: loc, sched: sched}
	switch c := sched.(type) {
	case *cron.SpecSchedule:
		c.Location = loc
	case cron.ConstantDelaySchedule:
		s.every = c.Delay
	}
	if s.Next(time.Now()).IsZero() {
		return nil, fmt.Errorf("cron spec %q never fires", spec)
	}
	return s, nil
}

// Zone loads an IANA zone by name; "" is UTC, and "Local" is refused.
func Zone(name string) (*time.Location, error) {
	if name == "" {
		name = DefaultZone
	}
	if name == "Local" {
		return nil, errors.New("time zone \"Local\" differs from host to host: name the zone (\"Europe/Berlin\", \"UTC\")")
	}
	loc, err := time.LoadLocation(name)
	if err != nil {
		return nil, fmt.Errorf("time zone %q: %w (an IANA name such as \"Europe/Berlin\"; a host without a zone database needs the program to import _ \"time/tzdata\")", name, err)
	}
	return loc, nil
}

// Spec returns the spec as parsed.
func (s *Schedule) Spec() string { return s.spec }

// Location returns the schedule's zone.
func (s *Schedule) Location() *time.Location { return s.loc }

// Next returns the first tick strictly after t, in the schedule's zone;
// zero when there is none within five years.
func (s *Schedule) Next(t time.Time) time.Time {
	n := s.sched.Next(t.In(s.loc))
	if n.IsZero() {
		return n
	}
	return n.In(s.loc)
}

// Ticks returns the first n ticks after t.
func (s *Schedule) Ticks(t time.Time, n int) []time.Time {
	var out []time.Time
	for len(out) < n {
		t = s.Next(t)
		if t.IsZero() {
			break
		}
		out = append(out, t)
	}
	return out
}

// Plan is what a schedule fires at a moment: the ticks to run, oldest
// first, how many came due and are not run, and the next tick after.
type Plan struct {
	Run []time.Time
	// Skipped counts the due ticks not run: missed ticks the policy skips,
	// and those past the bound. When the outage was too long to count
	// (over a million ticks), it is a lower bound and Counted is false.
	Skipped int
	Counted bool
	// Next is the first tick after now; zero when there is none within
	// five years.
	Next time.Time
}

// maxWalk bounds the ticks a plan walks: a minute's spec down for two
// years (a second or so). Past it, the ticks between are counted as
// skipped no further, and the plan goes on from a week before now. A
// variable for the test.
var maxWalk = 1 << 20

// Plan decides what to fire at now of a schedule whose tick due is next
// (a tick of the schedule), under the policy: a due tick no older than
// grace is on time and always runs; of the older ones (missed while
// nothing fired them), MissedOne runs the latest when no tick is on time,
// MissedAll runs them all and MissedSkip none. At most limit ticks run,
// the latest ones; the others are skipped. A next after now plans nothing.
func (s *Schedule) Plan(next, now time.Time, missed store.Missed, grace time.Duration, limit int) Plan {
	p := Plan{Counted: true}
	if next.After(now) {
		p.Next = next
		return p
	}
	latest, total, counted := s.due(next, now, max(limit, 1))
	p.Counted = counted
	var run []time.Time
	switch missed {
	case store.MissedAll:
		run = latest
	default:
		for _, t := range latest {
			if now.Sub(t) <= grace {
				run = append(run, t)
			}
		}
		if len(run) == 0 && missed != store.MissedSkip && len(latest) > 0 {
			run = latest[len(latest)-1:]
		}
	}
	p.Run, p.Skipped = run, total-len(run)
	p.Next = s.Next(now)
	return p
}

// due returns the latest limit ticks in [next, now], oldest first, and how
// many ticks that range has (a lower bound when counted is false).
func (s *Schedule) due(next, now time.Time, limit int) (latest []time.Time, total int, counted bool) {
	if s.every > 0 {
		n := int64(now.Sub(next)/s.every) + 1
		last := next.Add(time.Duration(n-1) * s.every)
		for i := min(n, int64(limit)) - 1; i >= 0; i-- {
			latest = append(latest, last.Add(-time.Duration(i)*s.every).In(s.loc))
		}
		return latest, int(n), true
	}
	// The latest ticks, in a ring: ring[head] is the oldest once it is full.
	ring := make([]time.Time, 0, limit)
	head := 0
	counted = true
	for t := next.In(s.loc); !t.IsZero() && !t.After(now); t = s.Next(t) {
		total++
		if len(ring) < limit {
			ring = append(ring, t)
		} else {
			ring[head] = t
			head = (head + 1) % limit
		}
		if total == maxWalk && counted {
			// Too long an outage to walk: count no further, and go on
			// from a week before now, where the latest ticks are.
			counted = false
			if restart := s.Next(now.Add(-7 * 24 * time.Hour)); restart.After(t) {
				ring, head = append(ring[:0], restart), 0
				total++
				t = restart
			}
		}
	}
	return append(ring[head:], ring[:head]...), total, counted
}
