package llm_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/plumb-dev/plumb/llm"
	"github.com/plumb-dev/plumb/llm/llmtest"
	"github.com/plumb-dev/plumb/retry"
)

var keys atomic.Int64

// key makes a limiter key of its own for each test run: limiters are shared
// process-wide, and each synctest bubble starts its clock afresh.
func key(t *testing.T) string { return fmt.Sprintf("%s-%d", t.Name(), keys.Add(1)) }

// counting wraps a model to count the 429s it answers.
type counting struct {
	llm.Model
	limited atomic.Int64
}

func (c *counting) Generate(ctx context.Context, req llm.Request) (llm.Response, error) {
	resp, err := c.Model.Generate(ctx, req)
	if errors.Is(err, llm.ErrRateLimited) {
		c.limited.Add(1)
	}
	return resp, err
}

// drive runs items through a structured step at the given concurrency and
// returns how many succeeded.
func drive(t *testing.T, m llm.Model, items, concurrency int) int {
	s := llm.Structured[Label]("classify", m, prompt, llm.Options{
		Retry: retry.Policy{MaxAttempts: 1}, MaxCalls: 1,
	})
	work := make(chan int)
	var ok atomic.Int64
	var wg sync.WaitGroup
	for w := 0; w < concurrency; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range work {
				if _, err := s.Run(context.Background(), lead); err == nil {
					ok.Add(1)
				}
			}
		}()
	}
	for i := 0; i < items; i++ {
		work <- i
	}
	close(work)
	wg.Wait()
	return int(ok.Load())
}

func TestRateLimiterKeepsAProviderUnder60RequestsPerMinute(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		// The fake provider answers 429 above 60 requests in any minute.
		provider := &counting{Model: llmtest.New(llmtest.Config{Model: "rpm-60", RequestsPerMinute: 60,
			Respond: func(llm.Request) llmtest.Answer { return llmtest.Text(good) }})}
		limited := llm.Limit(provider, llm.Limits{RequestsPerMinute: 60, Key: key(t)})

		start := time.Now()
		succeeded := drive(t, limited, 500, 32)
		elapsed := time.Since(start)

		assert.Zero(t, provider.limited.Load(), "no 429 once the limiter matches the account's limit")
		assert.Equal(t, 500, succeeded, "every item succeeds, with no retries at all")
		// 500 calls at one a second take a little over eight minutes of
		// (virtual) time: the limiter spaced them, it did not drop them.
		assert.InDelta(t, (499 * time.Second).Seconds(), elapsed.Seconds(), 2)
	})
}

func TestWithoutTheLimiterTheProviderRefuses(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		provider := &counting{Model: llmtest.New(llmtest.Config{Model: "rpm-60-raw", RequestsPerMinute: 60,
			Respond: func(llm.Request) llmtest.Answer { return llmtest.Text(good) }})}
		succeeded := drive(t, provider, 500, 32)
		assert.Equal(t, int64(440), provider.limited.Load(), "the test's provider really limits")
		assert.Equal(t, 60, succeeded)
	})
}

func TestTokensPerMinuteLimit(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		m := llmtest.New(llmtest.Config{Model: "tpm", Respond: func(llm.Request) llmtest.Answer {
			return llmtest.Answer{Text: good, Usage: llm.Usage{InputTokens: 900, OutputTokens: 100}}
		}})
		limited := llm.Limit(m, llm.Limits{TokensPerMinute: 10_000, Key: key(t)})
		start := time.Now()
		require.Equal(t, 30, drive(t, limited, 30, 4))
		// 30 calls of 1,000 tokens at 10,000 a minute: the first ten go
		// within the burst; the others wait for what the calls before
		// them spent (all but the few still in flight), about 100 s.
		assert.GreaterOrEqual(t, time.Since(start), 90*time.Second)
	})
}

func TestLimitersAreSharedPerModel(t *testing.T) {
	m := llmtest.New(llmtest.Config{Model: key(t)})
	a := llm.Limit(m, llm.Limits{RequestsPerMinute: 10})
	b := llm.Limit(m, llm.Limits{RequestsPerMinute: 10})
	assert.Equal(t, a.Info(), b.Info())
	synctest.Test(t, func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		_, _ = a.Generate(ctx, llm.Request{})
		_, err := b.Generate(ctx, llm.Request{})
		assert.ErrorIs(t, err, llm.ErrTimeout, "the second wrapper waits on the same limiter, past the deadline")
	})
}
