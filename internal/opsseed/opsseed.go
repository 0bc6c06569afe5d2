// Package opsseed describes the store the ops benchmarks read: a million
// runs over a day, in the mix an operator's store holds (most succeeded,
// some dead-lettered, queued, deferred, running, awaiting review, held
// back by a cancel, recovered by a replay, a few fanned out into branch
// runs), so that each store's benchmark writes the same runs in its own
// schema with bulk SQL and times the reads of plumb status, deadletters
// list, runs list and the review inbox on it.
package opsseed

import (
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/plumb-dev/plumb/retry"
	"github.com/plumb-dev/plumb/store"
)

// Version names the seed's shape: a cached seeded store of another
// version is seeded again.
const Version = 1

// Span is how far back the seeded runs reach from the seed's time.
const Span = 24 * time.Hour

// Pipelines and Steps are the seeded pipelines, each with the same three
// steps.
var (
	Pipelines = []string{"leads", "support", "invoices", "enrich", "digest"}
	Steps     = []string{"fetch", "classify", "reply"}
	classes   = []retry.Class{retry.ClassTransient, retry.ClassContract, retry.ClassPermanent}
)

// Step is one seeded step record.
type Step struct {
	Index    int
	Name     string
	Status   store.StepStatus
	Error    string
	Class    retry.Class
	Started  time.Time
	Finished time.Time
}

// Attempt is one seeded attempt of a run.
type Attempt struct {
	Number   int
	Reason   string
	Status   store.Status
	Step     string
	Error    string
	Class    retry.Class
	Started  time.Time
	Finished time.Time // zero: not ended
}

// Run is one seeded run with its attempts and step records.
type Run struct {
	ID, Pipeline   string
	Status         store.Status
	Attempt        int
	IdempotencyKey string // "": none
	ExternalID     string // "": none
	Step, Error    string
	Class          retry.Class
	NotBefore      time.Time
	LeaseExpires   time.Time
	Created        time.Time
	Updated        time.Time
	Finished       time.Time
	Review         *store.Review
	Parent         *store.Parent
	Attempts       []Attempt
	Steps          []Step
}

// Input is each attempt's input: about 300 bytes of JSON (the listings
// read it with each run).
var Input = []byte(`{"lead":{"id":"lead-0001","name":"Ada Lovelace","email":"ada@example.com","company":"Analytical Engines Ltd",` +
	`"notes":"Interested in the difference engine; follow up next week about pricing and the delivery date.","score":0.82,"tags":["warm","emea"]}}`)

// Generate calls emit for n runs (branch runs included) created over
// Span before end, in id order. The mix: ~90% succeeded (0.5% of them
// on a second attempt after a dead letter), ~4% dead-lettered across the
// three steps and three classes, ~1% awaiting review, ~3% queued (a third
// deferred), ~1% running, ~0.5% cancelled; every 100th succeeded run has
// two succeeded branch runs. 60% have an external id, 50% an idempotency
// key. The sequence is the same for the same n and end.
func Generate(n int, end time.Time, emit func(*Run) error) error {
	rng := rand.New(rand.NewPCG(1, uint64(n)))
	start := end.Add(-Span)
	step := Span / time.Duration(n)
	made := 0
	for i := 0; made < n; i++ {
		at := start.Add(time.Duration(i) * step)
		r := one(rng, i, at)
		if err := emit(r); err != nil {
			return err
		}
		made++
		if r.Status == store.Succeeded && i%100 == 7 && made+2 <= n {
			for b := range 2 {
				c := one(rng, -1, at)
				c.Pipeline, c.Status, c.ExternalID, c.IdempotencyKey = r.Pipeline, store.Succeeded, "", ""
				c.Attempts, c.Steps, c.Step, c.Error, c.Class, c.Attempt = nil, nil, "", "", 0, 1
				c.Finished, c.Updated = r.Finished, r.Finished
				c.Attempts = []Attempt{{Number: 1, Reason: "branch", Status: store.Succeeded, Started: at, Finished: r.Finished}}
				c.Steps = []Step{{Index: 0, Name: "fetch", Status: store.StepSucceeded, Started: at, Finished: r.Finished}}
				c.Parent = &store.Parent{RunID: r.ID, Step: "classify", Index: 1, Branch: b}
				if err := emit(c); err != nil {
					return err
				}
				made++
			}
		}
	}
	return nil
}

func one(rng *rand.Rand, i int, at time.Time) *Run {
	p := Pipelines[weighted(rng)]
	r := &Run{ID: newID(rng, at), Pipeline: p, Attempt: 1, Created: at}
	if i >= 0 && rng.IntN(10) < 6 {
		r.ExternalID = fmt.Sprintf("ext-%07d", i)
	}
	if i >= 0 && rng.IntN(2) == 0 {
		r.IdempotencyKey = fmt.Sprintf("key-%07d", i)
	}
	t := at
	next := func() time.Time { t = t.Add(time.Duration(200+rng.IntN(800)) * time.Millisecond); return t }
	ok := func(idx int) {
		s := next()
		r.Steps = append(r.Steps, Step{Index: idx, Name: Steps[idx], Status: store.StepSucceeded, Started: s, Finished: next()})
	}
	first := Attempt{Number: 1, Reason: "submitted", Started: at}
	x := rng.IntN(1000)
	switch {
	case x < 895: // succeeded
		for idx := range Steps {
			ok(idx)
		}
		r.Status = store.Succeeded
	case x < 900: // succeeded on a replay after a dead letter
		ok(0)
		f := next()
		r.Steps = append(r.Steps, Step{Index: 1, Name: "classify", Status: store.StepFailed, Error: "model timed out", Class: retry.ClassTransient, Started: f, Finished: next()})
		first.Status, first.Step, first.Error, first.Class, first.Finished = store.DeadLettered, "classify", "model timed out", retry.ClassTransient, t
		t = t.Add(time.Duration(5+rng.IntN(55)) * time.Minute)
		r.Attempt = 2
		ok(1)
		ok(2)
		r.Status = store.Succeeded
		r.Attempts = append(r.Attempts, first)
		first = Attempt{Number: 2, Reason: "replay from classify", Started: t}
	case x < 940: // dead-lettered
		at := rng.IntN(3)
		for idx := range at {
			ok(idx)
		}
		c := classes[rng.IntN(len(classes))]
		msg := fmt.Sprintf("%s: %s failed (%d)", Steps[at], c, rng.IntN(4))
		s := next()
		r.Steps = append(r.Steps, Step{Index: at, Name: Steps[at], Status: store.StepFailed, Error: msg, Class: c, Started: s, Finished: next()})
		r.Status, r.Step, r.Error, r.Class = store.DeadLettered, Steps[at], msg, c
	case x < 950: // awaiting review at classify
		ok(0)
		r.Status, r.Step = store.AwaitingReview, "classify"
		r.Review = &store.Review{Step: "classify", Index: 1, Reason: "low confidence", CreatedAt: next(),
			Input: []byte(`{"text":"hello"}`), Proposed: []byte(`{"label":"warm"}`)}
	case x < 970: // queued, a third deferred
		r.Status = store.Queued
		if rng.IntN(3) == 0 {
			ok(0)
			r.NotBefore = at.Add(Span + time.Duration(rng.IntN(60))*time.Minute)
		}
	case x < 980: // running
		ok(0)
		r.Status, r.LeaseExpires = store.Running, at.Add(Span+time.Hour)
	case x < 985: // cancelled
		ok(0)
		r.Status = store.Cancelled
	default: // queued a moment ago (the rest of the queue)
		r.Status = store.Queued
	}
	r.Updated = t
	first.Status = r.Status
	if r.Status.Final() || r.Status == store.AwaitingReview {
		r.Finished, first.Finished = t, t
		first.Step, first.Error, first.Class = r.Step, r.Error, r.Class
	}
	r.Attempts = append(r.Attempts, first)
	return r
}

// weighted picks a pipeline: the first ones busier.
func weighted(rng *rand.Rand) int {
	x := rng.IntN(100)
	switch {
	case x < 40:
		return 0
	case x < 65:
		return 1
	case x < 80:
		return 2
	case x < 92:
		return 3
	}
	return 4
}

const alphabet = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"

// newID is a run id as internal/ids makes it (a ULID), with its random
// bits from rng.
func newID(rng *rand.Rand, t time.Time) string {
	var b [16]byte
	binary.BigEndian.PutUint64(b[:8], uint64(t.UnixMilli())<<16)
	binary.BigEndian.PutUint16(b[6:8], uint16(rng.Uint32()))
	binary.BigEndian.PutUint64(b[8:], rng.Uint64())
	hi := binary.BigEndian.Uint64(b[:8])
	lo := binary.BigEndian.Uint64(b[8:])
	var out [26]byte
	for i := 25; i >= 0; i-- {
		out[i] = alphabet[lo&31]
		lo = lo>>5 | hi<<59
		hi >>= 5
	}
	return string(out[:])
}
