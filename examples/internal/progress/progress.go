// Package progress follows a batch of an example's runs in the store and
// reports how far they have got, reading only the runs updated since the
// last look.
package progress

import (
	"context"
	"time"

	"github.com/plumb-dev/plumb/store"
)

// Poller keeps the status of a batch of runs up to date.
type Poller struct {
	st       store.Ops
	pipeline string
	since    time.Time
	status   map[string]store.Status
}

// NewPoller follows the runs ids of pipeline; each counts as queued until
// the store says otherwise.
func NewPoller(st store.Ops, pipeline string, ids []string) *Poller {
	p := &Poller{st: st, pipeline: pipeline, status: make(map[string]store.Status, len(ids))}
	for _, id := range ids {
		p.status[id] = store.Queued
	}
	return p
}

// Poll reads the runs updated since the last look (one full read the
// first time) and returns those of the batch whose status changed.
func (p *Poller) Poll(ctx context.Context) ([]store.Run, error) {
	// A second of overlap: a run updated while the last list was being
	// read is not missed.
	look := time.Now().Add(-time.Second)
	runsPage, err := p.st.ListRuns(ctx, store.RunFilter{Pipeline: p.pipeline, Since: p.since, Limit: 1 << 30})
	runs := runsPage.Runs
	if err != nil {
		return nil, err
	}
	p.since = look
	var changed []store.Run
	for _, r := range runs {
		if was, ours := p.status[r.ID]; ours && was != r.Status {
			p.status[r.ID] = r.Status
			changed = append(changed, r)
		}
	}
	return changed, nil
}

// Counts returns how many runs of the batch are in each status, and how
// many of them are done: succeeded, awaiting review, dead-lettered or
// cancelled.
func (p *Poller) Counts() (count map[store.Status]int, done int) {
	count = map[store.Status]int{}
	for _, s := range p.status {
		count[s]++
	}
	done = count[store.Succeeded] + count[store.AwaitingReview] + count[store.DeadLettered] + count[store.Cancelled]
	return count, done
}

// Follow polls every interval until every run of the batch is done, and
// calls report when at least step more runs are done than at the last
// report, and once at the end.
func Follow(ctx context.Context, st store.Ops, pipeline string, ids []string, interval time.Duration, step int,
	report func(done int, count map[store.Status]int)) error {
	p := NewPoller(st, pipeline, ids)
	lastDone := -step
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		if _, err := p.Poll(ctx); err != nil {
			return err
		}
		count, done := p.Counts()
		if done != lastDone && (done-lastDone >= step || done == len(ids)) {
			report(done, count)
			lastDone = done
		}
		if done == len(ids) {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
		}
	}
}
