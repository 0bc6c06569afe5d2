package deadletter

import (
	"context"
	"fmt"

	"github.com/plumb-dev/plumb/store"
)

// Store returns a sink that keeps each letter in s: Send records the
// letter's run (Letter.Record) with Import, as a dead-lettered run of the
// canonical record. A letter for a run the store already holds changes
// nothing, since the store's own record is the truth. It is how any store
// becomes a dead-letter sink; stores do not implement Sink themselves.
func Store(s store.Ops) Sink { return storeSink{ops: s} }

type storeSink struct{ ops store.Ops }

var _ Named = storeSink{}

// Send imports the letter's record.
func (k storeSink) Send(ctx context.Context, l *Letter) error {
	if _, err := k.ops.Import(ctx, l.Record()); err != nil {
		return fmt.Errorf("deadletter: record run %s in the store: %w", l.RunID, err)
	}
	return nil
}

// Name returns "store:" and the store's Go type.
func (k storeSink) Name() string { return fmt.Sprintf("store:%T", k.ops) }
