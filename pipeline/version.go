package pipeline

import (
	"context"
	"slices"
	"sync"

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
