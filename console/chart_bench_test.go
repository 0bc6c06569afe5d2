package console

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/plumb-dev/plumb/store/sqlitestore"
)

// BenchmarkHourlyCharts measures the overview's hourly buckets (one
// StepHistory over 24 hours, as each overview request asks) on the store
// PLUMB_CONSOLE_BENCH_DB names (BenchmarkPages seeds one, or names the
// ops benchmark's store of a million runs).
func BenchmarkHourlyCharts(b *testing.B) {
	path := os.Getenv("PLUMB_CONSOLE_BENCH_DB")
	if path == "" {
		b.Skip("set PLUMB_CONSOLE_BENCH_DB to a store's file (BenchmarkPages seeds one)")
	}
	st, err := sqlitestore.Open(path, sqlitestore.Config{})
	require.NoError(b, err)
	b.Cleanup(func() { _ = st.Close() })
	for b.Loop() {
		_, _, err := hourly(context.Background(), st, time.Now())
		require.NoError(b, err)
	}
}
