package store

import (
	"crypto/sha256"
	"encoding/hex"
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
