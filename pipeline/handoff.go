package pipeline

import (
	"context"
	"slices"

	"github.com/plumb-dev/plumb/store"
)

// Hand-off at submit. When this process runs a worker of the submitted
// pipeline that has a free slot and whose last claim found the queue
// drained, and the store implements store.Handoff, Submit enqueues the
// run already leased to that worker, in the enqueue's transaction, and
// the worker starts it at once: no claim of its own, no wake-up. The store
// leases it only if the pipeline is not paused, the run is due, and no
// run the worker could claim waits (so nobody older is passed over);
// otherwise the run is queued as by any Submit, and the worker wakes to
// claim. From then on a handed-off run is a claimed run like any other:
// its lease is heartbeated and fenced, a cancellation reaches it through
// the heartbeat, and when its worker dies another claims it once the lease
// has expired.

func (rt *Runtime) addWorker(w *Worker) {
	rt.mu.Lock()
	rt.workers = append(rt.workers, w)
	rt.mu.Unlock()
}

func (rt *Runtime) removeWorker(w *Worker) {
	rt.mu.Lock()
	rt.workers = slices.DeleteFunc(rt.workers, func(x *Worker) bool { return x == w })
	rt.mu.Unlock()
}

// reserveHandoff returns a worker of the runtime that runs d, is idle and
// has a free slot, with that slot reserved; nil when there is none.
func (rt *Runtime) reserveHandoff(d *definition) *Worker {
	rt.mu.Lock()
	defer rt.mu.Unlock()
	for _, w := range rt.workers {
		if w.defs[d.name] != d || w.st != d.cfg.Store {
			continue
		}
		w.mu.Lock()
		ok := w.live && w.idle && len(w.inflight)+w.reserved < w.cfg.Concurrency
		if ok {
			w.reserved++
		}
		w.mu.Unlock()
		if ok {
			return w
		}
	}
	return nil
}

// handed gives back the slot a Submit reserved, starting the run the
// store handed to the worker (c, nil when it queued the run instead, or
// found one of the same idempotency key). in, when not nil, is the run's
// input as submitted and checked: the run starts on a copy of it (made
// here, before Submit returns, so that the caller's later changes do not
// reach it), or decodes the stored input when the value cannot be copied
// as JSON would. A worker stopped meanwhile releases the run to the queue.
func (w *Worker) handed(d *definition, c *store.Claimed, queued bool, in any) {
	var typedIn any
	if c != nil && in != nil {
		if v, ok := d.copyIn(in); ok {
			typedIn = v
		}
	}
	w.mu.Lock()
	w.reserved--
	if c == nil {
		if !queued {
			w.mu.Unlock()
			return
		}
		// Something waits, or the pipeline is paused: the worker claims,
		// woken by the Submit, and finds out.
		w.idle = false
		w.mu.Unlock()
		return
	}
	if w.live {
		w.startLocked(*c, false, typedIn)
		w.mu.Unlock()
		return
	}
	w.mu.Unlock()
	if err := w.st.Release(context.Background(), []store.Lease{c.Lease}); err != nil {
		w.log.Warn("plumb: release of a run handed to a stopped worker failed; its lease will expire",
			"run_id", c.Run.ID, "error", err.Error())
	}
}
