package store

import "time"

// RecoveryTime is the time from a run's last dead letter to its success on
// a later attempt.
func RecoveryTime(r *Run, attempts []RunAttempt) (time.Duration, bool) {
	if r.Status != Succeeded || len(attempts) < 2 {
		return 0, false
	}
	for i := len(attempts) - 2; i >= 0; i-- {
		if attempts[i].Status == DeadLettered && !attempts[i].FinishedAt.IsZero() {
			return r.FinishedAt.Sub(attempts[i].FinishedAt), true
		}
	}
	return 0, false
}
