package pipeline_test

import (
	"context"
	"errors"
	"fmt"

	"github.com/plumb-dev/plumb/deadletter"
	"github.com/plumb-dev/plumb/pipeline"
	"github.com/plumb-dev/plumb/step"
)

// Three typed steps; the compiler checks that each output feeds the next
// input.
func ExampleThen() {
	p1 := pipeline.New(nil, "leads", step.New("parse", parse, step.Config{}), pipeline.Policy{})
	p2 := pipeline.Then(p1, step.New("classify", classify, step.Config{}))
	p := pipeline.Then(p2, step.New("draft", draft, step.Config{}))

	out, err := p.Run(context.Background(), RawLead{Text: "Ada Lovelace <ada@example.com>"}, pipeline.RunOptions{})
	fmt.Println(out.To, err)
	fmt.Println(out.Body)
	// Output:
	// ada@example.com <nil>
	// Hi Ada Lovelace, thanks for reaching out.
}

// A run that fails is dead-lettered: the error yields the letter, with the
// failed step's input and every attempt.
func ExamplePipeline_Run_deadLetter() {
	sink := deadletter.NewMemory()
	p := pipeline.New(pipeline.NewRuntime(pipeline.RuntimeConfig{DeadLetters: []deadletter.Sink{sink}}), "leads", step.New("parse", parse, step.Config{}), pipeline.Policy{})

	_, err := p.Run(context.Background(), RawLead{Text: "call me maybe"}, pipeline.RunOptions{RunID: "run-42"})
	var dl *deadletter.Error
	if errors.As(err, &dl) {
		l := dl.Letter
		fmt.Println(l.RunID, l.Step, l.Class, string(l.Input))
		fmt.Println(l.Attempts[0].Error)
	}
	fmt.Println("letters in the sink:", sink.Len())
	// Output:
	// run-42 parse permanent {"text":"call me maybe"}
	// permanent: no email in "call me maybe"
	// letters in the sink: 1
}

// Duplicate step names are caught when the pipeline is built.
func ExamplePipeline_Err() {
	p := pipeline.Then(pipeline.New(nil, "leads", step.New("parse", parse, step.Config{}), pipeline.Policy{}), step.New("parse", classify, step.Config{}))
	fmt.Println(p.Err())
	// Output:
	// pipeline "leads" is not valid: duplicate step name "parse": step names identify checkpoints and must be unique
}
