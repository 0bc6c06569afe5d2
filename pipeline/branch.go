package pipeline

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/plumb-dev/plumb/contract"
	"github.com/plumb-dev/plumb/retry"
	"github.com/plumb-dev/plumb/step"
	"github.com/plumb-dev/plumb/store"
)

// FanOutOptions say how a fan-out runs its branches and joins them. Its
// zero value is the default.
type FanOutOptions struct {
	// Limit bounds how many of the fan-out's branches are queued or
	// running at once, across every worker and host (in memory: how many
	// run at once); the others wait their turn, in order. Defaults to 0:
	// no bound. A branch awaiting review or waiting for an event (an
	// Await step) gives its slot to the next, and runs again on top of the
	// limit once a person decides or the event comes (or its deadline
	// passes); the bound holds again as soon as the count allows. A
	// branch deferred by a retry's wait keeps its slot.
	Limit int
	// Join decides what the step makes of its branches' outcomes.
	// Defaults to AllSucceed.
	Join Join
}

// FanOut returns p with a step named name that maps each element of p's
// output through sub: each element is a branch run of sub, with a record
// of its own (input, steps, attempts, status, and its parent), retried,
// deferred, reviewed, dead-lettered and replayed as any run is. With a
// store the branches run on every worker of the runtime, the run waits for
// them holding no worker, and the step joins them once every branch has
// ended; in memory they run at once, in goroutines. The step's output is
// the branches' outputs in the order of their elements, less those the
// join policy dropped (see Join).
//
// sub must be bound to p's runtime, and valid; anything else is a build
// error that Err reports.
func FanOut[In, E, R any](p *Pipeline[In, []E], name string, sub *Pipeline[E, R], o FanOutOptions) *Pipeline[In, []R] {
	errs := []error{branchName(name), o.Join.check(name)}
	if o.Limit < 0 {
		errs = append(errs, fmt.Errorf("step %q: FanOutOptions.Limit is %d: give 0 for no bound, or the number of branches that may run at once", name, o.Limit))
	}
	fo := &fanOut[E, R]{limitN: max(o.Limit, 0), policy: o.Join}
	if sub == nil {
		errs = append(errs, fmt.Errorf("step %q: the sub-pipeline is nil", name))
	} else {
		fo.sub = sub.def
		errs = append(errs, p.def.checkSub(name, sub.def))
	}
	return grow[In, []R](p.def, []stage{&branchStage[[]E, []R]{stepName: name, b: fo, in: schemaJSON(p.lastOut)}}, nil, errs)
}

// Route returns p with a step named name that sends p's output to the one
// sub-pipeline its key names, choose(value), as a branch run; the branch's
// output is the step's. The record names the route taken (the step's By is
// "route:<key>", and the branch's store.Parent.Name is the key). A key with
// no route fails the step with a permanent *NoRouteError naming it: the
// run is dead-lettered there, never dropped silently.
//
// Every route must be bound to p's runtime, and valid; anything else (no
// routes, a nil choose or route, two keys that print alike) is a build
// error that Err reports.
func Route[In, Mid, Out any, K comparable](p *Pipeline[In, Mid], name string, choose func(Mid) K, routes map[K]*Pipeline[Mid, Out]) *Pipeline[In, Out] {
	errs := []error{branchName(name)}
	if choose == nil {
		errs = append(errs, fmt.Errorf("step %q: the choose func is nil", name))
	}
	if len(routes) == 0 {
		errs = append(errs, fmt.Errorf("step %q: Route needs at least one route", name))
	}
	rt := &routing[Mid, K]{choose: choose, routes: map[K]route{}}
	// Routes are numbered in the order of their keys' names, so that a
	// route's branch run keeps its id from one build to the next.
	keys := make([]string, 0, len(routes))
	byName := map[string]K{}
	for k, sub := range routes {
		kn := fmt.Sprint(k)
		if _, dup := byName[kn]; dup {
			errs = append(errs, fmt.Errorf("step %q: two route keys print as %q: a route's key names it in the record, so keys must print apart", name, kn))
			continue
		}
		byName[kn] = k
		keys = append(keys, kn)
		if sub == nil {
			errs = append(errs, fmt.Errorf("step %q: the route for key %q is nil", name, kn))
			continue
		}
		errs = append(errs, p.def.checkSub(name, sub.def))
	}
	slices.Sort(keys)
	for i, kn := range keys {
		k := byName[kn]
		var d *definition
		if sub := routes[k]; sub != nil {
			d = sub.def
		}
		rt.routes[k] = route{def: d, branch: i, key: kn}
	}
	return grow[In, Out](p.def, []stage{&branchStage[Mid, Out]{stepName: name, b: rt, in: schemaJSON(p.lastOut)}}, nil, errs)
}

// Parallel2 returns p with a step named name that runs a and b on p's
// output at once, each as a branch run, and joins their outputs with join
// once both have succeeded. A branch that fails fails the step with a
// *BranchError; an error of join's fails it as a step's error would (one
// without a class, permanently).
//
// a and b must be bound to p's runtime, and valid; a nil join is a build
// error too.
func Parallel2[In, Mid, A, B, Out any](p *Pipeline[In, Mid], name string, a *Pipeline[Mid, A], b *Pipeline[Mid, B],
	join func(ctx context.Context, a A, b B) (Out, error)) *Pipeline[In, Out] {
	var fn func(context.Context, []any) (Out, error)
	if join != nil {
		fn = func(ctx context.Context, outs []any) (Out, error) { return join(ctx, outs[0].(A), outs[1].(B)) }
	}
	return parallel[In, Mid, Out](p, name, fn, defOf(a), defOf(b))
}

// Parallel3 is Parallel2 with three sub-pipelines.
func Parallel3[In, Mid, A, B, C, Out any](p *Pipeline[In, Mid], name string, a *Pipeline[Mid, A], b *Pipeline[Mid, B], c *Pipeline[Mid, C],
	join func(ctx context.Context, a A, b B, c C) (Out, error)) *Pipeline[In, Out] {
	var fn func(context.Context, []any) (Out, error)
	if join != nil {
		fn = func(ctx context.Context, outs []any) (Out, error) {
			return join(ctx, outs[0].(A), outs[1].(B), outs[2].(C))
		}
	}
	return parallel[In, Mid, Out](p, name, fn, defOf(a), defOf(b), defOf(c))
}

func defOf[In, Out any](p *Pipeline[In, Out]) *definition {
	if p == nil {
		return nil
	}
	return p.def
}

func parallel[In, Mid, Out any](p *Pipeline[In, Mid], name string, join func(context.Context, []any) (Out, error), subs ...*definition) *Pipeline[In, Out] {
	errs := []error{branchName(name)}
	if join == nil {
		errs = append(errs, fmt.Errorf("step %q: the join func is nil", name))
	}
	for i, sub := range subs {
		if sub == nil {
			errs = append(errs, fmt.Errorf("step %q: sub-pipeline %d is nil", name, i+1))
			continue
		}
		errs = append(errs, p.def.checkSub(name, sub))
	}
	st := &branchStage[Mid, Out]{stepName: name, b: &parallelJoin[Out]{subs: subs, fn: join}, in: schemaJSON(p.lastOut)}
	return grow[In, Out](p.def, []stage{st}, nil, errs)
}

// Append returns p with sub's steps as steps of its own, run inline in
// the same run: one record, each of sub's steps checkpointed under the name
// "<sub>/<step>", so that the record keeps the sub's step names and they
// cannot collide with p's. sub must be bound to p's runtime, and valid.
func Append[In, Mid, Out any](p *Pipeline[In, Mid], sub *Pipeline[Mid, Out]) *Pipeline[In, Out] {
	if sub == nil {
		return grow[In, Out](p.def, nil, nil, []error{fmt.Errorf("step %d: the appended pipeline is nil", len(p.def.stages)+1)})
	}
	stages := make([]stage, len(sub.def.stages))
	for i, st := range sub.def.stages {
		stages[i] = prefixed{stage: st, full: sub.def.name + "/" + st.name()}
	}
	return grow[In, Out](p.def, stages, sub.lastOut, []error{p.def.checkSub("", sub.def)})
}

// grow returns the pipeline p's definition is with stages added, in p's
// place in the runtime; errs are the new stages' build problems.
func grow[In, Out any](p *definition, stages []stage, lastOut *contract.Contract[Out], errs []error) *Pipeline[In, Out] {
	d := &definition{name: p.name, rt: p.rt, pol: p.pol, cfg: p.cfg, stages: slices.Clip(p.stages),
		breaker: newBreaker(), pauseCache: &pauses{}}
	var all []error
	if p.err != nil {
		var be *BuildError
		if errors.As(p.err, &be) {
			all = append(all, be.Err)
		}
	}
	all = append(all, errs...)
	for _, st := range stages {
		for _, have := range d.stages {
			if have.name() == st.name() {
				all = append(all, fmt.Errorf("duplicate step name %q: step names identify checkpoints and must be unique", st.name()))
			}
		}
		d.stages = append(d.stages, st)
	}
	// The extended pipeline takes its prefix's place in the runtime.
	d.err = joinBuild(d.name, append(all, d.bindAfter(p)))
	d.seal()
	return &Pipeline[In, Out]{def: d, lastOut: lastOut}
}

func branchName(name string) error {
	if name == "" {
		return errors.New("a branching step needs a name")
	}
	return nil
}

// checkSub says what is wrong with sub as a sub-pipeline of d's step (""
// for an appended one).
func (d *definition) checkSub(stepName string, sub *definition) error {
	what := fmt.Sprintf("step %q: sub-pipeline %q", stepName, sub.name)
	if stepName == "" {
		what = fmt.Sprintf("appended pipeline %q", sub.name)
	}
	switch {
	case sub.rt != d.rt:
		return fmt.Errorf("%s is bound to another runtime: a branch runs on its parent's store and workers, so build both on one runtime", what)
	case sub.err != nil:
		return fmt.Errorf("%s: %w", what, sub.err)
	case sub.name == d.name:
		return fmt.Errorf("%s has the name of the pipeline it is part of: give it a name of its own", what)
	case stepName != "" && !d.rt.runs(sub):
		return fmt.Errorf("%s is not the pipeline its runtime runs under that name (it was grown further since): pass the pipeline as finally built", what)
	}
	return nil
}

// runs reports whether d is the definition the runtime's workers run under
// its name; an in-memory runtime runs every definition.
func (rt *Runtime) runs(d *definition) bool {
	if rt.cfg.Store == nil {
		return true
	}
	rt.mu.Lock()
	defer rt.mu.Unlock()
	return rt.defs[d.name] == d
}

// branchStage is a branching step with its types erased: it runs no code
// of its own in a step's place (execute asks branching for its branches);
// it encodes and decodes the values that pass it, for its checkpoints.
type branchStage[In, Out any] struct {
	stepName string
	b        brancher
	// in is the contract the step's input met, the previous step's
	// output contract (nil when it has none): the definition records it
	// as the step's input contract, so that a deploy that changes it
	// changes the fingerprint and the version check reads it.
	in json.RawMessage
}

// schemaJSON is c's schema, or nil for no contract.
func schemaJSON[T any](c *contract.Contract[T]) json.RawMessage {
	if c == nil {
		return nil
	}
	return c.Schema().JSON()
}

func (st *branchStage[In, Out]) name() string        { return st.stepName }
func (st *branchStage[In, Out]) route() step.Route   { return step.DeadLetter }
func (st *branchStage[In, Out]) branching() brancher { return st.b }

func (st *branchStage[In, Out]) run(context.Context, any) (any, stageResult, error) {
	return nil, stageResult{}, fmt.Errorf("step %q branches: it runs through its branches, not on its own", st.stepName)
}

func (st *branchStage[In, Out]) encode(v any) ([]byte, error) { return (&stageOf[In, Out]{}).encode(v) }

func (st *branchStage[In, Out]) decodeIn(raw []byte) (any, error) {
	return decode[In](raw, nil, "input of step "+st.stepName)
}

func (st *branchStage[In, Out]) decodeOut(raw []byte) (any, error) {
	return decode[Out](raw, nil, "checkpoint of step "+st.stepName)
}

func (st *branchStage[In, Out]) checkIn(any) error               { return nil }
func (st *branchStage[In, Out]) review(any) (string, bool)       { return "", false }
func (st *branchStage[In, Out]) reviewsFailure(retry.Class) bool { return false }
func (st *branchStage[In, Out]) def() store.StepDef {
	return store.StepDef{Name: st.stepName, InputSchema: st.in}
}

func (st *branchStage[In, Out]) reviewPolicy() (time.Duration, step.ReviewDefault) {
	return 0, step.NoDefault
}
