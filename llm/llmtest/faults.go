package llmtest

import (
	"encoding/json"
	"math/rand/v2"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/plumb-dev/plumb/llm"
	"github.com/plumb-dev/plumb/retry"
)

// Fault is a kind of failure the fake injects.
type Fault string

// The faults, as real models and providers commit them.
const (
	FaultNone          Fault = "none"
	FaultMalformedJSON Fault = "malformed_json" // prose, quotes or brackets the JSON cannot survive
	FaultTruncated     Fault = "truncated"      // cut off at the token limit
	FaultMissingField  Fault = "missing_field"  // a required field left out
	FaultWrongEnum     Fault = "wrong_enum"     // a confident value outside the enum
	FaultRateLimited   Fault = "rate_limited"   // HTTP 429 with Retry-After
	FaultServerError   Fault = "server_error"   // HTTP 500
	FaultTimeout       Fault = "timeout"        // no answer in time
	FaultRefusal       Fault = "refusal"        // "I can't help with that."
)

// Faults are the probabilities (0 to 1) of each fault on a call; at most
// one fault is injected per call. The same Seed gives the same faults.
type Faults struct {
	Seed          int64
	MalformedJSON float64
	Truncated     float64
	MissingField  float64
	WrongEnum     float64
	RateLimited   float64
	ServerError   float64
	Timeout       float64
	Refusal       float64
	// RetryAfter is the wait a 429 asks for. Defaults to 1 s.
	RetryAfter time.Duration
}

// Every spreads a total fault rate evenly over every kind of fault.
func Every(rate float64, seed int64) Faults {
	p := rate / 8
	return Faults{Seed: seed, MalformedJSON: p, Truncated: p, MissingField: p, WrongEnum: p,
		RateLimited: p, ServerError: p, Timeout: p, Refusal: p}
}

func (f Faults) table() []struct {
	fault Fault
	p     float64
} {
	return []struct {
		fault Fault
		p     float64
	}{
		{FaultMalformedJSON, f.MalformedJSON}, {FaultTruncated, f.Truncated},
		{FaultMissingField, f.MissingField}, {FaultWrongEnum, f.WrongEnum},
		{FaultRateLimited, f.RateLimited}, {FaultServerError, f.ServerError},
		{FaultTimeout, f.Timeout}, {FaultRefusal, f.Refusal},
	}
}

func (f Faults) pick(rng *rand.Rand) Fault {
	x := rng.Float64()
	for _, e := range f.table() {
		if x < e.p {
			return e.fault
		}
		x -= e.p
	}
	return FaultNone
}

// inject turns a good answer into the fault's bad one. m.mu is held.
func (m *Model) inject(fault Fault, a Answer, req llm.Request, rng *rand.Rand) Answer {
	if a.Err != nil && fault != FaultNone {
		return a
	}
	after := m.cfg.Faults.RetryAfter
	if after <= 0 {
		after = time.Second
	}
	switch fault {
	case FaultRateLimited:
		return Answer{Err: m.errorf(llm.ErrRateLimited, retry.ClassTransient, 429, "rate limit reached for requests", nil, after)}
	case FaultServerError:
		return Answer{Err: m.errorf(llm.ErrServer, retry.ClassTransient, 500, "the server had an error while processing your request", nil)}
	case FaultTimeout:
		return Answer{Err: m.errorf(llm.ErrTimeout, retry.ClassTransient, 0, "no answer within the deadline", nil)}
	case FaultRefusal:
		return Answer{Text: "I'm sorry, but I can't help with that request.", Finish: llm.FinishRefusal,
			Err: m.errorf(retry.ErrRefusal, retry.ClassRefusal, 0, "the model declined to answer", nil)}
	case FaultTruncated:
		cut := len(a.Text) / 2
		return Answer{Text: a.Text[:cut], Finish: llm.FinishLength,
			Err: m.errorf(llm.ErrTruncated, retry.ClassContract, 0, "finish reason: length", nil)}
	case FaultMalformedJSON:
		return Answer{Text: malform(a.Text, rng)}
	case FaultMissingField:
		return Answer{Text: mutate(a.Text, req, rng, dropRequired)}
	case FaultWrongEnum:
		return Answer{Text: mutate(a.Text, req, rng, breakEnum)}
	}
	return a
}

// malform breaks JSON the way models do, beyond what a lenient decoder may
// repair: unquoted strings, single quotes around keys and values, a
// missing closing bracket with prose after it.
func malform(text string, rng *rand.Rand) string {
	switch rng.IntN(3) {
	case 0:
		return "Sure! Here is the data you asked for:\n" + strings.ReplaceAll(text, `"`, "") + "\nLet me know if you need anything else."
	case 1:
		return strings.ReplaceAll(text, `"`, "'")
	default:
		return "```json\n" + strings.TrimSuffix(strings.TrimSpace(text), "}") + "\n```\nHope this helps!"
	}
}

type mutation func(obj map[string]any, schema map[string]any, rng *rand.Rand) bool

// mutate applies a mutation to the answer's JSON object (or a nested one),
// guided by the request's schema; text it cannot parse is returned as is.
func mutate(text string, req llm.Request, rng *rand.Rand, fn mutation) string {
	var obj map[string]any
	if json.Unmarshal([]byte(text), &obj) != nil || req.Output == nil {
		return text
	}
	var schema map[string]any
	if json.Unmarshal(req.Output.Schema, &schema) != nil {
		return text
	}
	targets := objects(obj, schema)
	rng.Shuffle(len(targets), func(i, j int) { targets[i], targets[j] = targets[j], targets[i] })
	for _, t := range targets {
		if fn(t.obj, t.schema, rng) {
			break
		}
	}
	b, err := json.Marshal(obj)
	if err != nil {
		return text
	}
	return string(b)
}

type target struct {
	obj    map[string]any
	schema map[string]any
}

// objects lists the answer's object and the nested objects the schema
// describes, each with its sub-schema.
func objects(obj map[string]any, schema map[string]any) []target {
	out := []target{{obj, schema}}
	props, _ := schema["properties"].(map[string]any)
	keys := make([]string, 0, len(props))
	for k := range props {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		sub, _ := props[k].(map[string]any)
		if child, ok := obj[k].(map[string]any); ok && sub != nil {
			out = append(out, objects(child, sub)...)
		}
	}
	return out
}

func dropRequired(obj map[string]any, schema map[string]any, rng *rand.Rand) bool {
	req, _ := schema["required"].([]any)
	var present []string
	for _, r := range req {
		if s, ok := r.(string); ok {
			if _, has := obj[s]; has {
				present = append(present, s)
			}
		}
	}
	if len(present) == 0 {
		return false
	}
	slices.Sort(present)
	delete(obj, present[rng.IntN(len(present))])
	return true
}

func breakEnum(obj map[string]any, schema map[string]any, rng *rand.Rand) bool {
	props, _ := schema["properties"].(map[string]any)
	var names []string
	for k, p := range props {
		if ps, ok := p.(map[string]any); ok {
			if _, ok := ps["enum"]; ok {
				if _, has := obj[k]; has {
					names = append(names, k)
				}
			}
		}
	}
	if len(names) == 0 {
		return false
	}
	slices.Sort(names)
	k := names[rng.IntN(len(names))]
	switch v := obj[k].(type) {
	case string:
		if rng.IntN(2) == 0 {
			obj[k] = strings.ToUpper(v) + "!!" // a confident, loud wrong value
		} else {
			obj[k] = "other"
		}
	default:
		obj[k] = "unknown"
	}
	return true
}
