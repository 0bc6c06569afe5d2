package main

import (
	"context"
	"errors"
	"fmt"

	"github.com/plumb-dev/plumb/contract"
	"github.com/plumb-dev/plumb/store"
)

// Exit codes, documented in doc.go and in plumb --help: scripts branch on
// them, so they never change meaning.
const (
	exitOK          = 0
	exitFailed      = 1 // the operation was refused or did not succeed
	exitUsage       = 2 // bad flags or arguments
	exitUnreachable = 3 // no store at the address, or not a Plumb store
	exitNotFound    = 4 // no such run or pipeline
	exitStaleReview = 5 // the decision's review is no longer the run's
	exitBroken      = 6 // versions check: runs would break the definition
)

// exitError carries the exit code an error ends the command with. Every
// error a command returns passes through classify, so that anything that
// is not an exitError came from cobra's own parsing: a usage error.
type exitError struct {
	code int
	err  error
	// detail is printed after the message (violations, a hint).
	detail string
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

// usagef reports a usage error the flags' parser could not catch.
func usagef(format string, args ...any) error {
	return &exitError{code: exitUsage, err: fmt.Errorf(format, args...)}
}

// failf reports a refused or failed operation.
func failf(format string, args ...any) error {
	return &exitError{code: exitFailed, err: fmt.Errorf(format, args...)}
}

// unreachable reports a store that cannot be used.
func unreachable(err error) error {
	return &exitError{code: exitUnreachable, err: err}
}

// classify gives an error from the store or the recovery helpers its exit
// code, and its violations a readable form.
func classify(err error) error {
	if err == nil {
		return nil
	}
	var ee *exitError
	if errors.As(err, &ee) {
		return err
	}
	var ve *contract.ValidationError
	switch {
	case errors.As(err, &ve):
		return &exitError{code: exitFailed, err: err, detail: violations(ve)}
	case errors.Is(err, store.ErrNotFound):
		return &exitError{code: exitNotFound, err: err}
	case errors.Is(err, store.ErrStaleReview):
		return &exitError{code: exitStaleReview, err: err,
			detail: "  nothing was decided: read the run again (plumb runs show) and decide its current review\n"}
	case errors.Is(err, store.ErrNotAStore), errors.Is(err, store.ErrClosed):
		return &exitError{code: exitUnreachable, err: err}
	case errors.Is(err, context.Canceled):
		return &exitError{code: exitFailed, err: errors.New("interrupted")}
	}
	return &exitError{code: exitFailed, err: err}
}

// violations lists a contract's violations, one a line, path first: what
// an operator fixes a patch or an edit from.
func violations(ve *contract.ValidationError) string {
	s := ""
	for _, v := range ve.Violations {
		path := v.Path
		if path == "" {
			path = "(root)"
		}
		s += fmt.Sprintf("  %s: %s", path, v.Message)
		if v.Value != "" {
			s += fmt.Sprintf(" (got %s)", v.Value)
		}
		s += "\n"
	}
	return s
}

// exitCode returns the code for an error returned by the root command.
func exitCode(err error) int {
	if err == nil {
		return exitOK
	}
	var ee *exitError
	if errors.As(err, &ee) {
		return ee.code
	}
	return exitUsage
}
