package anthropic

import (
	"github.com/plumb-dev/plumb/llm"
	"github.com/plumb-dev/plumb/llm/internal/httpfailure"
	"github.com/plumb-dev/plumb/retry"
)

// classifier classifies failed calls the way every adapter does, with
// Anthropic's error types.
var classifier = httpfailure.Classifier{Provider: ProviderName, Refine: refine}

// refine reads Anthropic's error type, which is more precise than the
// status: an overloaded API may answer 500 or 529 with {"type":
// "overloaded_error"}.
func refine(e *llm.Error, body httpfailure.Body) {
	switch body.Type {
	case "overloaded_error":
		e.Kind, e.Class = llm.ErrOverloaded, retry.ClassTransient
	case "rate_limit_error":
		e.Kind, e.Class = llm.ErrRateLimited, retry.ClassTransient
	case "timeout_error":
		e.Kind, e.Class = llm.ErrTimeout, retry.ClassTransient
	}
}
