package llm

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/plumb-dev/plumb/contract"
	"github.com/plumb-dev/plumb/internal/attempt"
	"github.com/plumb-dev/plumb/retry"
	"github.com/plumb-dev/plumb/step"
)

// Options configure a structured model step. The zero value is a sensible
// default: two re-asks, at most eight model calls in all, three tries per
// model on transient failures, no fallback model.
type Options struct {
	// Reasks bounds how often a broken answer is sent back to the same
	// model with its violations listed. Defaults to 2; negative means none.
	Reasks int
	// MaxCalls is the step's one attempt budget: every model call counts
	// against it, whether a first try, a transport retry, a re-ask or a
	// fallback model's call. Waiting for a rate limiter is not a call.
	// Defaults to 8.
	MaxCalls int
	// Retry paces transport retries (timeouts, 429, 5xx), honouring
	// Retry-After; its MaxAttempts bounds calls to one model in a row
	// before the next model is tried. Defaults to retry.Policy{}.
	Retry retry.Policy
	// Timeout bounds each call. Defaults to 60 s.
	Timeout time.Duration
	// FallbackModels are models tried in order, inside the step, when the
	// one before is exhausted (transient failures or broken answers past
	// their limits) or unavailable (permanent errors, refusals). Fallback
	// steps (a rule, a cached answer) are added to the step with Or, and
	// are tried after every model. Defaults to none.
	FallbackModels []Model
	// MaxTokens caps each answer. Defaults to the adapter's default.
	MaxTokens int
	// Temperature, when not nil, sets the sampling temperature.
	Temperature *float64
	// Prices gives each model's price, by model name, for cost accounting
	// and cost budgets. Models without a price cost nothing.
	Prices map[string]Price
	// Budget bounds one run of the step (all its calls). The run's own
	// budget, if the pipeline sets one, applies too. A call is refused when
	// its estimate (prompt characters / 4, plus MaxTokens, or the longest
	// answer seen when MaxTokens is not set) would cross a budget: with
	// MaxTokens set, a budget is never exceeded.
	Budget Budget
	// Concurrency bounds the step's model calls in flight in this process.
	// Defaults to no bound.
	Concurrency int
	// Step holds the step's other policies: the failure route, review
	// rules, whether to check the input's contract. Its Retry and Timeout
	// are ignored: the model calls have their own (Retry, Timeout above).
	Step step.Config
}

// Defaults for Options.
const (
	DefaultReasks   = 2
	DefaultMaxCalls = 8
	DefaultTimeout  = 60 * time.Second
)

// Price is what a model charges per million tokens.
type Price struct {
	InputPerMillion  float64 `json:"input_per_million"`
	OutputPerMillion float64 `json:"output_per_million"`
}

// Cost returns the price of u.
func (p Price) Cost(u Usage) float64 {
	return (float64(u.InputTokens)*p.InputPerMillion + float64(u.OutputTokens)*p.OutputPerMillion) / 1e6
}

// Structured returns a step that asks model for an Out, built from the
// messages prompt makes of the input. It sends Out's JSON Schema, decodes
// the answer leniently (contract.Decode), checks it against the schema and
// Out's Validate method, and re-asks with the violations listed when the
// answer breaks the contract. Transient failures are retried with backoff;
// when a model is exhausted or unavailable, the fallback models are tried
// in order; all of it within one budget of calls (Options.MaxCalls) and the
// token and cost budgets. Every call, with the model's raw answer and its
// violations, is recorded in the step's attempts.
//
// Out cannot be inferred from the arguments, and comes first so that a
// call names it alone: llm.Structured[Label]("classify", model, prompt,
// llm.Options{}) for a prompt of a func(Lead) []Message. A problem with
// the definition (a nil model, prompt or fallback model, a type that
// cannot have a contract) is reported by the step's Err, and by the
// pipeline it is added to, before any run.
func Structured[Out, In any](name string, model Model, prompt func(In) []Message, o Options) *step.Step[In, Out] {
	return build(name, model, prompt, func(_ In, a Out) (Out, error) { return a, nil }, o)
}

// StructuredInto is Structured for a step whose output is more than the
// model's answer: the model is asked for an Answer (its schema, its
// contract, its re-asks), and into combines the input and the answer into
// the step's Out (carrying the lead along with its classification, say).
// Every type is inferred from prompt and into; an explicit instantiation
// names the types in the order they are least inferable: Answer, Out, In.
func StructuredInto[Answer, Out, In any](name string, model Model, prompt func(In) []Message, into func(In, Answer) (Out, error), o Options) *step.Step[In, Out] {
	return build(name, model, prompt, into, o)
}

func build[In, A, Out any](name string, model Model, prompt func(In) []Message, into func(In, A) (Out, error), o Options) *step.Step[In, Out] {
	cfg := o.Step
	cfg.Retry = retry.Never
	cfg.Timeout = 0
	var errs []error
	c, err := contract.For[A]()
	if err != nil {
		errs = append(errs, fmt.Errorf("answer contract: %w", err))
	}
	if model == nil {
		errs = append(errs, errors.New("the model is nil"))
	}
	for i, fb := range o.FallbackModels {
		if fb == nil {
			errs = append(errs, fmt.Errorf("fallback model %d is nil", i))
		}
	}
	if prompt == nil {
		errs = append(errs, errors.New("the prompt function is nil"))
	}
	if into == nil {
		errs = append(errs, errors.New("the into function is nil"))
	}
	if buildErr := errors.Join(errs...); buildErr != nil {
		// A build error, reported by the step's Err and the pipeline's
		// before any run; the function is never called.
		return attempt.Plumb(step.New(name, func(context.Context, In) (Out, error) {
			var zero Out
			return zero, retry.Permanent(fmt.Errorf("llm step %q: %w", name, buildErr))
		}, cfg), attempt.Plumbing{Err: fmt.Errorf("llm step %q: %w", name, buildErr)})
	}
	r := &structured[In, A, Out]{name: name, models: append([]Model{model}, o.FallbackModels...), prompt: prompt, into: into, opts: o, retry: attempt.NewRetry(o.Retry), contract: c}
	r.output = &OutputSchema{Name: schemaName(c.Schema().Name()), Schema: c.Schema().JSON()}
	if o.Concurrency > 0 {
		r.sem = make(chan struct{}, o.Concurrency)
	}
	return attempt.Plumb(step.New(name, r.run, cfg), attempt.Plumbing{SelfRecording: true})
}

var nameUnsafe = regexp.MustCompile(`[^a-zA-Z0-9_-]+`)

// schemaName makes a provider-safe schema name ([a-zA-Z0-9_-]{1,64}).
func schemaName(s string) string {
	s = nameUnsafe.ReplaceAllString(s, "_")
	if s == "" {
		s = "output"
	}
	if len(s) > 64 {
		s = s[:64]
	}
	return s
}

type structured[In, A, Out any] struct {
	name   string
	models []Model
	prompt func(In) []Message
	into   func(In, A) (Out, error)
	opts   Options
	// retry is opts.Retry, ready to run under a run's clock.
	retry    attempt.Retry
	contract *contract.Contract[A]
	output   *OutputSchema
	sem      chan struct{}
	// maxOut is the longest answer seen, in tokens: the estimate of the
	// next answer's length when MaxTokens does not bound it.
	maxOut atomic.Int64
}

func (r *structured[In, A, Out]) reasks() int {
	switch {
	case r.opts.Reasks < 0:
		return 0
	case r.opts.Reasks == 0:
		return DefaultReasks
	}
	return r.opts.Reasks
}

func (r *structured[In, A, Out]) maxCalls() int {
	if r.opts.MaxCalls <= 0 {
		return DefaultMaxCalls
	}
	return r.opts.MaxCalls
}

func (r *structured[In, A, Out]) timeout() time.Duration {
	if r.opts.Timeout <= 0 {
		return DefaultTimeout
	}
	return r.opts.Timeout
}

// call is one invocation's state, across models.
type call struct {
	calls     int
	stepSpend *attempt.Spend
	runSpend  *attempt.Spend
	maxOut    int
}

func (r *structured[In, A, Out]) run(ctx context.Context, in In) (Out, error) {
	var zero Out
	st := &call{stepSpend: attempt.NewSpend(r.opts.Budget.Tokens, r.opts.Budget.Cost)}
	if env := attempt.EnvFrom(ctx); env != nil {
		st.runSpend = env.Spend
	}
	base := r.prompt(in)
	var lastErr error
	for i, m := range r.models {
		answer, err, next := r.runModel(ctx, st, m, i, base)
		if err == nil {
			return r.into(in, answer)
		}
		lastErr = err
		if !next {
			break
		}
	}
	return zero, lastErr
}

// runModel asks one model, through the attempt loop that plain steps use,
// until it answers well, is exhausted or is unavailable. Transport
// failures back off by Options.Retry (a long wait defers the run to the
// queue); a broken answer is re-asked at once. next says whether the
// following model may be tried.
func (r *structured[In, A, Out]) runModel(ctx context.Context, st *call, m Model, index int, base []Message) (out A, err error, next bool) {
	info := m.Info()
	conv := append([]Message(nil), base...)
	pol := r.retry.For(ctx)
	loop := attempt.Loop{Schedule: pol.Start(), Clock: pol.Clock}
	kind, fallback := step.AttemptCall, ""
	if index > 0 {
		kind, fallback = step.AttemptFallbackModel, info.Model
	}
	reasks := 0
	// The record of the last call waits until the loop has written the
	// wait taken after it.
	var pending step.Attempt
	held := false
	flush := func() {
		if held {
			attempt.Record(ctx, pending)
			held = false
		}
	}
	err, until := loop.Run(ctx, func() attempt.Outcome {
		flush()
		if st.calls >= r.maxCalls() {
			next = false
			return attempt.Outcome{Err: retry.Budget(fmt.Errorf("llm step %q: attempt budget of %d model calls spent", r.name, r.maxCalls())), Then: attempt.Stop}
		}
		req := Request{Messages: conv, Output: r.output, MaxTokens: r.opts.MaxTokens, Temperature: r.opts.Temperature}
		if err := r.allow(st, info, req); err != nil {
			next = false
			return attempt.Outcome{Err: err, Then: attempt.Stop}
		}
		st.calls++
		res := r.callModel(ctx, m, info, req, callMeta{number: st.calls, reask: reasks, fallback: index > 0})
		r.spend(st, info, res.resp)
		pending = step.Attempt{Step: r.name, Kind: kind, Reask: reasks, FallbackModel: fallback, Note: callNote(kind, reasks, fallback),
			Start: res.start, Duration: res.duration, Raw: res.resp.Text, Model: modelName(res.resp, info),
			InputTokens: res.resp.Usage.InputTokens, OutputTokens: res.resp.Usage.OutputTokens, Cost: r.price(info, res.resp).Cost(res.resp.Usage)}
		held = true
		a := &pending
		callErr := res.err
		if callErr == nil || errors.Is(callErr, ErrTruncated) {
			var derr error
			out, derr = r.contract.Decode(res.resp.Text)
			if callErr == nil && derr == nil {
				return attempt.Outcome{}
			}
			if callErr == nil {
				callErr = derr
			}
			a.SetError(callErr)
			var ve *contract.ValidationError
			if derr != nil && errors.As(derr, &ve) {
				a.Violations, a.ViolationCount = ve.Violations, ve.Count()
			}
			if reasks >= r.reasks() {
				next = true
				return attempt.Outcome{Err: callErr, Then: attempt.Stop}
			}
			reasks++
			kind = step.AttemptReask
			conv = append(conv, Assistant(echoed(res.resp.Text)), User(reaskMessage(callErr)))
			return attempt.Outcome{Err: callErr, Then: attempt.Now}
		}
		a.SetError(callErr)
		if class := retry.Classify(callErr); class != retry.ClassTransient {
			// Permanent errors and refusals: this model will not answer;
			// another may. A spent budget stops everything.
			next = class != retry.ClassBudget && class != retry.ClassCancelled
			return attempt.Outcome{Err: callErr, Then: attempt.Stop}
		}
		// Past its retries, a model that keeps failing gives way to the next.
		next = true
		kind = step.AttemptRetry
		return attempt.Outcome{Err: callErr, Then: attempt.Backoff, Wait: &a.Wait}
	})
	flush()
	if !until.IsZero() {
		// The run waits in the queue for this model.
		return out, &step.DeferredError{Until: until, Err: err}, false
	}
	if err != nil && ctx.Err() != nil {
		return out, err, false
	}
	return out, err, next
}

// Reask says whether an attempt of a structured model step was a re-ask:
// the model asked again with the violations of its previous answer. It
// reads Attempt.Kind (Attempt.Reask numbers the re-asks).
func Reask(a step.Attempt) bool { return a.Kind == step.AttemptReask }

// FallbackModel returns the fallback model an attempt of a structured model
// step called, or "" when it called the primary model. It reads
// Attempt.FallbackModel.
func FallbackModel(a step.Attempt) string { return a.FallbackModel }

// callNote is the attempt's Note, for people; Kind, Reask and
// FallbackModel say the same for code.
func callNote(kind step.AttemptKind, reasks int, fallback string) string {
	switch {
	case kind == step.AttemptFallbackModel:
		return "fallback model " + fallback
	case reasks > 0:
		return "re-ask " + strconv.Itoa(reasks)
	}
	return ""
}

func modelName(resp Response, info Info) string {
	if resp.Model != "" {
		return resp.Model
	}
	return info.Model
}

func (r *structured[In, A, Out]) price(info Info, resp Response) Price {
	if p, ok := r.opts.Prices[modelName(resp, info)]; ok {
		return p
	}
	return r.opts.Prices[info.Model]
}

// estimate is what the next call may spend: its prompt (about four
// characters a token) plus its longest possible answer.
func (r *structured[In, A, Out]) estimate(st *call, req Request) Usage {
	chars := len(req.Output.Schema)
	for _, m := range req.Messages {
		chars += len(m.Content)
	}
	out := req.MaxTokens
	if out == 0 {
		out = max(st.maxOut, int(r.maxOut.Load()))
	}
	return Usage{InputTokens: chars / 4, OutputTokens: out}
}

// allow refuses a call that would exceed the step's or the run's budget.
func (r *structured[In, A, Out]) allow(st *call, info Info, req Request) error {
	u := r.estimate(st, req)
	cost := r.opts.Prices[info.Model].Cost(u)
	if err := allowed(st.stepSpend, "step", u.Total(), cost); err != nil {
		return fmt.Errorf("llm step %q: %w", r.name, err)
	}
	if err := allowed(st.runSpend, "run", u.Total(), cost); err != nil {
		return fmt.Errorf("llm step %q: %w", r.name, err)
	}
	return nil
}

// allowed refuses, with a *BudgetExceededError naming scope, spending
// that would cross s's budget.
func allowed(s *attempt.Spend, scope string, tokens int, cost float64) error {
	ok, spentTokens, spentCost := s.Allow(tokens, cost)
	if ok {
		return nil
	}
	limitTokens, limitCost := s.Limit()
	return &BudgetExceededError{Scope: scope, Limit: Budget{Tokens: limitTokens, Cost: limitCost},
		SpentTokens: spentTokens, NextTokens: tokens, SpentCost: spentCost, NextCost: cost}
}

func (r *structured[In, A, Out]) spend(st *call, info Info, resp Response) {
	cost := r.price(info, resp).Cost(resp.Usage)
	st.stepSpend.Add(resp.Usage.Total(), cost)
	st.runSpend.Add(resp.Usage.Total(), cost)
	if resp.Usage.OutputTokens > st.maxOut {
		st.maxOut = resp.Usage.OutputTokens
	}
	for {
		cur := r.maxOut.Load()
		if int64(resp.Usage.OutputTokens) <= cur || r.maxOut.CompareAndSwap(cur, int64(resp.Usage.OutputTokens)) {
			break
		}
	}
}
