package intake

import (
	"context"
	"time"
)

// seedPage bounds the runs Watch reads to find the source's newest: the
// store filters runs by pipeline, not by trigger source.
const seedPage = 500

// Watch reports silence until ctx ends, and then returns ctx's error:
// when Source.ExpectEvery passes without a valid delivery (accepted or a
// duplicate), one notify.Silent event naming "webhook:<name>" goes
// through the pipeline's notifier (Pipeline.Notify), and another only
// after deliveries came back and
// stopped again. It first seeds the count from the newest run this source
// submitted that the store holds, so that a process restarted during a
// silence still reports it. Without ExpectEvery it returns nil at once.
// Run it beside the server: go h.Watch(ctx).
func (h *Handler) Watch(ctx context.Context) error {
	if h.silence == nil || h.err != nil {
		return h.err
	}
	if at, ok := h.sink.lastSeen(ctx); ok {
		h.silence.Seed(h.src.trigger, at)
	}
	return h.silence.Run(ctx, checkEvery(h.src.ExpectEvery))
}

// checkEvery is how often Watch checks: a tenth of the expectation,
// between a second and a minute.
func checkEvery(expect time.Duration) time.Duration {
	return min(max(expect/10, time.Second), time.Minute)
}
