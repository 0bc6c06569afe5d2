package pipeline

import (
	"sync"
	"sync/atomic"
)

// Results in memory. A waiter of this process (Pipeline.Wait, and so
// SubmitAndWait) waiting for a run one of this process's workers executes
// gets the last step's output from the worker once the store has
// acknowledged the finish that made the run succeeded: no read of the run,
// no decoding of its output, no check of its contract again (the step
// checked it before it was written). Every other end (dead-lettered,
// awaiting review, held, deferred, cancelled, released, a lost lease), a
// run executed by another process or before a restart, and an output the
// cloner cannot copy, send the waiter to the store's WaitRun, as before.
// The store stays the record: memory only spares a read of what this
// process has just written.

// memoryCounts count the runs that started on their submitted value and
// the waits answered from memory, so that tests and profiles can tell the
// paths apart.
var memoryCounts struct {
	typedStarts  atomic.Int64
	localResults atomic.Int64
}

// localRuns are the runs of one definition that workers of this process
// execute now, by id, with the waiters of this process waiting for them.
type localRuns struct {
	mu   sync.Mutex
	runs map[string]*localRun
}

type localRun struct {
	// executions counts this process's executions of the run (a run whose
	// lease was lost may be claimed again here while the first execution
	// is still winding down).
	executions int
	waiters    []chan localResult
}

// localResult is what a waiter gets: the output when ok, else the word to
// read the run from the store.
type localResult struct {
	out any
	ok  bool
}

// start records that a worker of this process executes the run.
func (l *localRuns) start(id string) {
	l.mu.Lock()
	if l.runs == nil {
		l.runs = map[string]*localRun{}
	}
	lr := l.runs[id]
	if lr == nil {
		lr = &localRun{}
		l.runs[id] = lr
	}
	lr.executions++
	l.mu.Unlock()
}

// wait returns a channel that gets the run's result when a worker of this
// process executes it now; nil when none does.
func (l *localRuns) wait(id string) chan localResult {
	l.mu.Lock()
	defer l.mu.Unlock()
	lr := l.runs[id]
	if lr == nil {
		return nil
	}
	c := make(chan localResult, 1)
	lr.waiters = append(lr.waiters, c)
	return c
}

// cancel forgets a waiter that stopped waiting.
func (l *localRuns) cancel(id string, c chan localResult) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if lr := l.runs[id]; lr != nil {
		for i, w := range lr.waiters {
			if w == c {
				lr.waiters = append(lr.waiters[:i], lr.waiters[i+1:]...)
				break
			}
		}
	}
}

// end tells the run's waiters how an execution ended: with ok, out is
// the output of a run whose success the store acknowledged, and each
// waiter gets its own copy (copyOut); otherwise they read the run from
// the store. copyOut is called only when somebody waits.
func (l *localRuns) end(id string, out any, ok bool, copyOut func(any) (any, bool)) {
	l.mu.Lock()
	lr := l.runs[id]
	if lr == nil {
		l.mu.Unlock()
		return
	}
	waiters := lr.waiters
	lr.waiters = nil
	if lr.executions--; lr.executions <= 0 {
		delete(l.runs, id)
	}
	l.mu.Unlock()
	for _, c := range waiters {
		res := localResult{}
		if ok {
			res.out, res.ok = copyOut(out)
		}
		c <- res
	}
}

// copyIn copies a run's input as a JSON round trip would, when the first
// stage is a plain step whose input type the cloner copies.
func (d *definition) copyIn(in any) (any, bool) {
	if ts, ok := d.stages[0].(typed); ok {
		return ts.copyIn(in)
	}
	return nil, false
}

// copyOut copies a run's output for a waiter, when the last stage is a
// plain step whose output type the cloner copies and the store keeps
// outputs (with RuntimeConfig.HashPayloads, Wait says it keeps none).
func (d *definition) copyOut(out any) (any, bool) {
	if d.cfg.HashPayloads {
		return nil, false
	}
	if ts, ok := d.stages[len(d.stages)-1].(typed); ok {
		return ts.copyOut(out)
	}
	return nil, false
}
