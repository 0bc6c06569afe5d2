package main

import (
	"encoding/json"
	"fmt"
	"regexp"
	"strings"
	"sync"
	"time"

	exmodels "github.com/plumb-dev/plumb/examples/internal/models"
	"github.com/plumb-dev/plumb/llm"
	"github.com/plumb-dev/plumb/llm/llmtest"
	"github.com/plumb-dev/plumb/retry"
)

// models returns the model to use and a cheaper fallback: the real
// provider when an API key is set, else scripted models that are wrong in
// the ways real models are, each lead meeting its own faults.
func models(seed int64) (primary, fallback llm.Model, desc string, err error) {
	return exmodels.Pick(exmodels.Scripted{
		Key: func(req llm.Request) string {
			for _, m := range req.Messages {
				if id := leadID.FindStringSubmatch(m.Content); id != nil {
					return id[1]
				}
			}
			return ""
		},
		Primary: llmtest.Config{Model: "scripted-large", Respond: withOutage(scripted), Latency: 2 * time.Millisecond,
			// About one call in four goes wrong, the way models and
			// providers do: prose around broken JSON, missing fields,
			// invented enum values, answers cut off, 429s, 500s, timeouts,
			// refusals.
			Faults: llmtest.Faults{Seed: seed, MalformedJSON: 0.06, MissingField: 0.05, WrongEnum: 0.06, Truncated: 0.02,
				RateLimited: 0.02, ServerError: 0.02, Timeout: 0.02, Refusal: 0.01, RetryAfter: 20 * time.Millisecond}},
		Cheap: llmtest.Config{Model: "scripted-small", Respond: withOutage(scripted), Latency: time.Millisecond,
			Faults: llmtest.Faults{Seed: seed + 1, MalformedJSON: 0.05, WrongEnum: 0.05}},
	})
}

// leadID finds the lead a prompt is about.
var leadID = regexp.MustCompile(`Lead (lead-\d+)`)

// outage makes the provider overloaded for the leads that arrive during a
// stretch of the night (lead-0121 to lead-0135), like the 2 a.m. outage
// every automation meets: both models refuse their first six reply
// drafts, more than retries and the fallback model can ride out, so those
// runs wait in the queue and come back when it is over.
type outage struct {
	mu    sync.Mutex
	calls map[string]int
}

var night = &outage{calls: map[string]int{}}

func withOutage(respond func(llm.Request) llmtest.Answer) func(llm.Request) llmtest.Answer {
	return func(req llm.Request) llmtest.Answer {
		last := req.Messages[len(req.Messages)-1].Content
		if m := leadID.FindStringSubmatch(last); m != nil && replyTo.MatchString(last) && m[1] > "lead-0120" && m[1] <= "lead-0135" {
			night.mu.Lock()
			night.calls[m[1]]++
			n := night.calls[m[1]]
			night.mu.Unlock()
			if n <= 6 {
				return llmtest.Answer{Err: &llm.Error{Provider: "llmtest", Kind: llm.ErrOverloaded, Class: retry.ClassTransient,
					StatusCode: 529, Message: "overloaded"}}
			}
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
