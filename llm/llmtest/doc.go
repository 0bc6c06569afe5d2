// Package llmtest is a scripted llm.Model for tests and examples: it
// answers from a queue or a function, and injects the failures real
// models and providers commit, deterministically from a seed.
//
// # Scripting
//
// Answers are taken from Config.Answers in order, then from Config.Respond,
// which sees the request (its messages and the schema asked for):
//
//	model := llmtest.New(llmtest.Config{Respond: func(req llm.Request) llmtest.Answer {
//		return llmtest.JSON(Label{Stage: "warm", Confidence: 0.8})
//	}})
//
// # Faults
//
// Config.Faults gives each fault a probability: malformed JSON, output cut
// off at the token limit, a missing required field, a wrong enum value,
// 429 with Retry-After, 500, a timeout, a refusal. The schema in the
// request guides the field and enum faults, so they break exactly what a
// contract checks. Every(rate, seed) spreads one rate over all kinds.
// Config.RequestsPerMinute makes the fake enforce a provider's rate limit.
//
// Injected reports how many calls got each fault; Calls returns every
// request, re-asks included.
package llmtest
