package store

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"slices"
	"strings"
)

// Hash returns the hex SHA-256 of a payload, the fingerprint kept when a
// pipeline does not keep payloads.
func Hash(b []byte) string {
	if b == nil {
		return ""
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// Checkpoints picks, from the step records of one run attempt, the last
// record of each step index when it is Done, in index order. Every store
// uses it to build Claimed.Checkpoints the same way.
func Checkpoints(recs []StepRecord, attempt int) []StepRecord {
	last := map[int]StepRecord{}
	for _, r := range recs {
		if r.RunAttempt == attempt {
			last[r.Index] = r
		}
	}
	var out []StepRecord
	for _, r := range last {
		if r.Status.Done() {
			out = append(out, r)
		}
	}
	slices.SortFunc(out, func(a, b StepRecord) int { return a.Index - b.Index })
	return out
}

// Scrub drops the payloads of a run that keeps none, once it has ended:
// inputs, outputs and raw model answers give way to hashes and sizes.
func Scrub(r *Run, recs []StepRecord) {
	if r.KeepPayloads {
		return
	}
	if r.Input != nil {
		r.InputHash, r.InputSize, r.Input = Hash(r.Input), len(r.Input), nil
	}
	if r.Output != nil {
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
func ScrubRecord(rec *StepRecord) {
	if rec.Output != nil {
		rec.OutputHash, rec.OutputSize, rec.Output = Hash(rec.Output), len(rec.Output), nil
	}
	rec.Input = nil
	for j := range rec.Attempts {
		if rec.Attempts[j].Raw != "" && !strings.HasPrefix(rec.Attempts[j].Raw, notKept) {
			rec.Attempts[j].Raw = fmt.Sprintf(notKept+"%d bytes, sha256 %s)", len(rec.Attempts[j].Raw), Hash([]byte(rec.Attempts[j].Raw))[:16])
		}
	}
}

// ValidID reports whether s can be a run id: 1 to 128 printable ASCII
// characters without spaces, and neither "." nor "..": URL resolvers
// (browsers, curl) remove those path segments even percent-encoded, so a
// link to such a run would lead to another page.
func ValidID(s string) bool {
	if s == "" || len(s) > 128 || s == "." || s == ".." {
		return false
	}
	return !strings.ContainsFunc(s, func(r rune) bool { return r <= ' ' || r > '~' })
}
