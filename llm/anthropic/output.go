package anthropic

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"regexp"

	sdk "github.com/anthropics/anthropic-sdk-go/v2"
	"github.com/anthropics/anthropic-sdk-go/v2/packages/param"

	"github.com/plumb-dev/plumb/llm"
	"github.com/plumb-dev/plumb/llm/internal/outputschema"
	"github.com/plumb-dev/plumb/retry"
)

// generateStructured asks for an answer matching req.Output: through a
// forced tool call, or in words when the mode (or the server) says so.
func (m *Model) generateStructured(ctx context.Context, model string, req llm.Request) (llm.Response, error) {
	schema, wrapped, err := toolSchema(req.Output.Schema)
	if err != nil {
		return llm.Response{}, &llm.Error{Provider: ProviderName, Model: model, Kind: llm.ErrBadRequest,
			Class: retry.ClassPermanent, Message: err.Error(), Err: err}
	}
	useTool := m.mode == StructuredTool || (m.mode == StructuredAuto && !m.refused(model).Load())
	if useTool {
		name := outputschema.Name(req.Output.Name)
		params, err := m.params(model, req, "")
		if err != nil {
			return llm.Response{}, err
		}
		params.Tools = []sdk.ToolUnionParam{{OfTool: &sdk.ToolParam{
			Name:        name,
			Description: sdk.String("Give your answer by calling this tool: its input is the answer, and must match the input schema."),
			// The schema goes as it is: key order included, which is the
			// order the model writes the fields in.
			InputSchema: param.Override[sdk.ToolInputSchemaParam](json.RawMessage(schema)),
		}}}
		params.ToolChoice = sdk.ToolChoiceUnionParam{OfTool: &sdk.ToolChoiceToolParam{Name: name}}
		resp, err := m.send(ctx, model, params, &answer{tool: name, wrapped: wrapped})
		var le *llm.Error
		if m.mode == StructuredTool || !errors.As(err, &le) || !rejectsTools(le) {
			return resp, err
		}
		m.refused(model).Store(true)
	}
	var raw bytes.Buffer
	if err := json.Compact(&raw, req.Output.Schema); err != nil {
		raw.Reset()
		raw.Write(req.Output.Schema)
	}
	params, err := m.params(model, req, outputschema.Instructions(raw.Bytes()))
	if err != nil {
		return llm.Response{}, err
	}
	return m.send(ctx, model, params, nil)
}

// toolWords and unsupportedWords are what a server without tools says:
// "llama3 does not support tools" (Ollama), "tools: Extra inputs are not
// permitted" (pydantic-based gateways).
var (
	toolWords        = regexp.MustCompile(`(?i)\btools?\b|tool_choice`)
	unsupportedWords = regexp.MustCompile(`(?i)support|unknown|unrecognized|not allowed|not permitted`)
)

// rejectsTools reports whether a 400 (422 for some servers) says the server
// has no tools. Anthropic's own API has them: its 400 about a tool is about
// the schema, and stays a permanent error.
func rejectsTools(e *llm.Error) bool {
	return (e.StatusCode == 400 || e.StatusCode == 422) &&
		toolWords.MatchString(e.Message) && unsupportedWords.MatchString(e.Message)
}

// toolSchema returns schema as a tool's input_schema, which must be an
// object schema (see outputschema.Root); wrapped reports that the answer
// comes under "value". Key order is kept: it is the order the model writes
// the fields in.
func toolSchema(schema json.RawMessage) (out []byte, wrapped bool, err error) {
	v, err := outputschema.Decode(schema)
	if err != nil {
		return nil, false, errors.New("output schema is not valid JSON")
	}
	root, wrapped := outputschema.Root(v)
	out, err = outputschema.Encode(root)
	return out, wrapped, err
}

// toolAnswer serialises a tool call's input back to JSON text, unwrapped
// from "value" when the schema was wrapped (see outputschema.Root). The
// input is compacted, not decoded and encoded again as outputschema.Unwrap
// would need: the answer keeps the text the API sent, only compacted.
func toolAnswer(input []byte, wrapped bool) string {
	if wrapped {
		var w map[string]json.RawMessage
		if json.Unmarshal(input, &w) == nil {
			if v, ok := w["value"]; ok {
				input = v
			}
		}
	}
	var buf bytes.Buffer
	if json.Compact(&buf, input) != nil {
		return string(input)
	}
	return buf.String()
}
