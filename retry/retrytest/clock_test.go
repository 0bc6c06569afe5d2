package retrytest_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"

	"github.com/plumb-dev/plumb/retry/retrytest"
)

func TestClockMovesOnlyWhenTold(t *testing.T) {
	start := time.Date(2026, 11, 27, 2, 17, 0, 0, time.UTC)
	c := retrytest.NewClock(start)
	assert.Equal(t, start, c.Now())
	assert.NoError(t, c.Sleep(context.Background(), time.Minute))
	assert.Equal(t, start.Add(time.Minute), c.Now(), "Sleep advances instead of blocking")
	c.Advance(time.Hour)
	c.Set(c.Now().Add(time.Second))
	assert.Equal(t, start.Add(time.Hour+time.Minute+time.Second), c.Now())
	assert.Equal(t, []time.Duration{time.Minute}, c.Sleeps())

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	assert.ErrorIs(t, c.Sleep(ctx, time.Hour), context.Canceled)
	assert.Len(t, c.Sleeps(), 1, "a cancelled sleep is not taken")
}
