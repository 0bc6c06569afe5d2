package sqlitestore

import (
	"context"
	"errors"

	"github.com/plumb-dev/plumb/store"
)

// SCAFFOLD: replaced by the real implementation before this branch lands.
var errNoCancel = errors.New("sqlitestore: cancel and wait are not implemented yet")

// Cancel is not implemented yet.
func (s *Store) Cancel(context.Context, store.CancelRequest) (*store.Run, error) { return nil, errNoCancel }

// WaitRun is not implemented yet.
func (s *Store) WaitRun(context.Context, string) (*store.Run, error) { return nil, errNoCancel }
