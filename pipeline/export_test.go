package pipeline

// MemoryCounts returns how many runs started on their submitted value and
// how many waits were answered from memory (local.go).
func MemoryCounts() (typedStarts, localResults int64) {
	return memoryCounts.typedStarts.Load(), memoryCounts.localResults.Load()
}
