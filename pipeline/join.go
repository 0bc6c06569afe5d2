package pipeline

import (
	"context"
	"errors"
	"fmt"
	"math"
	"runtime/debug"
	"strconv"
	"strings"

	"github.com/plumb-dev/plumb/retry"
	"github.com/plumb-dev/plumb/step"
	"github.com/plumb-dev/plumb/store"
)

// Join is a fan-out's join policy: what its step makes of its branches'
// outcomes once every branch has ended. Its zero value is AllSucceed.
// Under every policy the step's output keeps the order of the elements,
// and a failed branch is a dead-lettered (or cancelled) run of its own
// that can be replayed alone.
type Join struct {
	kind  joinKind
	n     int
	share float64
}

type joinKind uint8

const (
	joinAll joinKind = iota
	joinKeep
	joinAtLeast
	joinShare
)

// AllSucceed is the default join: every branch must succeed. Otherwise the
// step fails permanently with a *BranchError naming each failed branch,
// and the run is dead-lettered at the step; replaying a failed branch
// until it succeeds resumes the join with its result.
func AllSucceed() Join { return Join{} }

// KeepSucceeded goes on with the branches that succeeded: the failed ones
// are dead-lettered on their own, and the step's record notes which it
// dropped.
func KeepSucceeded() Join { return Join{kind: joinKeep} }

// AtLeast goes on with the successes when at least n branches succeeded
// (n >= 1), dropping the failed ones as KeepSucceeded does; with fewer it
// fails as AllSucceed does.
func AtLeast(n int) Join { return Join{kind: joinAtLeast, n: n} }

// AtLeastShare is AtLeast with a share of the branches (0 < share <= 1),
// rounded up: AtLeastShare(0.5) of 5 branches needs 3.
func AtLeastShare(share float64) Join { return Join{kind: joinShare, share: share} }

func (j Join) String() string {
	switch j.kind {
	case joinKeep:
		return "keep succeeded"
	case joinAtLeast:
		return "at least " + strconv.Itoa(j.n)
	case joinShare:
		return "at least " + strconv.FormatFloat(j.share*100, 'g', -1, 64) + "%"
	}
	return "all succeed"
}

func (j Join) check(stepName string) error {
	switch {
	case j.kind == joinAtLeast && j.n < 1:
		return fmt.Errorf("step %q: AtLeast(%d): a join needs at least 1 branch to succeed; use KeepSucceeded to go on with none", stepName, j.n)
	case j.kind == joinShare && !(j.share > 0 && j.share <= 1):
		return fmt.Errorf("step %q: AtLeastShare(%v): the share must be above 0 and at most 1", stepName, j.share)
	}
	return nil
}

// need is how many of total branches must succeed.
func (j Join) need(total int) int {
	switch j.kind {
	case joinKeep:
		return 0
	case joinAtLeast:
		return j.n
	case joinShare:
		// Rounded up, without counting float noise (0.3*10) as a branch.
		return int(math.Ceil(j.share*float64(total) - 1e-9))
	}
	return total
}

// ErrBranchFailed is matched by every *BranchError.
var ErrBranchFailed = errors.New("branches failed")

// BranchError says that a branching step's join refused its branches'
// outcomes: too many branches failed for its policy. It names each failed
// branch.
type BranchError struct {
	Pipeline string
	Step     string
	Join     Join
	// Branches counts the step's branches, Succeeded those that succeeded.
	Branches, Succeeded int
	Failed              []FailedBranch
}

// FailedBranch is a branch run that did not succeed.
type FailedBranch struct {
	RunID    string
	Pipeline string
	// Branch is its element's index, or its route's or sub-pipeline's
	// number; Name its route's key or sub-pipeline's name.
	Branch int
	Name   string
	// Status is store.DeadLettered or store.Cancelled.
	Status store.Status
	// Step, Class and Error say where and how it failed.
	Step  string
	Class retry.Class
	Error string
}

func (e *BranchError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%d of %d branches of step %q failed (join: %s)", len(e.Failed), e.Branches, e.Step, e.Join)
	for i, f := range e.Failed {
		if i == 0 {
			b.WriteString(": ")
		} else {
			b.WriteString("; ")
		}
		fmt.Fprintf(&b, "branch run %s (pipeline %s) %s at step %q (%s): %s", f.RunID, f.Pipeline,
			strings.ReplaceAll(string(f.Status), "_", "-"), f.Step, f.Class, f.Error)
	}
	return b.String()
}

// Is matches ErrBranchFailed and retry.ErrPermanent: no retry of the
// parent changes its branches' outcomes; replaying a failed branch does.
// The branches' own classes are in Failed.
func (e *BranchError) Is(target error) bool {
	return target == ErrBranchFailed || target == retry.ErrPermanent
}

// ErrNoRoute is matched by every *NoRouteError.
var ErrNoRoute = errors.New("no route")

// NoRouteError says that a Route's key names none of its routes.
type NoRouteError struct {
	Pipeline string
	Step     string
	// Key is the key choose returned, printed.
	Key string
}

func (e *NoRouteError) Error() string {
	return fmt.Sprintf("pipeline %s, step %q: no route for key %q", e.Pipeline, e.Step, e.Key)
}

// Is matches ErrNoRoute and retry.ErrPermanent.
func (e *NoRouteError) Is(target error) bool {
	return target == ErrNoRoute || target == retry.ErrPermanent
}

// brancher is what a branching stage does, its types erased.
type brancher interface {
	// plan returns the branches of the stage's input, in branch order.
	plan(in any) ([]branchSpec, error)
	// limit bounds how many branches are queued or running at once; 0:
	// none.
	limit() int
	// join makes the step's output of its branches' outcomes, in branch
	// order; by and note go to the step's record.
	join(ctx context.Context, j *joined) (out any, err error)
}

// branchSpec is one branch a stage plans: a run of def on in.
type branchSpec struct {
	def    *definition
	branch int
	name   string
	in     any
	raw    []byte // in, encoded: a durable branch's input
}

// branchResult is one branch's outcome.
type branchResult struct {
	branchSpec
	runID  string
	status store.Status
	out    any
	// step, class and err describe a failure.
	step  string
	class retry.Class
	err   string
	spent store.Spend
}

// joined is a join in the making: the branches' outcomes, and what the
// join says of them in the step's record.
type joined struct {
	pipeline, step string
	results        []branchResult
	by, note       string
}

// apply applies policy to the outcomes: the succeeded ones, or the
// *BranchError that refuses them. The note lists what was dropped.
func (j *joined) apply(policy Join) ([]branchResult, error) {
	var ok []branchResult
	var failed []FailedBranch
	for _, r := range j.results {
		if r.status == store.Succeeded {
			ok = append(ok, r)
			continue
		}
		failed = append(failed, FailedBranch{RunID: r.runID, Pipeline: r.def.name, Branch: r.branch, Name: r.name,
			Status: r.status, Step: r.step, Class: r.class, Error: r.err})
	}
	if len(ok) < policy.need(len(j.results)) {
		return nil, &BranchError{Pipeline: j.pipeline, Step: j.step, Join: policy, Branches: len(j.results), Succeeded: len(ok), Failed: failed}
	}
	if len(failed) > 0 {
		ids := make([]string, len(failed))
		for i, f := range failed {
			ids[i] = f.RunID
		}
		j.note = fmt.Sprintf("dropped %d of %d branches (join: %s): %s", len(failed), len(j.results), policy, strings.Join(ids, ", "))
	}
	return ok, nil
}

// fanOut maps a slice through sub.
type fanOut[E, R any] struct {
	sub    *definition
	limitN int
	policy Join
}

func (f *fanOut[E, R]) limit() int { return f.limitN }

func (f *fanOut[E, R]) plan(in any) ([]branchSpec, error) {
	elems := in.([]E)
	specs := make([]branchSpec, len(elems))
	for i, e := range elems {
		specs[i] = branchSpec{def: f.sub, branch: i, in: e}
	}
	return specs, nil
}

func (f *fanOut[E, R]) join(_ context.Context, j *joined) (any, error) {
	ok, err := j.apply(f.policy)
	if err != nil {
		return nil, err
	}
	j.by = "join"
	outs := make([]R, len(ok))
	for i, r := range ok {
		outs[i] = r.out.(R)
	}
	return outs, nil
}

// routing sends a value to one of several sub-pipelines.
type routing[Mid any, K comparable] struct {
	choose func(Mid) K
	routes map[K]route
}

type route struct {
	def    *definition
	branch int
	key    string
}

func (rt *routing[Mid, K]) limit() int { return 0 }

func (rt *routing[Mid, K]) plan(in any) ([]branchSpec, error) {
	k := rt.choose(in.(Mid))
	r, ok := rt.routes[k]
	if !ok {
		return nil, &NoRouteError{Key: fmt.Sprint(k)}
	}
	return []branchSpec{{def: r.def, branch: r.branch, name: r.key, in: in}}, nil
}

func (rt *routing[Mid, K]) join(_ context.Context, j *joined) (any, error) {
	ok, err := j.apply(AllSucceed())
	if err != nil {
		return nil, err
	}
	j.by = "route:" + ok[0].name
	return ok[0].out, nil
}

// parallelJoin runs several sub-pipelines on one value and joins their
// outputs with a func.
type parallelJoin[Out any] struct {
	subs []*definition
	fn   func(context.Context, []any) (Out, error)
}

func (p *parallelJoin[Out]) limit() int { return 0 }

func (p *parallelJoin[Out]) plan(in any) ([]branchSpec, error) {
	specs := make([]branchSpec, len(p.subs))
	for i, d := range p.subs {
		specs[i] = branchSpec{def: d, branch: i, name: d.name, in: in}
	}
	return specs, nil
}

func (p *parallelJoin[Out]) join(ctx context.Context, j *joined) (out any, err error) {
	ok, err := j.apply(AllSucceed())
	if err != nil {
		return nil, err
	}
	j.by = "join"
	outs := make([]any, len(ok))
	for i, r := range ok {
		outs[i] = r.out
	}
	defer func() {
		if v := recover(); v != nil {
			out, err = nil, &step.PanicError{Value: v, Stack: debug.Stack()}
		}
	}()
	return p.fn(ctx, outs)
}
