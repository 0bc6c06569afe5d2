//go:build race

package contract

// The race detector makes sync.Pool drop items, so allocation counts are
// only meaningful without it.
const raceEnabled = true
