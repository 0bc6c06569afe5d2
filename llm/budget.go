package llm

import (
	"fmt"

	"github.com/plumb-dev/plumb/retry"
)

// Budget bounds what model calls may spend: one run of a model step
// (Options.Budget), or a whole run of a pipeline (pipeline.Policy.RunBudget),
// shared by its model steps. Only model steps spend, so only they enforce
// it: a call whose estimate would cross a budget is not made. Zero fields
// are unbounded.
type Budget struct {
	// Tokens bounds input plus output tokens.
	Tokens int `json:"tokens,omitempty"`
	// Cost bounds the money spent, in the currency of the prices given.
	Cost float64 `json:"cost,omitempty"`
}

// BudgetExceededError says a model call would spend more than a budget
// allows, so it was not made. Its class is budget: no fallback is tried.
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
