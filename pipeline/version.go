package pipeline

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"

	"github.com/plumb-dev/plumb/contract"
	"github.com/plumb-dev/plumb/notify"
	"github.com/plumb-dev/plumb/observe"
	"github.com/plumb-dev/plumb/retry"
	"github.com/plumb-dev/plumb/store"
)

// seal computes the definition as the store records it, its version
// included, once the definition is built: it never changes after.
func (d *definition) seal() {
	spec := store.PipelineDef{Name: d.name, KeepPayloads: !d.cfg.HashPayloads, ExpectEvery: d.cfg.ExpectEvery}
	for _, st := range d.stages {
		spec.Steps = append(spec.Steps, st.def())
	}
	spec.Version = store.Version{Fingerprint: store.Fingerprint(spec.Steps), Label: d.pol.Version}
	d.spec = spec
}

// definition returns a copy of spec, so that no caller can change the
// definition a pipeline registers and checks against.
func (d *definition) definition() store.PipelineDef {
	def := d.spec
	def.Steps = slices.Clone(def.Steps)
	return def
}

// Definition returns the pipeline's definition as the store registers it:
// its name, its steps with their input and output contracts (JSON
// Schemas), its version, whether payloads are kept and how often runs are
// expected. Its JSON form (one definition, or an array of them) is what
// plumb versions check --definition reads: a CI job marshals the
// definitions of the build about to be deployed and checks the store's
// runs against them before the deploy (or calls Runtime.CheckVersions).
func (p *Pipeline[In, Out]) Definition() store.PipelineDef { return p.def.definition() }

// Version returns the version of the pipeline's definition: the
// fingerprint of its steps and contracts, and Policy.Version as its
// label. Every run it starts records it (store.Run.Version).
func (p *Pipeline[In, Out]) Version() store.Version { return p.def.spec.Version }

// checkOnce makes a definition's version check on first use: most
// workers never pick up a run of another version.
type checkOnce struct {
	once  sync.Once
	check *store.VersionCheck
	err   error
}

// versionCheck returns the check of runs' records against d.
func (d *definition) versionCheck() (*store.VersionCheck, error) {
	d.check.once.Do(func() { d.check.check, d.check.err = store.NewVersionCheck(d.definition()) })
	return d.check.check, d.check.err
}

// CheckVersions checks the runs in the runtime's store against the
// definitions of the pipelines bound to it, as this binary builds them
// (not the definitions the store has registered): it lists the runs in
// flight, deferred, awaiting review, held or dead-lettered whose records
// would break them, so that a deploy can be refused before a worker of
// the new code holds them. In the CI of a new version, open a copy of
// production's store, build the pipelines on a runtime over it, and fail
// the deploy when the report is not OK. Runs started under a definition's
// own version are skipped; it changes nothing in the store.
func (rt *Runtime) CheckVersions(ctx context.Context) (*store.VersionReport, error) {
	if rt.cfg.Store == nil {
		return nil, ErrNoStore
	}
	var defs []store.PipelineDef
	for _, d := range rt.bound() {
		if d.err != nil {
			return nil, d.err
		}
		defs = append(defs, d.definition())
	}
	return store.CheckVersions(ctx, rt.cfg.Store, defs, nil)
}

// checkVersion checks a claimed run that started under another
// definition against d before any step runs: its input or checkpoints
// may break a contract d changed. It returns nil when the run can go on;
// otherwise the attempt has ended, held (or failed to be), and the error
// says why. A run whose payloads were not kept cannot be checked: it goes
// on, and its steps' own contracts still apply.
func (d *definition) checkVersion(ctx context.Context, r *runState, c *store.Claimed) error {
	chk, err := d.versionCheck()
	if err == nil {
		err = chk.Resume(&c.Run, c.Checkpoints)
	}
	var inc *store.Incompatibility
	switch {
	case err == nil:
		return nil
	case errors.As(err, &inc):
		return d.hold(ctx, r, inc)
	case errors.Is(err, store.ErrUncheckable):
		d.cfg.Logger.Info("plumb: a run of another version cannot be checked against this definition (its payloads were not kept); it goes on, and its steps check their contracts",
			slog.String("pipeline", d.name), slog.String("run_id", c.Run.ID), slog.String("version", c.Run.Version.String()))
	default:
		d.cfg.Logger.Warn("plumb: a run of another version could not be checked against this definition; it goes on, and its steps check their contracts",
			slog.String("pipeline", d.name), slog.String("run_id", c.Run.ID), slog.String("version", c.Run.Version.String()),
			slog.String("error", err.Error()))
	}
	return nil
}

// hold ends the attempt of a run whose records break d: the run waits,
// held, for a replay (with a patch, or under a definition that accepts
// it) or a cancel, instead of failing at the step that would refuse it.
func (d *definition) hold(ctx context.Context, r *runState, inc *store.Incompatibility) error {
	ctx = d.startSpan(ctx, r)
	r.span.SetAttributes(observe.AttrStep.String(inc.Step))
	// The reason is what the run's record says once it is held.
	inc.Status = store.Held
	reason := inc.Error()
	err := d.finish(ctx, r, store.Outcome{Status: store.Held, Step: inc.Step, Error: reason, Class: retry.ClassContract})
	if err != nil {
		return d.end(ctx, r, observe.OutcomeFailed, err)
	}
	d.cfg.Logger.Warn("plumb: run held: its records break this definition", slog.String("pipeline", d.name),
		slog.String("run_id", inc.RunID), slog.String("step", inc.Step), slog.String("what", inc.What),
		slog.String("started_under", inc.Version.String()), slog.String("definition", d.spec.Version.String()),
		slog.String("reason", inc.Reason))
	// Counted before it is told, so that whoever hears of it finds it
	// counted.
	err = d.end(ctx, r, observe.OutcomeHeld, &PendingError{RunID: inc.RunID, Status: store.Held, Step: inc.Step, Reason: reason})
	d.notify(ctx, notify.Event{Kind: notify.Held, Pipeline: d.name, RunID: inc.RunID, Step: inc.Step,
		Class: retry.ClassContract.String(), Reason: reason})
	return err
}

// undecodable is the incompatibility of a run of another version whose
// stored value (its input, from 0, or the checkpoint before stage from)
// does not decode under d: err is the decode's failure.
func (d *definition) undecodable(run *store.Run, from int, err error) *store.Incompatibility {
	inc := &store.Incompatibility{RunID: run.ID, Pipeline: run.Pipeline, Status: run.Status, Version: run.Version,
		Index: min(from, len(d.stages)-1), What: "input"}
	inc.Step = d.stages[inc.Index].name()
	subject, contractOf := "its input", "the input contract of step "+d.stages[0].name()
	if from > 0 {
		inc.What, subject = "checkpoint", "the last checkpoint's output"
		contractOf = "the output contract of step " + d.stages[from-1].name()
	}
	var ve *contract.ValidationError
	if !errors.As(err, &ve) {
		inc.Reason = fmt.Sprintf("%s does not decode under %s: %v", subject, contractOf, err)
		return inc
	}
	inc.Violations = ve.Violations
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
	inc.Reason = fmt.Sprintf("%s breaks %s (%s)", subject, contractOf, b.String())
	return inc
}
