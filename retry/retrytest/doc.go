// Package retrytest provides a clock that tests control, so that retry
// policies, timeouts and schedules are tested without sleeping.
package retrytest
