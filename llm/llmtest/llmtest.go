package llmtest

import (
	"context"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/plumb-dev/plumb/llm"
	"github.com/plumb-dev/plumb/retry"
)

// Answer is one scripted answer: text, or an error, or both (a refusal
// carries its text and retry.ErrRefusal).
type Answer struct {
	Text   string
	Err    error
	Finish llm.FinishReason
	// Usage defaults to an estimate: four characters a token.
	Usage llm.Usage
}

// Text returns an answer of plain text.
func Text(s string) Answer { return Answer{Text: s} }

// JSON returns an answer that is v as JSON.
func JSON(v any) Answer {
	b, err := json.Marshal(v)
	if err != nil {
		return Answer{Err: retry.Permanent(fmt.Errorf("llmtest: cannot encode the scripted answer: %w", err))}
	}
	return Answer{Text: string(b)}
}

// Config scripts a Model. Answers are taken from the queue first, then from
// Respond; Faults are injected on top, deterministically from their seed.
type Config struct {
	// Provider and Model name the fake. Default to "llmtest" and
	// "scripted".
	Provider string
	Model    string
	// Answers are returned in order, one per call.
	Answers []Answer
	// Respond answers when the queue is empty. Defaults to an error saying
	// the script ran out.
	Respond func(req llm.Request) Answer
	// Faults are injected into the answers.
	Faults Faults
	// RequestsPerMinute, when set, makes the fake a provider with a rate
	// limit: a call beyond that many in the trailing minute gets a 429
	// with a Retry-After.
	RequestsPerMinute int
	// Now is the fake's clock for its rate limit. Defaults to time.Now.
	Now func() time.Time
	// Latency delays each answer (the context can cut it short).
	Latency time.Duration
	// Key, when set, names the item a request is about (a lead's id, say):
	// faults are then drawn from a stream of the item's own, seeded from
	// Seed and the key, so the same item meets the same faults whatever
	// order concurrent workers call the model in. Without it, faults come
	// from one stream in call order.
	Key func(req llm.Request) string
}

// Model is a scripted llm.Model. It is safe for concurrent use.
type Model struct {
	cfg    Config
	mu     sync.Mutex
	rng    *rand.Rand
	queue  []Answer
	calls  []llm.Request
	counts map[Fault]int
	recent []time.Time
	byKey  map[string]*rand.Rand
}

var _ llm.Model = (*Model)(nil)

// New returns a scripted model.
func New(cfg Config) *Model {
	if cfg.Provider == "" {
		cfg.Provider = "llmtest"
	}
	if cfg.Model == "" {
		cfg.Model = "scripted"
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	seed := uint64(cfg.Faults.Seed)
	return &Model{cfg: cfg, rng: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)), queue: append([]Answer(nil), cfg.Answers...), counts: map[Fault]int{}}
}

// Info names the fake.
func (m *Model) Info() llm.Info { return llm.Info{Provider: m.cfg.Provider, Model: m.cfg.Model} }

// Generate answers a call: from the script, with faults injected.
func (m *Model) Generate(ctx context.Context, req llm.Request) (llm.Response, error) {
	m.mu.Lock()
	m.calls = append(m.calls, req)
	if err := m.rateLimited(); err != nil {
		m.counts[FaultRateLimited]++
		m.mu.Unlock()
		return llm.Response{}, err
	}
	var a Answer
	scripted := len(m.queue) > 0
	if scripted {
		a, m.queue = m.queue[0], m.queue[1:]
	} else if m.cfg.Respond == nil {
		scripted = true
		a = Answer{Err: retry.Permanent(fmt.Errorf("llmtest: the script has no answer for call %d", len(m.calls)))}
	}
	rng := m.rng
	if m.cfg.Key != nil {
		rng = m.keyed(m.cfg.Key(req))
	}
	fault := m.cfg.Faults.pick(rng)
	m.counts[fault]++
	m.mu.Unlock()

	if !scripted {
		a = m.cfg.Respond(req)
	}
	if m.cfg.Latency > 0 {
		t := time.NewTimer(m.cfg.Latency)
		select {
		case <-ctx.Done():
			t.Stop()
			return llm.Response{}, m.errorf(llm.ErrTimeout, retry.ClassTransient, 0, "no answer before the deadline", ctx.Err())
		case <-t.C:
		}
	}
	if err := ctx.Err(); err != nil {
		return llm.Response{}, err
	}
	m.mu.Lock()
	a = m.inject(fault, a, req, rng)
	m.mu.Unlock()
	resp := llm.Response{Text: a.Text, Model: m.cfg.Model, FinishReason: a.Finish, Usage: a.Usage}
	if resp.FinishReason == "" {
		resp.FinishReason = llm.FinishStop
	}
	if resp.Usage == (llm.Usage{}) && (a.Text != "" || a.Err == nil) {
		chars := 0
		for _, msg := range req.Messages {
			chars += len(msg.Content)
		}
		resp.Usage = llm.Usage{InputTokens: max(1, chars/4), OutputTokens: max(1, len(a.Text)/4)}
	}
	if a.Err != nil {
		if a.Text == "" {
			return llm.Response{Model: m.cfg.Model}, a.Err
		}
		return resp, a.Err
	}
	return resp, nil
}

// keyed returns the fault stream of one item. m.mu is held.
func (m *Model) keyed(key string) *rand.Rand {
	if r, ok := m.byKey[key]; ok {
		return r
	}
	if m.byKey == nil {
		m.byKey = map[string]*rand.Rand{}
	}
	h := fnv.New64a()
	h.Write([]byte(key))
	r := rand.New(rand.NewPCG(uint64(m.cfg.Faults.Seed), h.Sum64()))
	m.byKey[key] = r
	return r
}

// rateLimited answers 429 when the trailing minute is full.
func (m *Model) rateLimited() error {
	if m.cfg.RequestsPerMinute <= 0 {
		return nil
	}
	now := m.cfg.Now()
	cut := now.Add(-time.Minute)
	i := 0
	for i < len(m.recent) && !m.recent[i].After(cut) {
		i++
	}
	m.recent = m.recent[i:]
	if len(m.recent) >= m.cfg.RequestsPerMinute {
		wait := m.recent[0].Sub(cut)
		return m.errorf(llm.ErrRateLimited, retry.ClassTransient, 429,
			fmt.Sprintf("more than %d requests per minute", m.cfg.RequestsPerMinute), nil, wait)
	}
	m.recent = append(m.recent, now)
	return nil
}

func (m *Model) errorf(kind error, class retry.Class, status int, msg string, cause error, after ...time.Duration) *llm.Error {
	e := &llm.Error{Provider: m.cfg.Provider, Model: m.cfg.Model, Kind: kind, Class: class, StatusCode: status, Message: msg, Err: cause}
	if len(after) > 0 {
		e.After = after[0]
	}
	return e
}

// Calls returns every request made so far.
func (m *Model) Calls() []llm.Request {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]llm.Request(nil), m.calls...)
}

// Injected returns how many calls got each fault ("none" included).
func (m *Model) Injected() map[Fault]int {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make(map[Fault]int, len(m.counts))
	for k, v := range m.counts {
		out[k] = v
	}
	return out
}
