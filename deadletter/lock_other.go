//go:build !unix

package deadletter

import "os"

// lockFile is a no-op where flock is not available: writers in one process
// are still ordered by the sink's mutex.
func lockFile(*os.File) (func(), error) { return func() {}, nil }
