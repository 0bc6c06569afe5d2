package storekit

import (
	"cmp"
	"fmt"
	"slices"

	"github.com/plumb-dev/plumb/store"
)

// The rules of a fork's join (store.Fork), shared by every store so that
// they keep them alike: what a child's change of status does to its join
// (JoinChange), what the fork's last live child ending does to the parent
// (Settle), and what a fork writes (CheckFork, PlanFork).

// JoinChange says what a branch run's change of status from one status to
// another does to its fork's join: the change in the count of live
// children, and whether a child waiting for a slot may now be released
// (the changed child held a slot, queued or running, and gave it up by
// ending or by stopping to await review).
//
// A release is a chance, not a promise: the store releases the lowest
// Waiting siblings only while fewer than the fork's limit are queued or
// running (Releases). A child that an approval or a replay made queued
// again takes a slot on top of the limit, as a person asked; the siblings
// it overtook are released only once the count is below the limit again,
// so the bound holds again as soon as it can.
//
// A queued child waiting for an event (an open wait of its current
// attempt: AwaitingEvent) holds no slot either: a store releases a
// sibling when the child starts to wait, and leaves it out of the count.
// The event, or the wait's deadline, makes it run again on top of the
// limit, as an approval does.
func JoinChange(from, to store.Status) (live int, release bool) {
	holds := from == store.Queued || from == store.Running
	switch {
	case !from.Final() && to.Final():
		return -1, holds
	case to.Parked() && holds:
		return 0, true
	case from.Final() && !to.Final():
		return +1, false
	}
	return 0, false
}

// Releases is how many Waiting children of a fork with limit a store
// releases, in branch order, when active of them are queued or running and
// waiting wait for a slot.
func Releases(limit, active, waiting int) int {
	if limit <= 0 {
		return waiting
	}
	return max(0, min(waiting, limit-active))
}

// Settlement is what a fork's last live child ending does to its parent.
type Settlement int

const (
	// SettleNone: nothing; the parent went on without waiting.
	SettleNone Settlement = iota
	// SettleQueue: the parent waits at the fork: queue it, now, and wake
	// the workers.
	SettleQueue
	// SettleReplay: the parent's join failed at the fork and a child has
	// since recovered: replay the parent from the fork's step (PlanReplay
	// with ReplayRequest{From: step, Reason: ReplayReason(child)}).
	SettleReplay
)

// Settle decides what happens to parent once the last live child of its
// fork at step has ended, child being the run whose end it was.
func Settle(parent *store.Run, step string, child *store.Run) Settlement {
	switch {
	case parent.Status == store.Waiting && parent.Step == step:
		return SettleQueue
	case parent.Status == store.DeadLettered && parent.Step == step && child.Status == store.Succeeded:
		return SettleReplay
	}
	return SettleNone
}

// RecoveredReason is the reason of a parent's replay after its child
// recovered.
func RecoveredReason(child string) string { return "branch " + child + " recovered" }

// ExistingChild is what PlanFork needs of a child a fork finds.
type ExistingChild struct {
	Status    store.Status
	InputHash string
	// Awaiting: the child is queued waiting for an event (an open wait
	// of its current attempt), so it holds no slot (JoinChange).
	Awaiting bool
}

// ForkPlan is what a fork writes.
type ForkPlan struct {
	// Create are the children to insert, with the status each starts in
	// (Queued, or Waiting beyond the limit), in branch order.
	Create []PlannedChild
	// Restart are ended children whose input changed: each starts a new
	// attempt with its new input (Reason RestartReason), in the status
	// given.
	Restart []PlannedChild
	// Live is the fork's count of live children once the plan is written.
	Live int
	// Parent is the parent's new status: Waiting, or Queued when no child
	// is live.
	Parent store.Status
}

// PlannedChild is one child a fork creates or restarts.
type PlannedChild struct {
	Run    store.NewRun
	Status store.Status
}

// ForkReason is the reason of a branch run's first attempt.
func ForkReason(parent string) string { return "forked by " + parent }

// CheckFork checks a fork of the run runID before anything is written:
// the record names a step, and every child has a valid id, a pipeline, a
// Parent naming the run and the record's step and index, a branch no
// sibling has, and the id store.BranchID gives, so that a fork made again
// finds the children it made before. Its errors match store.ErrConflict.
func CheckFork(runID string, f store.Fork) error {
	if f.Record.Step == "" || f.Record.Index < 0 {
		return fmt.Errorf("fork of run %s: the record names no step: %w", runID, store.ErrConflict)
	}
	if f.Limit < 0 {
		return fmt.Errorf("fork of run %s at %s: limit %d is negative: %w", runID, f.Record.Step, f.Limit, store.ErrConflict)
	}
	seen := map[int]bool{}
	for _, nr := range f.Children {
		p := nr.Parent
		switch {
		case p == nil || p.RunID != runID || p.Step != f.Record.Step || p.Index != f.Record.Index:
			return fmt.Errorf("fork of run %s at %s: child %q must name the run and step %d (%s) as its parent: %w",
				runID, f.Record.Step, nr.ID, f.Record.Index, f.Record.Step, store.ErrConflict)
		case seen[p.Branch]:
			return fmt.Errorf("fork of run %s at %s: branch %d appears twice: %w", runID, f.Record.Step, p.Branch, store.ErrConflict)
		case nr.ID != store.BranchID(runID, p.Index, p.Branch) || !store.ValidID(nr.ID):
			return fmt.Errorf("fork of run %s at %s: child %q must have the id %q: %w",
				runID, f.Record.Step, nr.ID, store.BranchID(runID, p.Index, p.Branch), store.ErrConflict)
		case nr.Pipeline == "":
			return fmt.Errorf("fork of run %s at %s: child %q names no pipeline: %w", runID, f.Record.Step, nr.ID, store.ErrConflict)
		}
		seen[p.Branch] = true
	}
	return nil
}

// RestartReason is the reason of a child's new attempt when its parent
// forked it again with a new input.
func RestartReason(parent string) string {
	return "parent " + parent + " forked it again with a new input"
}

// PlanFork plans a fork that CheckFork accepted: existing holds the
// children of the fork's ids that exist already (by id). A child that
// exists is kept as it is unless it has ended and its input differs; a
// kept live child counts toward the limit when it is queued or running
// and not waiting for an event.
// Slots go to the children in branch order, whatever order f lists them
// in.
func PlanFork(f store.Fork, existing map[string]ExistingChild) ForkPlan {
	p := ForkPlan{}
	children := slices.Clone(f.Children)
	slices.SortStableFunc(children, func(a, b store.NewRun) int { return cmp.Compare(branchOf(a), branchOf(b)) })
	active := 0
	for _, c := range existing {
		if (c.Status == store.Queued || c.Status == store.Running) && !c.Awaiting {
			active++
		}
	}
	slot := func() store.Status {
		if f.Limit > 0 && active >= f.Limit {
			return store.Waiting
		}
		active++
		return store.Queued
	}
	for _, nr := range children {
		e, ok := existing[nr.ID]
		switch {
		case !ok:
			p.Create = append(p.Create, PlannedChild{Run: nr, Status: slot()})
			p.Live++
		case e.Status.Final() && e.InputHash != store.Hash(nr.Input):
			p.Restart = append(p.Restart, PlannedChild{Run: nr, Status: slot()})
			p.Live++
		case !e.Status.Final():
			p.Live++
		}
	}
	p.Parent = store.Waiting
	if p.Live == 0 {
		p.Parent = store.Queued
	}
	return p
}

func branchOf(nr store.NewRun) int {
	if nr.Parent == nil {
		return 0
	}
	return nr.Parent.Branch
}
