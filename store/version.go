package store

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/plumb-dev/plumb/contract"
)

// Version names the definition of a pipeline a run attempt runs under: a
// fingerprint of the definition's steps and their input and output
// contracts (Fingerprint), and the label its author gave it, if any
// (pipeline.Policy.Version). Two definitions with one fingerprint accept
// exactly the same records; a label alone changes nothing a store checks.
type Version struct {
	Fingerprint string `json:"fingerprint,omitempty"`
	Label       string `json:"label,omitempty"`
}

// IsZero reports whether v names no definition (a run recorded before
// runs had versions).
func (v Version) IsZero() bool { return v.Fingerprint == "" && v.Label == "" }

// String is the label with the fingerprint ("2026-12 (3f9a1c2be04d7a61)"),
// the fingerprint alone without a label, and "unversioned" for the zero
// Version.
func (v Version) String() string {
	switch {
	case v.IsZero():
		return "unversioned"
	case v.Label == "":
		return v.Fingerprint
	case v.Fingerprint == "":
		return v.Label
	}
	return v.Label + " (" + v.Fingerprint + ")"
}

// Fingerprint is the fingerprint of a definition's steps: the first 16 hex
// digits of a SHA-256 over each step's name and its input and output
// schemas (and, for a step that waits for an event, the event's name and
// contract), in order, with every schema in canonical form (keys sorted, no
// insignificant space), so that an equal definition always has the same
// fingerprint and any change of a step, its place or a contract gives
// another.
func Fingerprint(steps []StepDef) string {
	h := sha256.New()
	for _, s := range steps {
		fmt.Fprintf(h, "step %q\n", s.Name)
		h.Write(canonicalJSON(s.InputSchema))
		h.Write([]byte{'\n'})
		h.Write(canonicalJSON(s.OutputSchema))
		h.Write([]byte{'\n'})
		if s.Event != "" || len(s.EventSchema) > 0 {
			fmt.Fprintf(h, "event %q\n", s.Event)
			h.Write(canonicalJSON(s.EventSchema))
			h.Write([]byte{'\n'})
		}
	}
	return hex.EncodeToString(h.Sum(nil))[:16]
}

// canonicalJSON re-encodes doc with its object keys sorted (what
// encoding/json does for maps); a document that is not JSON is kept as it
// is.
func canonicalJSON(doc json.RawMessage) []byte {
	if len(doc) == 0 {
		return nil
	}
	var v any
	dec := json.NewDecoder(bytes.NewReader(doc))
	dec.UseNumber()
	if err := dec.Decode(&v); err != nil {
		return doc
	}
	out, err := json.Marshal(v)
	if err != nil {
		return doc
	}
	return out
}

// Incompatibility is why a run's records cannot go on under a definition:
// resuming, approving or replaying it would hand a step a value its new
// contract refuses, or put a checkpoint in a place the definition gives to
// another step.
type Incompatibility struct {
	RunID    string  `json:"run_id"`
	Pipeline string  `json:"pipeline"`
	Status   Status  `json:"status"`
	Version  Version `json:"version"`
	// Step and Index name the step that cannot take what the run holds.
	Step  string `json:"step"`
	Index int    `json:"index"`
	// What names the record: "input" (the run's input), "checkpoint" (the
	// output of the step before Step), "review" (the output awaiting a
	// person's decision at Step) or "steps" (a checkpoint of a step the
	// definition no longer has at its place).
	What string `json:"what"`
	// Reason says what is wrong, in a sentence; Violations lists each
	// contract violation with its JSON pointer.
	Reason     string               `json:"reason"`
	Violations []contract.Violation `json:"violations,omitempty"`
}

// Error is the reason with the run and its version, and what to do next.
func (e *Incompatibility) Error() string {
	return fmt.Sprintf("run %s (%s, started under %s) cannot go on under this definition: %s; "+
		"replay it with a patch that meets the new contract (plumb replay %s --from %s --set ...), cancel it, or deploy a definition that accepts it",
		e.RunID, e.Status, e.Version, e.Reason, e.RunID, e.Step)
}

// VersionCheck checks runs' records against one definition. It compiles
// the definition's schemas once; make one per definition and reuse it. It
// is safe for concurrent use.
type VersionCheck struct {
	def     PipelineDef
	inputs  []*contract.Schema // nil: the step has no input contract
	outputs []*contract.Schema
}

// NewVersionCheck compiles def's contracts. def.Version.Fingerprint, when
// empty, is computed from def.Steps.
func NewVersionCheck(def PipelineDef) (*VersionCheck, error) {
	if def.Version.Fingerprint == "" {
		def.Version.Fingerprint = Fingerprint(def.Steps)
	}
	c := &VersionCheck{def: def, inputs: make([]*contract.Schema, len(def.Steps)), outputs: make([]*contract.Schema, len(def.Steps))}
	for i, s := range def.Steps {
		var err error
		if len(s.InputSchema) > 0 {
			if c.inputs[i], err = contract.CompileSchema(s.InputSchema); err != nil {
				return nil, fmt.Errorf("pipeline %s, step %s: the input contract does not compile: %w", def.Name, s.Name, err)
			}
		}
		if len(s.OutputSchema) > 0 {
			if c.outputs[i], err = contract.CompileSchema(s.OutputSchema); err != nil {
				return nil, fmt.Errorf("pipeline %s, step %s: the output contract does not compile: %w", def.Name, s.Name, err)
			}
		}
	}
	return c, nil
}

// Definition returns the definition checked against.
func (c *VersionCheck) Definition() PipelineDef { return c.def }

// Current reports whether a run of version v was started under this very
// definition, so that its records need no check.
func (c *VersionCheck) Current(v Version) bool { return v.Fingerprint == c.def.Version.Fingerprint }

// ErrUncheckable marks a run whose records cannot be checked because the
// payload the check needs was not kept (PipelineDef.KeepPayloads false and
// the run ended): a replay of it needs a patched input anyway.
var ErrUncheckable = errors.New("store: the payload the version check needs was not kept")

// Resume checks a run as a worker is about to resume it: checkpoints are
// the current attempt's (Claimed.Checkpoints, or Checkpoints of its
// records). Every checkpoint's step must be the definition's step at its
// index, and the value the next step takes (the run's input, or the last
// checkpoint's output) must meet that step's input contract. It returns
// nil when the run can go on, an *Incompatibility when it cannot, and an
// error matching ErrUncheckable when the value was not kept.
func (c *VersionCheck) Resume(r *Run, checkpoints []StepRecord) error {
	next := 0
	for _, cp := range checkpoints {
		if cp.Index != next {
			break
		}
		next++
	}
	return c.from(r, checkpoints, next)
}

// from checks a run as it would start again at the step of index from
// (a replay's start, ReplayStart): the checkpoints before it must be the
// definition's steps at their places and the step's input must meet its
// contract.
func (c *VersionCheck) from(r *Run, checkpoints []StepRecord, from int) error {
	if err := c.placed(r, checkpoints, from); err != nil {
		return err
	}
	if from >= len(c.def.Steps) {
		if from == 0 {
			return c.incompatible(r, from, "steps", "the definition has no steps", nil)
		}
		// Every step is checkpointed: only the end remains.
		return nil
	}
	what, value := "input", r.Input
	if from > 0 {
		what, value = "checkpoint", nil
		found := false
		for _, cp := range checkpoints {
			if cp.Index == from-1 {
				value, found = cp.Output, true
			}
		}
		if !found {
			return c.incompatible(r, from, "steps", fmt.Sprintf("the step before %s has no checkpoint", c.def.Steps[from].Name), nil)
		}
	}
	if value == nil {
		return fmt.Errorf("run %s, step %s: %w", r.ID, c.def.Steps[from].Name, ErrUncheckable)
	}
	if sc := c.inputs[from]; sc != nil {
		if err := sc.ValidateJSON(value); err != nil {
			return c.violated(r, from, what, "input", err)
		}
	}
	return nil
}

// placed checks that every checkpoint before index upto is of the step
// the definition has at its index.
func (c *VersionCheck) placed(r *Run, checkpoints []StepRecord, upto int) error {
	for _, cp := range checkpoints {
		if cp.Index >= upto {
			break
		}
		if cp.Index >= len(c.def.Steps) || c.def.Steps[cp.Index].Name != cp.Step {
			now := "no step there"
			if cp.Index < len(c.def.Steps) {
				now = fmt.Sprintf("step %s there", c.def.Steps[cp.Index].Name)
			}
			return c.incompatible(r, min(upto, len(c.def.Steps)-1), "steps", fmt.Sprintf("its checkpoint %d is of step %s, and the definition has %s", cp.Index, cp.Step, now), nil)
		}
	}
	return nil
}

// Run checks a run's whole record as its next move would use it: a run
// awaiting review by the proposal a person may approve (against the
// reviewed step's output contract and the next step's input contract),
// any other run by Resume at the step it would start from (ReplayStart).
// Succeeded runs have nothing left to check.
func (c *VersionCheck) Run(d *RunDetail) error {
	r := &d.Run
	if r.Status == Succeeded {
		return nil
	}
	cps := Checkpoints(d.Steps, r.Attempt)
	if r.Status == AwaitingReview && r.Review != nil && r.Review.Decision == nil {
		rv := r.Review
		if err := c.placed(r, cps, rv.Index+1); err != nil {
			return err
		}
		if rv.Index >= len(c.def.Steps) || c.def.Steps[rv.Index].Name != rv.Step {
			return c.incompatible(r, rv.Index, "steps", fmt.Sprintf("its review is of step %s, which the definition no longer has at index %d", rv.Step, rv.Index), nil)
		}
		if rv.Proposed == nil {
			return nil // the reviewer writes the output, against the new contract
		}
		if sc := c.outputs[rv.Index]; sc != nil {
			if err := sc.ValidateJSON(rv.Proposed); err != nil {
				return c.violated(r, rv.Index, "review", "output", err)
			}
		}
		if n := rv.Index + 1; n < len(c.def.Steps) && c.inputs[n] != nil {
			if err := c.inputs[n].ValidateJSON(rv.Proposed); err != nil {
				return c.violated(r, n, "review", "input", err)
			}
		}
		return nil
	}
	if r.Status == Queued || r.Status == Running || r.Status == Waiting {
		return c.Resume(r, cps)
	}
	from, name := ReplayStart(r, d.Steps, &c.def, "")
	if from < 0 {
		return c.incompatible(r, 0, "steps", fmt.Sprintf("it stopped at step %s, which the definition no longer has", name), nil)
	}
	return c.from(r, cps, from)
}

func (c *VersionCheck) incompatible(r *Run, index int, what, reason string, vs []contract.Violation) *Incompatibility {
	name := ""
	if index >= 0 && index < len(c.def.Steps) {
		name = c.def.Steps[index].Name
	}
	return &Incompatibility{RunID: r.ID, Pipeline: r.Pipeline, Status: r.Status, Version: r.Version,
		Step: name, Index: index, What: what, Reason: reason, Violations: vs}
}

// violated turns a contract failure into an Incompatibility.
func (c *VersionCheck) violated(r *Run, index int, what, contractName string, err error) error {
	var ve *contract.ValidationError
	if !errors.As(err, &ve) {
		return fmt.Errorf("run %s, step %s: %w", r.ID, c.def.Steps[index].Name, err)
	}
	subject := map[string]string{"input": "its input", "checkpoint": "the last checkpoint's output", "review": "the output awaiting review"}[what]
	var b strings.Builder
	for i, v := range ve.Violations {
		if i == 3 {
			fmt.Fprintf(&b, "; and %d more", len(ve.Violations)-i)
			break
		}
		if i > 0 {
			b.WriteString("; ")
		}
		path := v.Path
		if path == "" {
			path = "/"
		}
		fmt.Fprintf(&b, "%s: %s", path, v.Message)
	}
	reason := fmt.Sprintf("%s breaks the %s contract of step %s (%s)", subject, contractName, c.def.Steps[index].Name, b.String())
	return c.incompatible(r, index, what, reason, ve.Violations)
}

// VersionReport is what CheckVersions found.
type VersionReport struct {
	// Definitions are the definitions checked against.
	Definitions []PipelineDef `json:"definitions"`
	// Checked counts the runs whose records were checked; Current those
	// skipped because they run under the very definition checked against.
	Checked int `json:"checked"`
	Current int `json:"current"`
	// Broken lists the runs that cannot go on, Uncheckable those whose
	// payloads were not kept (their replay needs a patched input anyway).
	Broken      []Incompatibility `json:"broken"`
	Uncheckable []string          `json:"uncheckable,omitempty"`
}

// OK reports whether no run breaks the definitions.
func (r *VersionReport) OK() bool { return len(r.Broken) == 0 }

// CheckedStatuses are the statuses CheckVersions looks at: every run that
// may still go on.
var CheckedStatuses = []Status{Queued, Running, Waiting, AwaitingReview, Held, DeadLettered}

// CheckVersions lists the runs of defs' pipelines (in flight, deferred,
// waiting, awaiting review, held or dead-lettered) whose records would
// break their pipeline's definition in defs: the deploy-time check
// (plumb versions check, pipeline.Runtime.CheckVersions). A run started
// under a definition's own fingerprint is not read again. progress, when
// set, is called after each run checked.
func CheckVersions(ctx context.Context, s Ops, defs []PipelineDef, progress func(checked int)) (*VersionReport, error) {
	rep := &VersionReport{Broken: []Incompatibility{}}
	for _, def := range defs {
		chk, err := NewVersionCheck(def)
		if err != nil {
			return nil, err
		}
		rep.Definitions = append(rep.Definitions, chk.Definition())
		f := RunFilter{Pipeline: def.Name, Status: CheckedStatuses, Limit: 500}
		for {
			page, err := s.ListRuns(ctx, f)
			if err != nil {
				return nil, fmt.Errorf("check versions of %s: list runs: %w", def.Name, err)
			}
			for _, r := range page.Runs {
				if chk.Current(r.Version) {
					rep.Current++
					continue
				}
				d, err := s.GetRun(ctx, r.ID)
				if errors.Is(err, ErrNotFound) {
					continue // pruned or replaced while the check ran
				}
				if err != nil {
					return nil, fmt.Errorf("check versions of %s: read run %s: %w", def.Name, r.ID, err)
				}
				rep.Checked++
				err = chk.Run(d)
				var inc *Incompatibility
				switch {
				case err == nil:
				case errors.As(err, &inc):
					rep.Broken = append(rep.Broken, *inc)
				case errors.Is(err, ErrUncheckable):
					rep.Uncheckable = append(rep.Uncheckable, r.ID)
				default:
					return nil, err
				}
				if progress != nil {
					progress(rep.Checked)
				}
			}
			if page.Next == "" {
				break
			}
			f.Before = page.Next
		}
	}
	return rep, nil
}
