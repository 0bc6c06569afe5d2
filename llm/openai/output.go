package openai

import (
	"context"
	"errors"
	"regexp"
	"strings"
	"sync/atomic"

	sdk "github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/shared"

	"github.com/plumb-dev/plumb/llm"
	"github.com/plumb-dev/plumb/llm/internal/outputschema"
	"github.com/plumb-dev/plumb/retry"
)

// ladder lists the structured-output modes auto mode walks down.
var ladder = []StructuredOutput{StructuredJSONSchema, StructuredJSONObject, StructuredInstructions}

func ladderIndex(mode StructuredOutput) int {
	for i, m := range ladder {
		if m == mode {
			return i
		}
	}
	return -1
}

// generateStructured asks for an answer matching req.Output, stepping down
// the ladder in auto mode when the server refuses a mode.
func (m *Model) generateStructured(ctx context.Context, model string, req llm.Request) (llm.Response, error) {
	p, err := newPlan(req.Output)
	if err != nil {
		return llm.Response{}, &llm.Error{Provider: ProviderName, Model: model, Kind: llm.ErrBadRequest,
			Class: retry.ClassPermanent, Message: err.Error(), Err: err}
	}
	var learned *atomic.Int32
	rung := ladderIndex(m.mode)
	if m.mode == StructuredAuto {
		learned = m.rung(model)
		rung = int(learned.Load())
	}
	strict := p.strict != nil
	for {
		mode := ladder[rung]
		format, system := p.request(mode, strict)
		params, err := m.params(model, req, format, system)
		if err != nil {
			return llm.Response{}, err
		}
		resp, err := m.send(ctx, model, params, p.post(mode, strict))
		var le *llm.Error
		if err == nil || !errors.As(err, &le) {
			return resp, err
		}
		badSchema := mode == StructuredJSONSchema && rejectsStrictSchema(le)
		switch {
		case badSchema && strict:
			// This schema, not the server, is the problem: retry it
			// non-strict, and do not remember it for other schemas.
			strict = false
		case badSchema && learned != nil:
			rung++ // refused even non-strict: JSON mode, for this call only
		case learned != nil && rung+1 < len(ladder) && rejectsMode(le):
			rung++
			raise(learned, int32(rung))
		default:
			return resp, err
		}
	}
}

// raise moves the remembered rung down the ladder, never back up, whatever
// concurrent calls learn meanwhile.
func raise(r *atomic.Int32, to int32) {
	for {
		cur := r.Load()
		if cur >= to || r.CompareAndSwap(cur, to) {
			return
		}
	}
}

// formatWords are what servers say when they reject a response_format:
// "Invalid parameter: 'response_format' of type 'json_schema' is not
// supported with this model." (OpenAI), "'response_format.type' must be
// 'json_schema' or 'text'" (LM Studio).
var formatWords = regexp.MustCompile(`(?i)response_format|json_schema|json_object|structured output|guided_json`)

// rejectsMode reports whether a 400 (422 for some servers) says the mode
// sent is not supported.
func rejectsMode(e *llm.Error) bool {
	if e.StatusCode != 400 && e.StatusCode != 422 {
		return false
	}
	return formatWords.MatchString(e.Message) || strings.Contains(errorParam(e), "response_format")
}

// rejectsStrictSchema reports whether a 400 says the schema does not fit
// strict mode: "Invalid schema for response_format 'person': In
// context=(), 'additionalProperties' is required to be supplied and to be
// false."
func rejectsStrictSchema(e *llm.Error) bool {
	return e.StatusCode == 400 && strings.Contains(strings.ToLower(e.Message), "invalid schema")
}

// plan is one structured-output request's schema in every form a mode needs.
type plan struct {
	name string
	raw  []byte // the schema as given, compacted
	// root is the schema with an object at its root, as JSON-schema and
	// JSON-object modes require; wrapped says the answer sits under "value".
	root    outputschema.Object
	wrapped bool
	// strict is root in the form strict mode accepts, nil when there is none.
	strict outputschema.Object
}

func newPlan(out *llm.OutputSchema) (*plan, error) {
	v, err := outputschema.Decode(out.Schema)
	if err != nil {
		return nil, errors.New("output schema is not valid JSON: " + err.Error())
	}
	root, wrapped := outputschema.Root(v)
	p := &plan{name: outputschema.Name(out.Name), root: root, wrapped: wrapped}
	if p.raw, err = outputschema.Encode(v); err != nil {
		return nil, err
	}
	if s, ok := strictify(root); ok {
		p.strict = s.(outputschema.Object)
	}
	return p, nil
}

// request returns the response_format and the system instructions of mode.
func (p *plan) request(mode StructuredOutput, strict bool) (*sdk.ChatCompletionNewParamsResponseFormatUnion, string) {
	switch mode {
	case StructuredJSONSchema:
		schema := p.root
		if strict {
			schema = p.strict
		}
		return &sdk.ChatCompletionNewParamsResponseFormatUnion{OfJSONSchema: &shared.ResponseFormatJSONSchemaParam{
			JSONSchema: shared.ResponseFormatJSONSchemaJSONSchemaParam{Name: p.name, Schema: schema, Strict: sdk.Bool(strict)},
		}}, ""
	case StructuredJSONObject:
		// JSON mode answers an object, so it gets the object-rooted schema.
		schema, _ := outputschema.Encode(p.root)
		return &sdk.ChatCompletionNewParamsResponseFormatUnion{OfJSONObject: &shared.ResponseFormatJSONObjectParam{}}, outputschema.Instructions(schema)
	}
	return nil, outputschema.Instructions(p.raw)
}

// post returns what turns mode's answer back into the document the caller's
// schema describes, nil when the answer is that document already.
func (p *plan) post(mode StructuredOutput, strict bool) func(string) string {
	strip := mode == StructuredJSONSchema && strict
	if mode == StructuredInstructions || (!strip && !p.wrapped) {
		return nil
	}
	return func(text string) string {
		v, err := outputschema.Decode([]byte(text))
		if err != nil {
			return text // not JSON: the caller's contract check says so
		}
		if strip {
			v = guide{p.root}.dropNulls(v, p.root)
		}
		if p.wrapped {
			inner, ok := outputschema.Unwrap(v)
			if !ok {
				return text
			}
			v = inner
		}
		b, err := outputschema.Encode(v)
		if err != nil {
			return text
		}
		return string(b)
	}
}
