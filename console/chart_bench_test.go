package console

import (
	"context"
	"os"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/plumb-dev/plumb/store/sqlitestore"
)

// BenchmarkHourlyCharts measures one computation of the overview's hourly
// buckets (24 Stats windows), which runs in the background, on the store
// PLUMB_CONSOLE_BENCH_DB names (BenchmarkPages seeds one).
func BenchmarkHourlyCharts(b *testing.B) {
	path := os.Getenv("PLUMB_CONSOLE_BENCH_DB")
	if path == "" {
		b.Skip("set PLUMB_CONSOLE_BENCH_DB to a store's file (BenchmarkPages seeds one)")
	}
	st, err := sqlitestore.Open(path, sqlitestore.Config{})
	require.NoError(b, err)
	b.Cleanup(func() { _ = st.Close() })
	for b.Loop() {
		_, err := computeHourly(context.Background(), st)
		require.NoError(b, err)
	}
}
