package models

import (
	"encoding/json"
	"hash/fnv"
	"math/rand/v2"
	"os"
	"strings"

	"github.com/plumb-dev/plumb/llm"
	"github.com/plumb-dev/plumb/llm/anthropic"
	"github.com/plumb-dev/plumb/llm/llmtest"
	"github.com/plumb-dev/plumb/llm/openai"
)

// Scripted describes the models an example uses when no API key is set.
type Scripted struct {
	// Key names the item a request is about (a lead, a post), so that each
	// item meets the same faults whatever order concurrent workers call the
	// models in: the same -seed tells the same story on every run.
	Key func(req llm.Request) string
	// Primary and Cheap configure the scripted models; Cheap is the
	// fallback. Their Key is set from the field above.
	Primary, Cheap llmtest.Config
}

// Pick returns the model to use and a cheaper fallback (nil when there is
// none), with a line describing them: the OpenAI-compatible API when
// OPENAI_API_KEY is set, Anthropic's when ANTHROPIC_API_KEY is (PLUMB_MODEL
// names the model, PLUMB_FALLBACK_MODEL the cheaper one), else s.
func Pick(s Scripted) (primary, cheap llm.Model, desc string, err error) {
	fallback := os.Getenv("PLUMB_FALLBACK_MODEL")
	switch {
	case os.Getenv("OPENAI_API_KEY") != "":
		if primary, err = openai.New(openai.Config{}); err == nil && fallback != "" {
			cheap, err = openai.New(openai.Config{Model: fallback})
		}
		desc = "OpenAI-compatible API"
	case os.Getenv("ANTHROPIC_API_KEY") != "":
		if primary, err = anthropic.New(anthropic.Config{}); err == nil && fallback != "" {
			cheap, err = anthropic.New(anthropic.Config{Model: fallback})
		}
		desc = "Anthropic API"
	default:
		s.Primary.Key, s.Cheap.Key = s.Key, s.Key
		return llmtest.New(s.Primary), llmtest.New(s.Cheap),
			"scripted models with injected faults (set OPENAI_API_KEY or ANTHROPIC_API_KEY for a real one)", nil
	}
	if err != nil {
		return nil, nil, "", err
	}
	desc += " (" + primary.Info().Model
	if cheap != nil {
		desc += ", falling back to " + cheap.Info().Model
	}
	return primary, cheap, desc + ")", nil
}

// Roll returns a number in [0, 1) fixed by the seed and the parts (an
// item's id and what the roll decides), for scripts that decide an item's
// mistakes the same way on every run.
func Roll(seed uint64, parts ...string) float64 {
	h := fnv.New64a()
	for _, p := range parts {
		h.Write([]byte(p))
		h.Write([]byte{0})
	}
	return rand.New(rand.NewPCG(seed, h.Sum64())).Float64()
}

// FromPrompt reads back the item a prompt carries as JSON in a user
// message that starts with prefix ("Post brief: ", say): the scripted
// models answer about the item they were asked about.
func FromPrompt[T any](req llm.Request, prefix string) (T, bool) {
	var v T
	for _, m := range req.Messages {
		if rest, ok := strings.CutPrefix(m.Content, prefix); ok && m.Role == llm.RoleUser {
			return v, json.Unmarshal([]byte(rest), &v) == nil
		}
	}
	return v, false
}

// Turn counts the model's earlier answers in a request: 0 for the first
// ask, 1 for the first re-ask, and so on.
func Turn(req llm.Request) int {
	n := 0
	for _, m := range req.Messages {
		if m.Role == llm.RoleAssistant {
			n++
		}
	}
	return n
}

// Without answers v as JSON with one top-level field left out: the
// dropped required field that a contract has to catch.
func Without(v any, field string) llmtest.Answer {
	var obj map[string]any
	raw, _ := json.Marshal(v)
	_ = json.Unmarshal(raw, &obj)
	delete(obj, field)
	return llmtest.JSON(obj)
}

// Slips decides which answers a script gets wrong, the same way on every
// run of the same seed.
type Slips struct {
	Seed uint64
	// Rate is the share of items whose first answer has a mistake.
	Rate float64
	// Stubborn is the share of those the primary model gets wrong again
	// when re-asked (so they go on to the cheaper model); Both is the share
	// of the stubborn ones the cheaper model gets wrong too.
	Stubborn, Both float64
}

// Pick returns the mistake of one answer about item id: 0 for none, else
// one of 1..kinds-1, chosen by the item.
func (s Slips) Pick(id string, cheap bool, turn, kinds int) int {
	if Roll(s.Seed, id, "slip") >= s.Rate {
		return 0
	}
	stubborn := Roll(s.Seed, id, "stubborn") < s.Stubborn
	if cheap {
		if !stubborn || Roll(s.Seed, id, "both") >= s.Both {
			return 0
		}
	} else if turn > 0 && !stubborn {
		return 0
	}
	return 1 + int(Roll(s.Seed, id, "kind")*float64(kinds-1))
}
