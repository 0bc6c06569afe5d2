package store_test

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/plumb-dev/plumb/store"
)

// StepInput finds what a step ran on in the current attempt: its own
// kept input, else the output of the step before it, else the run's
// input; records of earlier attempts and steps that did not run give
// nothing.
func TestStepInput(t *testing.T) {
	raw := func(s string) json.RawMessage { return json.RawMessage(s) }
	d := &store.RunDetail{
		Run: store.Run{ID: "r1", Attempt: 2, Input: raw(`{"run":2}`)},
		Steps: []store.StepRecord{
			{RunAttempt: 1, Index: 0, Step: "parse", Status: store.StepSucceeded, Input: raw(`{"old":1}`), Output: raw(`{"old-out":1}`)},
			{RunAttempt: 1, Index: 1, Step: "draft", Status: store.StepFailed, Input: raw(`{"old-draft":1}`)},
			{RunAttempt: 2, Index: 0, Step: "parse", Status: store.StepSucceeded, Output: raw(`{"parsed":2}`)},
			{RunAttempt: 2, Index: 1, Step: "classify", Status: store.StepSucceeded, Input: raw(`{"kept":2}`), Output: raw(`{"classified":2}`)},
			{RunAttempt: 2, Index: 2, Step: "draft", Status: store.StepFailed},
		},
	}
	assert.JSONEq(t, `{"run":2}`, string(d.StepInput("parse")), "the first step ran on the run's input")
	assert.JSONEq(t, `{"kept":2}`, string(d.StepInput("classify")), "a kept input is the record's own")
	assert.JSONEq(t, `{"classified":2}`, string(d.StepInput("draft")), "else the step before it gave it")
	assert.Nil(t, d.StepInput("send"), "a step with no record in this attempt")

	d.Steps[3].Status = store.StepFailed
	assert.Nil(t, d.StepInput("draft"), "a step before that did not finish gave nothing")
}
