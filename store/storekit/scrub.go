package storekit

import (
	"fmt"
	"strings"

	"github.com/plumb-dev/plumb/store"
)

// Scrub drops the payloads of a run that keeps none, once it has ended:
// inputs, outputs and raw model answers give way to hashes and sizes. A
// branch run keeps its output (Run.Output), which its parent joins.
func Scrub(r *store.Run, recs []store.StepRecord) {
	if r.KeepPayloads {
		return
	}
	if r.Input != nil {
		r.InputHash, r.InputSize, r.Input = store.Hash(r.Input), len(r.Input), nil
	}
	// A branch run's output is its parent's input to the join: it stays.
	if r.Output != nil && r.Parent == nil {
		r.Output = nil
	}
	for i := range recs {
		ScrubRecord(&recs[i])
	}
}

// notKept starts the stand-in for a raw answer that was not kept, so that
// scrubbing twice (a replayed run ending again) changes nothing.
const notKept = "(not kept: "

// ScrubRecord drops one step record's payloads.
func ScrubRecord(rec *store.StepRecord) {
	if rec.Output != nil {
		rec.OutputHash, rec.OutputSize, rec.Output = store.Hash(rec.Output), len(rec.Output), nil
	}
	rec.Input = nil
	for j := range rec.Attempts {
		if rec.Attempts[j].Raw != "" && !strings.HasPrefix(rec.Attempts[j].Raw, notKept) {
			rec.Attempts[j].Raw = fmt.Sprintf(notKept+"%d bytes, sha256 %s)", len(rec.Attempts[j].Raw), store.Hash([]byte(rec.Attempts[j].Raw))[:16])
		}
	}
}
