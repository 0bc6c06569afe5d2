package llm

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/plumb-dev/plumb/contract"
	"github.com/plumb-dev/plumb/retry"
	"github.com/plumb-dev/plumb/step"
)

// Options configure a structured model step. The zero value is a sensible
// default: two re-asks, at most eight model calls in all, three tries per
// model on transient failures.
type Options[In, Out any] struct {
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
	// Fallbacks are models tried in order when the one before is exhausted
	// (transient failures or broken answers past their limits) or
	// unavailable (permanent errors, refusals).
	Fallbacks []Model
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
	Budget step.Budget
	// Concurrency bounds the step's model calls in flight in this process.
	// Defaults to no bound.
	Concurrency int
	// Step holds the step's other policies: non-model fallbacks, the
	// failure route, review rules. Its Retry, Timeout and RecordsAttempts
	// are set by Structured.
	Step step.Config[In, Out]
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
// Out cannot be inferred from the arguments: write
// llm.Structured[Lead, Label](...).
func Structured[In, Out any](name string, model Model, prompt func(In) []Message, opts ...Options[In, Out]) *step.Step[In, Out] {
	return build(name, model, prompt, func(_ In, a Out) (Out, error) { return a, nil }, opts)
}

// StructuredInto is Structured for a step whose output is more than the
// model's answer: the model is asked for an Answer (its schema, its
// contract, its re-asks), and into combines the input and the answer into
// the step's Out (carrying the lead along with its classification, say).
func StructuredInto[In, Answer, Out any](name string, model Model, prompt func(In) []Message, into func(In, Answer) (Out, error), opts ...Options[In, Out]) *step.Step[In, Out] {
	return build(name, model, prompt, into, opts)
}

func build[In, A, Out any](name string, model Model, prompt func(In) []Message, into func(In, A) (Out, error), opts []Options[In, Out]) *step.Step[In, Out] {
	var o Options[In, Out]
	if len(opts) > 0 {
		o = opts[0]
	}
	cfg := o.Step
	cfg.RecordsAttempts = true
	cfg.Retry = retry.Never
	cfg.Timeout = 0
	var buildErr error
	c, err := contract.For[A]()
	switch {
	case err != nil:
		buildErr = err
	case model == nil:
		buildErr = errors.New("the model is nil")
	case prompt == nil:
		buildErr = errors.New("the prompt function is nil")
	case into == nil:
		buildErr = errors.New("the into function is nil")
	case len(opts) > 1:
		buildErr = fmt.Errorf("pass at most one Options, got %d", len(opts))
	}
	if buildErr != nil {
		return step.New(name, func(context.Context, In) (Out, error) {
			var zero Out
			return zero, retry.Permanent(fmt.Errorf("llm step %q: %w", name, buildErr))
		}, cfg)
	}
	r := &structured[In, A, Out]{name: name, models: append([]Model{model}, o.Fallbacks...), prompt: prompt, into: into, opts: o, contract: c}
	r.output = &OutputSchema{Name: schemaName(c.Schema().Name()), Schema: c.Schema().JSON()}
	if o.Concurrency > 0 {
		r.sem = make(chan struct{}, o.Concurrency)
	}
	return step.New(name, r.run, cfg)
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
	name     string
	models   []Model
	prompt   func(In) []Message
	into     func(In, A) (Out, error)
	opts     Options[In, Out]
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
	stepSpend *step.Spend
	runSpend  *step.Spend
	maxOut    int
}

func (r *structured[In, A, Out]) run(ctx context.Context, in In) (Out, error) {
	var zero Out
	st := &call{stepSpend: step.NewSpend(r.opts.Budget)}
	if ri := step.RunInfoFrom(ctx); ri != nil {
		st.runSpend = ri.Spend
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

// runModel asks one model until it answers well, is exhausted or is
// unavailable. next says whether the following model may be tried.
func (r *structured[In, A, Out]) runModel(ctx context.Context, st *call, m Model, index int, base []Message) (out A, err error, next bool) {
	info := m.Info()
	conv := append([]Message(nil), base...)
	sched := r.opts.Retry.Start()
	clock := r.opts.Retry.ClockOrDefault()
	reasks := 0
	note := ""
	if index > 0 {
		note = fallbackNote + info.Model
	}
	for {
		if st.calls >= r.maxCalls() {
			return out, retry.Budget(fmt.Errorf("llm step %q: attempt budget of %d model calls spent", r.name, r.maxCalls())), false
		}
		req := Request{Messages: conv, Output: r.output, MaxTokens: r.opts.MaxTokens, Temperature: r.opts.Temperature}
		if err := r.allow(st, info, req); err != nil {
			return out, err, false
		}
		st.calls++
		res := r.callModel(ctx, m, info, req, callMeta{number: st.calls, reask: reasks, fallback: index > 0})
		r.spend(st, info, res.resp)
		a := step.Attempt{Step: r.name, Note: callNote(note, reasks, st.calls), Start: res.start, Duration: res.duration,
			Raw: res.resp.Text, Model: modelName(res.resp, info), InputTokens: res.resp.Usage.InputTokens,
			OutputTokens: res.resp.Usage.OutputTokens, Cost: r.price(info, res.resp).Cost(res.resp.Usage)}
		note = ""
		callErr := res.err
		if callErr == nil || errors.Is(callErr, ErrTruncated) {
			var derr error
			out, derr = r.contract.Decode(res.resp.Text)
			if callErr == nil && derr == nil {
				step.Record(ctx, a)
				return out, nil, false
			}
			if callErr == nil {
				callErr = derr
			}
			a.SetError(callErr)
			if derr != nil {
				var ve *contract.ValidationError
				if errors.As(derr, &ve) {
					a.Violations, a.ViolationCount = ve.Violations, ve.Count()
				}
			}
			step.Record(ctx, a)
			if reasks >= r.reasks() {
				return out, callErr, true
			}
			reasks++
			conv = append(conv, Assistant(res.resp.Text), User(reaskMessage(callErr)))
			continue
		}
		a.SetError(callErr)
		class := retry.Classify(callErr)
		if ctx.Err() != nil {
			step.Record(ctx, a)
			return out, retry.Mark(retry.ClassCancelled, ctx.Err()), false
		}
		if class != retry.ClassTransient {
			step.Record(ctx, a)
			// Permanent errors and refusals: this model will not answer;
			// another may. A spent budget stops everything.
			return out, callErr, class != retry.ClassBudget && class != retry.ClassCancelled
		}
		d := sched.Next(callErr)
		if d.Waits() {
			if derr := step.Defer(ctx, clock.Now(), d.Wait, callErr); derr != nil {
				a.Wait = d.Wait
				step.Record(ctx, a)
				return out, derr, false
			}
		}
		if !d.Retry {
			step.Record(ctx, a)
			return out, callErr, true
		}
		a.Wait = d.Wait
		step.Record(ctx, a)
		if serr := clock.Sleep(ctx, d.Wait); serr != nil {
			return out, retry.Mark(retry.ClassCancelled, serr), false
		}
	}
}

// The notes a structured step writes on its attempts; Reask and
// FallbackModel read them back.
const (
	reaskNote    = "re-ask "
	fallbackNote = "fallback model "
)

// Reask says whether an attempt of a structured model step was a re-ask:
// the model asked again with the violations of its previous answer.
func Reask(a step.Attempt) bool { return strings.HasPrefix(a.Note, reaskNote) }

// FallbackModel returns the fallback model an attempt of a structured model
// step called, or "" when it called the primary model.
func FallbackModel(a step.Attempt) string {
	m, _ := strings.CutPrefix(a.Note, fallbackNote)
	if m == a.Note {
		return ""
	}
	return m
}

func callNote(note string, reasks, n int) string {
	switch {
	case note != "":
		return note
	case reasks > 0:
		return reaskNote + strconv.Itoa(reasks)
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
	if err := st.stepSpend.Allow("step", u.Total(), cost); err != nil {
		return fmt.Errorf("llm step %q: %w", r.name, err)
	}
	if err := st.runSpend.Allow("run", u.Total(), cost); err != nil {
		return fmt.Errorf("llm step %q: %w", r.name, err)
	}
	return nil
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
