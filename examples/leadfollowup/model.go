package main

import (
	"encoding/json"
	"fmt"
	"os"
	"regexp"
	"strings"
	"sync/atomic"
	"time"

	"github.com/plumb-dev/plumb/llm"
	"github.com/plumb-dev/plumb/llm/anthropic"
	"github.com/plumb-dev/plumb/llm/llmtest"
	"github.com/plumb-dev/plumb/llm/openai"
	"github.com/plumb-dev/plumb/retry"
)

// models returns the model to use and a cheaper fallback: the real
// provider when an API key is set, else a scripted model that is wrong in
// the ways real models are.
func models(seed int64) (primary, fallback llm.Model, desc string, err error) {
	switch {
	case os.Getenv("OPENAI_API_KEY") != "":
		m, err := openai.New(openai.Config{})
		if err != nil {
			return nil, nil, "", err
		}
		return m, nil, "OpenAI-compatible API (" + m.Info().Model + ")", nil
	case os.Getenv("ANTHROPIC_API_KEY") != "":
		m, err := anthropic.New(anthropic.Config{})
		if err != nil {
			return nil, nil, "", err
		}
		return m, nil, "Anthropic API (" + m.Info().Model + ")", nil
	}
	primary = llmtest.New(llmtest.Config{
		Model:   "scripted-large",
		Respond: withOutage(scripted),
		Latency: 2 * time.Millisecond,
		// About one call in four goes wrong, the way models and providers
		// do: prose around broken JSON, missing fields, invented enum
		// values, answers cut off, 429s, 500s, timeouts, refusals.
		Faults: llmtest.Faults{Seed: seed, MalformedJSON: 0.06, MissingField: 0.05, WrongEnum: 0.06, Truncated: 0.02,
			RateLimited: 0.02, ServerError: 0.02, Timeout: 0.02, Refusal: 0.01, RetryAfter: 20 * time.Millisecond},
	})
	fallback = llmtest.New(llmtest.Config{
		Model:   "scripted-small",
		Respond: withOutage(scripted),
		Latency: time.Millisecond,
		Faults:  llmtest.Faults{Seed: seed + 1, MalformedJSON: 0.05, WrongEnum: 0.05},
	})
	return primary, fallback, "a scripted model with injected faults (set OPENAI_API_KEY or ANTHROPIC_API_KEY for a real one)", nil
}

// calls counts calls to both scripted models: the provider's outage below
// takes both down at once, as a real one would.
var calls atomic.Int64

// withOutage makes the provider overloaded for a stretch of calls, like the
// 2 a.m. outage every automation meets: retries cannot ride it out, so the
// runs caught in it wait in the queue and come back when it is over.
func withOutage(respond func(llm.Request) llmtest.Answer) func(llm.Request) llmtest.Answer {
	return func(req llm.Request) llmtest.Answer {
		if n := calls.Add(1); n > 250 && n <= 330 {
			return llmtest.Answer{Err: &llm.Error{Provider: "llmtest", Kind: llm.ErrOverloaded, Class: retry.ClassTransient,
				StatusCode: 529, Message: "overloaded"}}
		}
		return respond(req)
	}
}

var (
	leadLine = regexp.MustCompile(`Lead (\S+) from (.*) \((.*)\) at "(.*)":\n((?s).*)`)
	replyTo  = regexp.MustCompile(`reply to (.*) <(.*)> \((.*)\)\. Stage: (\S+), intent: (\S+)\. What they said: ((?s).*)`)
)

// scripted answers like a competent model would, from the request alone.
func scripted(req llm.Request) llmtest.Answer {
	user := req.Messages[len(req.Messages)-1].Content
	for i := len(req.Messages) - 1; i >= 0; i-- {
		if req.Messages[i].Role == llm.RoleUser && (leadLine.MatchString(req.Messages[i].Content) || replyTo.MatchString(req.Messages[i].Content)) {
			user = req.Messages[i].Content
			break
		}
	}
	if m := replyTo.FindStringSubmatch(user); m != nil {
		name, email, intent := m[1], m[2], m[5]
		first := strings.Fields(name + " there")[0]
		body := fmt.Sprintf("Hi %s,\n\nThanks for getting in touch. %s\n\nBest,\nSam from Plumb", first, pitch(intent))
		return llmtest.JSON(Reply{To: email, Subject: "Re: your message to Plumb", Body: body})
	}
	if m := leadLine.FindStringSubmatch(user); m != nil {
		c, _ := classifyByRules(nil, Lead{Message: m[5]})
		out := c.Classification
		out.Confidence = 0.82
		out.Summary = fmt.Sprintf("%s asks about %s.", m[2], out.Intent)
		b, _ := json.Marshal(out)
		return llmtest.Text(string(b))
	}
	return llmtest.Text("I'm not sure what you are asking.")
}

func pitch(intent string) string {
	switch intent {
	case "pricing":
		return "I've attached our pricing; for teams over ten we offer annual billing at a discount."
	case "demo":
		return "I'd be glad to show you around: pick any slot that suits you and we'll walk through your use case."
	case "support":
		return "I've passed this to our support team, who will reply within the hour."
	case "partnership":
		return "Our partnerships lead will reach out this week to talk about reselling."
	case "unsubscribe":
		return "You're unsubscribed and won't hear from us again."
	}
	return "Let me know how we can help and I'll point you to the right person."
}
