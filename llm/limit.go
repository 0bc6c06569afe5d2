package llm

import (
	"context"
	"sync"
	"time"

	"golang.org/x/time/rate"

	"github.com/plumb-dev/plumb/observe"
	"github.com/plumb-dev/plumb/retry"
)

// Limits are a provider account's rate limits for one model.
type Limits struct {
	// RequestsPerMinute bounds calls; 0 means no bound.
	RequestsPerMinute int
	// TokensPerMinute bounds input plus output tokens; 0 means no bound.
	// A call reserves its estimate (prompt characters / 4 plus MaxTokens)
	// before it is made and pays any excess after.
	TokensPerMinute int
	// Burst is how many requests may go at once before the rate applies.
	// Defaults to 1: calls are spaced evenly, which every provider's
	// window accepts.
	Burst int
	// Key names the shared limiter. Defaults to "<provider>/<model>" from
	// the model's Info: every step in the process that uses the model
	// shares one limiter. Set it when two accounts serve the same model.
	Key string
}

// limiters is the process-wide registry: one limiter per key, so that the
// limit holds for every step and pipeline using the model.
var limiters sync.Map // string -> *limiter

type limiter struct {
	requests *rate.Limiter
	tokens   *rate.Limiter
}

// Limit returns m behind the rate limiter for its key. A call waits for
// the limiter before it is made; the wait is not an attempt and not a
// failure, and it shows in telemetry (plumb.llm.wait, and an event on the
// call's span).
func Limit(m Model, l Limits) Model {
	info := m.Info()
	key := l.Key
	if key == "" {
		key = info.Provider + "/" + info.Model
	}
	fresh := &limiter{}
	if l.RequestsPerMinute > 0 {
		burst := l.Burst
		if burst <= 0 {
			burst = 1
		}
		fresh.requests = rate.NewLimiter(rate.Limit(float64(l.RequestsPerMinute)/60), burst)
	}
	if l.TokensPerMinute > 0 {
		fresh.tokens = rate.NewLimiter(rate.Limit(float64(l.TokensPerMinute)/60), l.TokensPerMinute)
	}
	got, _ := limiters.LoadOrStore(key, fresh)
	return &limited{Model: m, lim: got.(*limiter)}
}

type limited struct {
	Model
	lim *limiter
}

func (l *limited) Generate(ctx context.Context, req Request) (Response, error) {
	start := time.Now()
	if l.lim.requests != nil {
		if err := l.lim.requests.Wait(ctx); err != nil {
			return Response{}, l.waitErr(ctx, err)
		}
	}
	est := 0
	if l.lim.tokens != nil {
		est = estimateTokens(req)
		if b := l.lim.tokens.Burst(); est > b {
			est = b
		}
		if err := l.lim.tokens.WaitN(ctx, est); err != nil {
			return Response{}, l.waitErr(ctx, err)
		}
	}
	if w := time.Since(start); w > time.Millisecond {
		recordWait(ctx, observe.FromContext(ctx), l.Info(), "rate_limit", w)
	}
	resp, err := l.Model.Generate(ctx, req)
	if l.lim.tokens != nil {
		if extra := resp.Usage.Total() - est; extra > 0 {
			// Pay the debt now so the next calls wait for it.
			l.lim.tokens.ReserveN(time.Now(), min(extra, l.lim.tokens.Burst()))
		}
	}
	return resp, err
}

func (l *limited) waitErr(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return retry.Mark(retry.ClassCancelled, ctx.Err())
	}
	// The wait would outlast the context's deadline: a timeout, in effect.
	info := l.Info()
	return &Error{Provider: info.Provider, Model: info.Model, Kind: ErrTimeout, Class: retry.ClassTransient,
		Message: "rate limiter wait exceeds the deadline", Err: err}
}

func estimateTokens(req Request) int {
	chars := 0
	for _, m := range req.Messages {
		chars += len(m.Content)
	}
	if req.Output != nil {
		chars += len(req.Output.Schema)
	}
	return chars/4 + req.MaxTokens
}
