package attempt

import "sync"

// Spend counts what a run, or one run of a model step, has spent against
// its budget. It is safe for concurrent use; a nil *Spend has no budget.
type Spend struct {
	limitTokens int
	limitCost   float64
	mu          sync.Mutex
	tokens      int
	cost        float64
}

// NewSpend returns a Spend against a budget of tokens and cost; zero
// bounds nothing.
func NewSpend(tokens int, cost float64) *Spend {
	return &Spend{limitTokens: tokens, limitCost: cost}
}

// Bound sets a fresh Spend's budget, for a Spend kept inside another
// value (which saves an allocation); zero bounds nothing.
func (s *Spend) Bound(tokens int, cost float64) { s.limitTokens, s.limitCost = tokens, cost }

// Add records spending.
func (s *Spend) Add(tokens int, cost float64) {
	if s == nil {
		return
	}
	s.mu.Lock()
	s.tokens += tokens
	s.cost += cost
	s.mu.Unlock()
}

// Total returns what has been spent.
func (s *Spend) Total() (tokens int, cost float64) {
	if s == nil {
		return 0, 0
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.tokens, s.cost
}

// Allow reports whether spending tokens and cost more stays within the
// budget, and what had been spent.
func (s *Spend) Allow(tokens int, cost float64) (ok bool, spentTokens int, spentCost float64) {
	if s == nil {
		return true, 0, 0
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	over := s.limitTokens > 0 && s.tokens+tokens > s.limitTokens ||
		s.limitCost > 0 && s.cost+cost > s.limitCost
	return !over, s.tokens, s.cost
}

// Limit returns the budget: tokens and cost, zero for no bound.
func (s *Spend) Limit() (tokens int, cost float64) {
	if s == nil {
		return 0, 0
	}
	return s.limitTokens, s.limitCost
}
