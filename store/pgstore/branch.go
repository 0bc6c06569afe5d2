package pgstore

import (
	"context"
	"errors"

	"github.com/plumb-dev/plumb/store"
)

// SCAFFOLD: replaced by the real implementation before this branch lands.
var errNoBranches = errors.New("pgstore: branches are not implemented yet")

// Fork is not implemented yet.
func (s *Store) Fork(context.Context, store.Lease, store.Fork) error { return errNoBranches }

// Branches is not implemented yet.
func (s *Store) Branches(context.Context, store.BranchQuery) ([]store.Branch, error) {
	return nil, errNoBranches
}
