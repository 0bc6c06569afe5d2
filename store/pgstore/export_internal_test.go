package pgstore

// WaitersOf counts the WaitRun calls of s subscribed to their runs' ends,
// for tests that must know the waiters wait before they act.
func WaitersOf(s *Store) int {
	s.wake.mu.Lock()
	defer s.wake.mu.Unlock()
	n := 0
	for _, set := range s.wake.waits {
		n += len(set)
	}
	return n
}
