package pgstore_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/plumb-dev/plumb/store"
	"github.com/plumb-dev/plumb/store/pgstore"
)

func drain(c <-chan struct{}) {
	for {
		select {
		case <-c:
		default:
			return
		}
	}
}

// waitWake returns how long the wake-up took, or fails after limit.
func waitWake(t *testing.T, c <-chan struct{}, start time.Time, limit time.Duration) time.Duration {
	t.Helper()
	select {
	case _, ok := <-c:
		require.True(t, ok, "the subscription ended")
		return time.Since(start)
	case <-time.After(limit):
		t.Fatalf("no wake-up within %s", limit)
		return 0
	}
}

// An idle worker's subscription is woken within 100 ms of an Enqueue made
// through another pool (another process, as far as the server knows).
func TestWakeUpAcrossPools(t *testing.T) {
	sub := openStore(t, pgstore.Config{})
	pub := openStore(t, pgstore.Config{Schema: sub.Schema()})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	c, err := sub.Subscribe(ctx)
	require.NoError(t, err)
	var lat []time.Duration
	for i := range 5 {
		time.Sleep(30 * time.Millisecond) // idle again: the write notifies in its own transaction
		drain(c)
		start := time.Now()
		_, _, err := pub.Enqueue(ctx, store.NewRun{ID: fmt.Sprintf("run-%d", i), Pipeline: "leads"})
		require.NoError(t, err)
		// The subscription never polls: a wake-up within the second is the
		// notification's (how fast is BenchmarkClaimCheckpointFinish's to say).
		d := waitWake(t, c, start, time.Second)
		lat = append(lat, d)
	}
	t.Logf("enqueue-to-wake-up latencies: %v", lat)

	cancel()
	select {
	case _, ok := <-c:
		for ok {
			_, ok = <-c
		}
	case <-time.After(time.Second):
		t.Fatal("the channel is not closed when the subscriber's context ends")
	}
}

// Writes closer together than NotifyEvery share one notification, sent
// once the interval has passed: none is lost.
func TestWakeUpsCoalesce(t *testing.T) {
	sub := openStore(t, pgstore.Config{})
	// An interval long enough that a loaded machine's delays stay well
	// inside it.
	const every = 2 * time.Second
	pub := openStore(t, pgstore.Config{Schema: sub.Schema(), NotifyEvery: every})
	ctx := t.Context()
	c, err := sub.Subscribe(ctx)
	require.NoError(t, err)
	start := time.Now()
	_, _, err = pub.Enqueue(ctx, store.NewRun{ID: "first", Pipeline: "leads"})
	require.NoError(t, err)
	// At once, not at the end of the interval the later writes wait for.
	assert.Less(t, waitWake(t, c, start, every), every*3/4, "the first write notifies at once")
	for i := range 5 {
		_, _, err = pub.Enqueue(ctx, store.NewRun{ID: fmt.Sprintf("more-%d", i), Pipeline: "leads"})
		require.NoError(t, err)
	}
	select {
	case <-c:
		assert.GreaterOrEqual(t, time.Since(start), every*3/4, "the writes within the interval wait for its end")
	case <-time.After(3 * every):
		t.Fatal("the writes within the interval were never announced")
	}
}

// When the LISTEN connection is cut, the subscription reconnects, says so
// with a wake-up (notifications may have been lost meanwhile), and wakes
// promptly again.
func TestWakeUpsSurviveAConnectionCut(t *testing.T) {
	app := appName("plumb-listen")
	sub := openStoreDSN(t, withParam(testDSN(t), "application_name", app), pgstore.Config{})
	pub := openStore(t, pgstore.Config{Schema: sub.Schema()})
	ctx := t.Context()
	c, err := sub.Subscribe(ctx)
	require.NoError(t, err)
	drain(c)
	require.Positive(t, terminateBackends(t, app))
	waitWake(t, c, time.Now(), 5*time.Second)
	drain(c)
	start := time.Now()
	_, _, err = pub.Enqueue(ctx, store.NewRun{ID: "after-cut", Pipeline: "leads"})
	require.NoError(t, err)
	waitWake(t, c, start, 2*time.Second) // no polling: this wake-up is the notification's
	require.NoError(t, sub.Close())
	select {
	case _, ok := <-c:
		for ok {
			_, ok = <-c
		}
	case <-time.After(time.Second):
		t.Fatal("Close does not end the subscription")
	}
}
