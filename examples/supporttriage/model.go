package main

import (
	"math"
	"regexp"
	"strings"
	"time"

	exmodels "github.com/plumb-dev/plumb/examples/internal/models"
	"github.com/plumb-dev/plumb/llm"
	"github.com/plumb-dev/plumb/llm/llmtest"
)

// models returns the model and a cheaper fallback: the real provider when
// an API key is set, else scripted models with injected faults, each item
// meeting its own (see models.Pick).
func models(seed int64) (primary, cheap llm.Model, desc string, err error) {
	s := script{seed: uint64(seed)}
	return exmodels.Pick(exmodels.Scripted{
		Key: func(req llm.Request) string { it, _ := messageOf(req); return it.ID },
		Primary: llmtest.Config{Model: "scripted-large", Respond: s.respond(false), Latency: 2 * time.Millisecond,
			// On top of the misreadings script makes: prose around
			// broken JSON, dropped fields, wrong enums, answers cut
			// off, 429s, 500s, timeouts, refusals.
			Faults: llmtest.Faults{Seed: seed, MalformedJSON: 0.03, MissingField: 0.02, WrongEnum: 0.03, Truncated: 0.01,
				RateLimited: 0.03, ServerError: 0.02, Timeout: 0.01, Refusal: 0.01, RetryAfter: 20 * time.Millisecond}},
		Cheap: llmtest.Config{Model: "scripted-small", Respond: s.respond(true), Latency: time.Millisecond,
			Faults: llmtest.Faults{Seed: seed + 1, MalformedJSON: 0.02, WrongEnum: 0.02, Refusal: 0.01}},
	})
}

// messageOf reads the message back from the prompt.
func messageOf(req llm.Request) (Message, bool) {
	return exmodels.FromPrompt[Message](req, "Support message: ")
}

// script classifies like a careful reader, and misreads messages the way
// real models do, each mistake decided by the message's id and the seed.
type script struct{ seed uint64 }

// roll is a number in [0, 1) fixed by the seed, the message and the purpose.
func (s script) roll(id, purpose string) float64 {
	return exmodels.Roll(s.seed, id, purpose)
}

type mistake int

const (
	noMistake mistake = iota
	inventedUrgency
	inventedCategory
	pastedMessage
	languageName
	percentConfidence
	missingUrgency
	mistakes // how many kinds there are
)

// mistakeFor decides the mistake of one answer. About one first answer in
// six has one; re-asked, the model fixes it, except on the stubborn
// messages, which go on to the cheaper model; on a few of those, it fails
// too.
func (s script) mistakeFor(id string, cheap bool, turn int) mistake {
	slips := exmodels.Slips{Seed: s.seed, Rate: 0.17, Stubborn: 0.35, Both: 0.4}
	return mistake(slips.Pick(id, cheap, turn, int(mistakes)))
}

var (
	amountRE  = regexp.MustCompile(`€[0-9]+\.[0-9]{2}`)
	invoiceRE = regexp.MustCompile(`INV-[0-9]{4}-[0-9]{4}`)
	langNames = map[string]string{"en": "English", "de": "German", "es": "Spanish", "fr": "French", "ja": "Japanese", "pt": "Portuguese"}
)

func (s script) respond(cheap bool) func(llm.Request) llmtest.Answer {
	return func(req llm.Request) llmtest.Answer {
		m, ok := messageOf(req)
		smp, known := sampleOf(m)
		if !ok || !known {
			return llmtest.Text("I can only classify a support message.")
		}
		turn := exmodels.Turn(req)
		c := Classification{Category: smp.category, Urgency: smp.urgency, Sentiment: smp.sentiment, Language: smp.language,
			Summary: strings.NewReplacer("{amount}", amountRE.FindString(m.Body), "{order}", invoiceRE.FindString(m.Body)).Replace(smp.summary)}
		// A careful reader is about as sure as the sample says; the cheaper
		// model a little less.
		c.Confidence = smp.confidence + 0.06*(s.roll(m.ID, "confidence")-0.5)
		if cheap {
			c.Confidence -= 0.12
		}
		c.Confidence = math.Round(min(max(c.Confidence, 0), 1)*100) / 100
		switch s.mistakeFor(m.ID, cheap, turn) {
		case inventedUrgency:
			c.Urgency = "ASAP"
		case inventedCategory:
			c.Category = "refund_request"
		case pastedMessage:
			c.Summary = m.Subject + "\n" + m.Body
		case languageName:
			c.Language = langNames[c.Language]
		case percentConfidence:
			c.Confidence = math.Round(c.Confidence * 100)
		case missingUrgency:
			return exmodels.Without(c, "urgency")
		}
		return llmtest.JSON(c)
	}
}
