package step

import (
	"fmt"
	"sync"

	"github.com/plumb-dev/plumb/retry"
)

// Budget bounds what a run, or a step, may spend on models. Zero fields
// are unbounded.
type Budget struct {
	// Tokens bounds input plus output tokens.
	Tokens int `json:"tokens,omitempty"`
	// Cost bounds the money spent, in the currency of the prices given.
	Cost float64 `json:"cost,omitempty"`
}

// Spend counts what has been spent against a Budget. It is safe for
// concurrent use.
type Spend struct {
	limit  Budget
	mu     sync.Mutex
	tokens int
	cost   float64
}

// NewSpend returns a Spend against limit.
func NewSpend(limit Budget) *Spend { return &Spend{limit: limit} }

// Limit returns the budget.
func (s *Spend) Limit() Budget { return s.limit }

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

// BudgetExceededError says a call would spend more than the budget allows.
type BudgetExceededError struct {
	// Scope is "run" or "step".
	Scope string
	Limit Budget
	// Spent is what was spent before the refused call; Next is the call's
	// estimate.
	SpentTokens, NextTokens int
	SpentCost, NextCost     float64
}

func (e *BudgetExceededError) Error() string {
	if e.Limit.Tokens > 0 && e.SpentTokens+e.NextTokens > e.Limit.Tokens {
		return fmt.Sprintf("%s token budget of %d would be exceeded: %d spent, the next call needs about %d",
			e.Scope, e.Limit.Tokens, e.SpentTokens, e.NextTokens)
	}
	return fmt.Sprintf("%s cost budget of %.4f would be exceeded: %.4f spent, the next call costs up to %.4f",
		e.Scope, e.Limit.Cost, e.SpentCost, e.NextCost)
}

// Is matches retry.ErrBudget.
func (e *BudgetExceededError) Is(target error) bool { return target == retry.ErrBudget }

// Allow reports, as a *BudgetExceededError, whether spending tokens and cost
// more would exceed the budget. scope names the budget in the error.
func (s *Spend) Allow(scope string, tokens int, cost float64) error {
	if s == nil {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	over := s.limit.Tokens > 0 && s.tokens+tokens > s.limit.Tokens ||
		s.limit.Cost > 0 && s.cost+cost > s.limit.Cost
	if !over {
		return nil
	}
	return &BudgetExceededError{Scope: scope, Limit: s.limit, SpentTokens: s.tokens, NextTokens: tokens, SpentCost: s.cost, NextCost: cost}
}
