package pipeline

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/plumb-dev/plumb/contract"
	"github.com/plumb-dev/plumb/internal/attempt"
	"github.com/plumb-dev/plumb/retry"
	"github.com/plumb-dev/plumb/step"
	"github.com/plumb-dev/plumb/store"
)

// stage is one step with its types erased, so that a pipeline of any
// length is a slice. Values cross stages as the step's own Go types boxed
// in any; JSON is made only where something must be kept (a checkpoint, a
// dead letter, a review).
type stage interface {
	name() string
	route() step.Route
	// run runs the step on in, which holds the step's input type.
	run(ctx context.Context, in any) (out any, res stageResult, err error)
	// encode marshals a value of the step's input or output type.
	encode(v any) ([]byte, error)
	// decodeIn and decodeOut turn stored JSON back into the step's input
	// and output types, checking their contracts.
	decodeIn(raw []byte) (any, error)
	decodeOut(raw []byte) (any, error)
	// checkIn checks a value of the input type against its contract.
	checkIn(in any) error
	// review says whether an output needs a person, and why.
	review(out any) (reason string, needed bool)
	reviewsFailure(c retry.Class) bool
	reviewPolicy() (time.Duration, step.ReviewDefault)
	def() store.StepDef
	// branching returns the stage's branches when it is a branching stage
	// (a fan-out, a route, parallel sub-pipelines), nil for a step.
	branching() brancher
}

type stageResult struct {
	by       string
	attempts []step.Attempt
	// note says what a branching step's join did (the branches it
	// dropped).
	note string
}

type stageOf[In, Out any] struct {
	s *step.Step[In, Out]
	// runChecked runs s, skipping the input contract when told.
	runChecked func(ctx context.Context, in In, inputChecked bool) (step.Result[Out], error)
	// inputChecked: the previous step's output contract is this step's
	// input contract, so the value has been checked already.
	inputChecked bool
	// rv is the step's review rule.
	rv attempt.Review
	// cloneIn and cloneOut copy values of the input and output types as
	// a JSON round trip would (clone.go); nil for a type they cannot.
	cloneIn  func(In) (In, bool)
	cloneOut func(Out) (Out, bool)
}

// typed is what a stage of a plain step does with values in memory: the
// run's first step takes a submitted value without decoding it from the
// store, and a waiter of this process takes the last step's output
// (clone.go).
type typed interface {
	// copyIn and copyOut copy a value of the input or output type as a
	// JSON round trip would; false when they cannot, and the value is
	// read from the store instead.
	copyIn(v any) (any, bool)
	copyOut(v any) (any, bool)
	// runChecked runs the step on an input already checked against its
	// contract (at Submit, or by the decoding of the stored input).
	runInputChecked(ctx context.Context, in any) (out any, res stageResult, err error)
}

func newStage[In, Out any](s *step.Step[In, Out], inputChecked bool) stage {
	return &stageOf[In, Out]{s: s, inputChecked: inputChecked, rv: attempt.ReviewOf(s),
		runChecked: attempt.CheckedRun[func(context.Context, In, bool) (step.Result[Out], error)](s),
		cloneIn:    clonerOf[In](), cloneOut: clonerOf[Out]()}
}

func (st *stageOf[In, Out]) name() string        { return st.s.Name() }
func (st *stageOf[In, Out]) route() step.Route   { return st.s.OnFailure() }
func (st *stageOf[In, Out]) branching() brancher { return nil }

func (st *stageOf[In, Out]) run(ctx context.Context, in any) (any, stageResult, error) {
	res, err := st.runChecked(ctx, in.(In), st.inputChecked)
	return res.Output, stageResult{by: res.By, attempts: res.Attempts}, err
}

func (st *stageOf[In, Out]) copyIn(v any) (any, bool) {
	if st.cloneIn == nil {
		return nil, false
	}
	in, ok := v.(In)
	if !ok {
		return nil, false
	}
	c, ok := st.cloneIn(in)
	return c, ok
}

func (st *stageOf[In, Out]) copyOut(v any) (any, bool) {
	if st.cloneOut == nil {
		return nil, false
	}
	out, ok := v.(Out)
	if !ok {
		return nil, false
	}
	c, ok := st.cloneOut(out)
	return c, ok
}

func (st *stageOf[In, Out]) runInputChecked(ctx context.Context, in any) (any, stageResult, error) {
	res, err := st.runChecked(ctx, in.(In), true)
	return res.Output, stageResult{by: res.By, attempts: res.Attempts}, err
}

func (st *stageOf[In, Out]) encode(v any) ([]byte, error) { return json.Marshal(v) }

func (st *stageOf[In, Out]) decodeIn(raw []byte) (any, error) {
	return decode(raw, st.s.InputContract(), "input of step "+st.s.Name())
}

func (st *stageOf[In, Out]) checkIn(in any) error {
	if c := st.s.InputContract(); c != nil {
		return c.Check(in.(In))
	}
	return nil
}

func (st *stageOf[In, Out]) decodeOut(raw []byte) (any, error) {
	return decode(raw, st.s.OutputContract(), "checkpoint of step "+st.s.Name())
}

// decode reads a stored value back into its Go type. A value that no longer
// fits (the code changed since it was stored) is a permanent failure that
// names what to do.
func decode[T any](raw []byte, c *contract.Contract[T], what string) (any, error) {
	var v T
	var err error
	if c != nil {
		v, err = c.Unmarshal(raw)
	} else {
		err = json.Unmarshal(raw, &v)
	}
	if err != nil {
		return nil, retry.Permanent(fmt.Errorf("the stored %s does not decode into %T (was the code changed?): %w; replay from an earlier step or with a patched input", what, v, err))
	}
	return v, nil
}

func (st *stageOf[In, Out]) review(out any) (string, bool) { return st.rv.Needs(out) }

func (st *stageOf[In, Out]) reviewsFailure(c retry.Class) bool { return st.rv.Failure(c) }

func (st *stageOf[In, Out]) reviewPolicy() (time.Duration, step.ReviewDefault) {
	return st.rv.Deadline, step.ReviewDefault(st.rv.Default)
}

func (st *stageOf[In, Out]) def() store.StepDef {
	d := store.StepDef{Name: st.s.Name()}
	if c := st.s.InputContract(); c != nil {
		d.InputSchema = c.Schema().JSON()
	}
	if c := st.s.OutputContract(); c != nil {
		d.OutputSchema = c.Schema().JSON()
	}
	return d
}

// prefixed is a stage of a pipeline appended to another (Append), under
// the name "<sub>/<step>", so that its checkpoints keep the sub's step
// names and cannot collide with the host's.
type prefixed struct {
	stage
	full string
}

func (s prefixed) name() string { return s.full }

func (s prefixed) def() store.StepDef {
	d := s.stage.def()
	d.Name = s.full
	return d
}
