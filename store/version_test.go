package store_test

import (
	"encoding/json"
	"errors"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/plumb-dev/plumb/store"
)

func raw(s string) json.RawMessage { return json.RawMessage(s) }

func steps(names ...string) []store.StepDef {
	out := make([]store.StepDef, len(names))
	for i, n := range names {
		out[i] = store.StepDef{Name: n, InputSchema: raw(`{"type":"object"}`), OutputSchema: raw(`{"type":"object"}`)}
	}
	return out
}

func TestFingerprint(t *testing.T) {
	base := []store.StepDef{
		{Name: "parse", InputSchema: raw(`{"type":"object","required":["n"],"properties":{"n":{"type":"integer"}}}`), OutputSchema: raw(`{"type":"object"}`)},
		{Name: "classify", InputSchema: raw(`{"type":"object"}`), OutputSchema: raw(`{"type":"string"}`)},
	}
	fp := store.Fingerprint(base)
	assert.Regexp(t, regexp.MustCompile(`^[0-9a-f]{16}$`), fp)
	assert.Equal(t, fp, store.Fingerprint(base), "stable")

	reordered := []store.StepDef{
		{Name: "parse", InputSchema: raw(" {\n  \"properties\": { \"n\": {\"type\": \"integer\"} },\n  \"required\": [\"n\"],\n  \"type\": \"object\"\n}\n"), OutputSchema: raw(`{ "type" : "object" }`)},
		{Name: "classify", InputSchema: raw(`{"type":"object"}`), OutputSchema: raw(`{"type":"string"}`)},
	}
	assert.Equal(t, fp, store.Fingerprint(reordered), "key order and white space are no change")

	change := func(f func(s []store.StepDef) []store.StepDef) string {
		c := make([]store.StepDef, len(base))
		copy(c, base)
		return store.Fingerprint(f(c))
	}
	for name, f := range map[string]func(s []store.StepDef) []store.StepDef{
		"a step renamed":    func(s []store.StepDef) []store.StepDef { s[1].Name = "label"; return s },
		"steps swapped":     func(s []store.StepDef) []store.StepDef { s[0], s[1] = s[1], s[0]; return s },
		"a step removed":    func(s []store.StepDef) []store.StepDef { return s[:1] },
		"a step added":      func(s []store.StepDef) []store.StepDef { return append(s, steps("draft")...) },
		"an input contract": func(s []store.StepDef) []store.StepDef { s[0].InputSchema = raw(`{"type":"object"}`); return s },
		"an output contract": func(s []store.StepDef) []store.StepDef {
			s[1].OutputSchema = raw(`{"type":"string","maxLength":80}`)
			return s
		},
		"a contract dropped": func(s []store.StepDef) []store.StepDef { s[1].OutputSchema = nil; return s },
		"input becomes output": func(s []store.StepDef) []store.StepDef {
			s[1].InputSchema, s[1].OutputSchema = s[1].OutputSchema, s[1].InputSchema
			return s
		},
		"a step waits for an event": func(s []store.StepDef) []store.StepDef { s[1].Event = "payment"; return s },
		"an event's contract": func(s []store.StepDef) []store.StepDef {
			s[1].Event, s[1].EventSchema = "payment", raw(`{"type":"object"}`)
			return s
		},
	} {
		assert.NotEqual(t, fp, change(f), name)
	}
}

func TestVersionString(t *testing.T) {
	for _, tt := range []struct {
		v    store.Version
		want string
		zero bool
	}{
		{store.Version{}, "unversioned", true},
		{store.Version{Fingerprint: "3f9a1c2be04d7a61"}, "3f9a1c2be04d7a61", false},
		{store.Version{Label: "2026-12"}, "2026-12", false},
		{store.Version{Fingerprint: "3f9a1c2be04d7a61", Label: "2026-12"}, "2026-12 (3f9a1c2be04d7a61)", false},
	} {
		assert.Equal(t, tt.want, tt.v.String())
		assert.Equal(t, tt.zero, tt.v.IsZero(), tt.want)
	}
}

// nextDef is the definition the check cases check against: parse takes
// an n, classify an email, draft a label.
var nextDef = store.PipelineDef{Name: "leads", Version: store.Version{Label: "v2"}, KeepPayloads: true, Steps: []store.StepDef{
	{Name: "parse", InputSchema: raw(`{"type":"object","required":["n"]}`), OutputSchema: raw(`{"type":"object"}`)},
	{Name: "classify", InputSchema: raw(`{"type":"object","required":["email"]}`), OutputSchema: raw(`{"type":"object","required":["label"]}`)},
	{Name: "draft", InputSchema: raw(`{"type":"object","required":["label"]}`), OutputSchema: raw(`{"type":"string"}`)},
}}

var v1 = store.Version{Fingerprint: "00000000000000a1", Label: "v1"}

func check(t *testing.T, d store.PipelineDef) *store.VersionCheck {
	t.Helper()
	c, err := store.NewVersionCheck(d)
	require.NoError(t, err)
	return c
}

func cp(index int, step, output string) store.StepRecord {
	r := store.StepRecord{RunAttempt: 1, Index: index, Step: step, Status: store.StepSucceeded}
	if output != "" {
		r.Output = raw(output)
	}
	return r
}

func run(status store.Status, input string) *store.Run {
	r := &store.Run{ID: "run-1", Pipeline: "leads", Status: status, Attempt: 1, Version: v1}
	if input != "" {
		r.Input = raw(input)
	}
	return r
}

// incompatible requires err to be an *Incompatibility and returns it.
func incompatible(t *testing.T, err error) *store.Incompatibility {
	t.Helper()
	var inc *store.Incompatibility
	require.True(t, errors.As(err, &inc), "want an *Incompatibility, got %v", err)
	assert.Equal(t, "run-1", inc.RunID)
	assert.Equal(t, "leads", inc.Pipeline)
	assert.Equal(t, v1, inc.Version)
	assert.NotEmpty(t, inc.Reason)
	return inc
}

func TestNewVersionCheck(t *testing.T) {
	c := check(t, nextDef)
	assert.Equal(t, store.Fingerprint(nextDef.Steps), c.Definition().Version.Fingerprint, "computed when the definition has none")
	assert.Equal(t, "v2", c.Definition().Version.Label)
	assert.True(t, c.Current(store.Version{Fingerprint: store.Fingerprint(nextDef.Steps)}), "the label does not matter")
	assert.False(t, c.Current(v1))
	assert.False(t, c.Current(store.Version{}), "an unversioned run is checked")

	given := nextDef
	given.Version.Fingerprint = "ffffffffffffffff"
	assert.True(t, check(t, given).Current(given.Version), "a fingerprint given is kept")

	bad := nextDef
	bad.Steps = steps("parse")
	bad.Steps[0].OutputSchema = raw(`{"type":"no such type"}`)
	_, err := store.NewVersionCheck(bad)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "step parse")
	assert.Contains(t, err.Error(), "output contract")
}

func TestVersionCheckResume(t *testing.T) {
	c := check(t, nextDef)
	t.Run("input breaks the first step's input contract", func(t *testing.T) {
		inc := incompatible(t, c.Resume(run(store.Queued, `{"x":1}`), nil))
		assert.Equal(t, "input", inc.What)
		assert.Equal(t, "parse", inc.Step)
		assert.Equal(t, 0, inc.Index)
		assert.Equal(t, store.Queued, inc.Status)
		require.NotEmpty(t, inc.Violations)
		assert.Equal(t, "required", inc.Violations[0].Keyword)
		assert.Contains(t, inc.Reason, "its input breaks the input contract of step parse")
	})
	t.Run("a checkpoint's output breaks the next step's input contract", func(t *testing.T) {
		inc := incompatible(t, c.Resume(run(store.Running, `{"n":1}`), []store.StepRecord{cp(0, "parse", `{"name":"Ada"}`)}))
		assert.Equal(t, "checkpoint", inc.What)
		assert.Equal(t, "classify", inc.Step)
		assert.Equal(t, 1, inc.Index)
		require.NotEmpty(t, inc.Violations)
		assert.Contains(t, inc.Reason, "the last checkpoint's output breaks the input contract of step classify")
	})
	t.Run("the value that resumes is the last checkpoint in order", func(t *testing.T) {
		cps := []store.StepRecord{cp(0, "parse", `{"email":"ada@example.com"}`), cp(2, "draft", `{}`)}
		assert.NoError(t, c.Resume(run(store.Queued, `{"x":1}`), cps), "the input is past, and step 1 resumes with parse's output")
	})
	for name, tt := range map[string]struct {
		def store.PipelineDef
		cps []store.StepRecord
	}{
		"a checkpointed step renamed": {nextDef, []store.StepRecord{cp(0, "parse_v0", `{"email":"a@b"}`)}},
		"a checkpointed step removed": {store.PipelineDef{Name: "leads", Steps: nextDef.Steps[1:]}, []store.StepRecord{cp(0, "parse", `{"email":"a@b"}`)}},
		"a step inserted before it":   {store.PipelineDef{Name: "leads", Steps: append(steps("normalise"), nextDef.Steps...)}, []store.StepRecord{cp(0, "parse", `{"email":"a@b"}`)}},
		"the last checkpoint past the end": {store.PipelineDef{Name: "leads", Steps: nextDef.Steps[:1]},
			[]store.StepRecord{cp(0, "parse", `{"email":"a@b"}`), cp(1, "classify", `{"label":"hot"}`)}},
	} {
		t.Run(name, func(t *testing.T) {
			inc := incompatible(t, check(t, tt.def).Resume(run(store.Queued, `{"n":1}`), tt.cps))
			assert.Equal(t, "steps", inc.What)
			assert.Contains(t, inc.Reason, "checkpoint")
			assert.Empty(t, inc.Violations)
		})
	}
	t.Run("every step checkpointed", func(t *testing.T) {
		cps := []store.StepRecord{cp(0, "parse", `{"x":1}`), cp(1, "classify", `{}`), cp(2, "draft", `"Hi"`)}
		assert.NoError(t, c.Resume(run(store.Running, `{"x":1}`), cps), "only the end remains: nothing is checked")
	})
	t.Run("compatible", func(t *testing.T) {
		assert.NoError(t, c.Resume(run(store.Queued, `{"n":1}`), nil))
		assert.NoError(t, c.Resume(run(store.Queued, `{"x":1}`), []store.StepRecord{cp(0, "parse", `{"email":"a@b"}`)}))
	})
	t.Run("payload not kept", func(t *testing.T) {
		err := c.Resume(run(store.Queued, ""), nil)
		assert.ErrorIs(t, err, store.ErrUncheckable)
		assert.Contains(t, err.Error(), "run-1")
		err = c.Resume(run(store.Queued, `{"n":1}`), []store.StepRecord{cp(0, "parse", "")})
		assert.ErrorIs(t, err, store.ErrUncheckable, "the checkpoint's output was scrubbed")
		var inc *store.Incompatibility
		assert.False(t, errors.As(err, &inc))
	})
	t.Run("a definition without steps", func(t *testing.T) {
		inc := incompatible(t, check(t, store.PipelineDef{Name: "leads"}).Resume(run(store.Queued, `{}`), nil))
		assert.Equal(t, "steps", inc.What)
	})
}

// detail is a run's detail with checkpoints of its first attempt.
func detail(r *store.Run, cps ...store.StepRecord) *store.RunDetail {
	return &store.RunDetail{Run: *r, Steps: cps}
}

func reviewing(proposed string, index int, step string) *store.Run {
	r := run(store.AwaitingReview, `{"n":1}`)
	r.Step = step
	r.Review = &store.Review{Step: step, Index: index, Reason: "confidence 0.41 < 0.7"}
	if proposed != "" {
		r.Review.Proposed = raw(proposed)
	}
	return r
}

func TestVersionCheckRun(t *testing.T) {
	c := check(t, nextDef)
	parsed := cp(0, "parse", `{"email":"ada@example.com"}`)
	t.Run("a proposal that breaks the reviewed step's output contract", func(t *testing.T) {
		inc := incompatible(t, c.Run(detail(reviewing(`{"confidence":0.4}`, 1, "classify"), parsed)))
		assert.Equal(t, "review", inc.What)
		assert.Equal(t, "classify", inc.Step)
		assert.Equal(t, store.AwaitingReview, inc.Status)
		assert.Contains(t, inc.Reason, "the output awaiting review breaks the output contract of step classify")
		require.NotEmpty(t, inc.Violations)
	})
	t.Run("a proposal that breaks the next step's input contract", func(t *testing.T) {
		d := nextDef
		d.Steps = append([]store.StepDef(nil), nextDef.Steps...)
		d.Steps[2].InputSchema = raw(`{"type":"object","required":["label","tone"]}`)
		inc := incompatible(t, check(t, d).Run(detail(reviewing(`{"label":"hot"}`, 1, "classify"), parsed)))
		assert.Equal(t, "review", inc.What)
		assert.Equal(t, "draft", inc.Step)
		assert.Equal(t, 2, inc.Index)
		assert.Contains(t, inc.Reason, "the input contract of step draft")
	})
	t.Run("a proposal that meets both", func(t *testing.T) {
		assert.NoError(t, c.Run(detail(reviewing(`{"label":"hot"}`, 1, "classify"), parsed)))
	})
	t.Run("nothing proposed: the reviewer writes against the new contract", func(t *testing.T) {
		assert.NoError(t, c.Run(detail(reviewing("", 1, "classify"), parsed)))
	})
	t.Run("a review of a step no longer at its place", func(t *testing.T) {
		inc := incompatible(t, c.Run(detail(reviewing(`{"label":"hot"}`, 1, "score"), parsed)))
		assert.Equal(t, "steps", inc.What)
	})
	t.Run("a dead-lettered run, at its failed step", func(t *testing.T) {
		r := run(store.DeadLettered, `{"n":1}`)
		r.Step = "classify"
		inc := incompatible(t, c.Run(detail(r, cp(0, "parse", `{"name":"Ada"}`))))
		assert.Equal(t, "checkpoint", inc.What)
		assert.Equal(t, "classify", inc.Step)
		assert.Equal(t, store.DeadLettered, inc.Status)
		assert.NoError(t, c.Run(detail(r, parsed)), "its checkpoint meets the new contract")

		inc = incompatible(t, c.Run(detail(run(store.DeadLettered, `{"x":1}`))))
		assert.Equal(t, "input", inc.What, "nothing checkpointed: a replay hands the first step its input")
	})
	t.Run("a held run, at the step it was held at", func(t *testing.T) {
		r := run(store.Held, `{"n":1}`)
		r.Step = "classify"
		inc := incompatible(t, c.Run(detail(r, cp(0, "parse", `{"name":"Ada"}`))))
		assert.Equal(t, "checkpoint", inc.What)
		assert.Equal(t, store.Held, inc.Status)
	})
	t.Run("a run that stopped at a step the definition no longer has", func(t *testing.T) {
		r := run(store.DeadLettered, `{"n":1}`)
		r.Step = "enrich"
		inc := incompatible(t, c.Run(detail(r, parsed)))
		assert.Equal(t, "steps", inc.What)
		assert.Contains(t, inc.Reason, "enrich")
	})
	t.Run("a queued run is checked as a worker resumes it", func(t *testing.T) {
		inc := incompatible(t, c.Run(detail(run(store.Queued, `{"n":1}`), cp(0, "parse", `{"name":"Ada"}`))))
		assert.Equal(t, "checkpoint", inc.What)
		old := cp(0, "parse", `{"name":"Ada"}`)
		old.RunAttempt = 0
		assert.NoError(t, c.Run(detail(run(store.Queued, `{"n":1}`), old)), "an earlier attempt's records are not checkpoints")
	})
	t.Run("succeeded", func(t *testing.T) {
		assert.NoError(t, c.Run(detail(run(store.Succeeded, `{"x":1}`))), "nothing is left to check")
	})
}

func TestIncompatibilityError(t *testing.T) {
	inc := incompatible(t, check(t, nextDef).Resume(run(store.Queued, `{"x":1}`), nil))
	msg := inc.Error()
	for _, want := range []string{"run run-1", "started under v1 (00000000000000a1)", inc.Reason,
		"plumb replay run-1 --from parse", "cancel it", "deploy a definition that accepts it"} {
		assert.Contains(t, msg, want)
	}
	assert.Equal(t, strings.ToLower(msg[:1]), msg[:1], "error strings start lower case")
	var err error = inc
	var back *store.Incompatibility
	require.True(t, errors.As(err, &back))
	assert.Same(t, inc, back)
}
