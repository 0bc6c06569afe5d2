package step

import "context"

// Interceptor sees every attempt of every step run under a context, before
// the step's function: it may fail the attempt with an error of any class,
// delay it, or panic (which the step turns into a *PanicError, as it would
// a panic of the function). pipelinetest injects its faults with one;
// chaos drills in staging can too.
type Interceptor func(ctx context.Context, step string, attempt int) error

type icKey struct{}

// WithInterceptor returns a context whose steps' attempts pass through ic.
func WithInterceptor(ctx context.Context, ic Interceptor) context.Context {
	return context.WithValue(ctx, icKey{}, ic)
}
