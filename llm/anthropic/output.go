package anthropic

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"regexp"
	"strings"

	sdk "github.com/anthropics/anthropic-sdk-go/v2"
	"github.com/anthropics/anthropic-sdk-go/v2/packages/param"

	"github.com/plumb-dev/plumb/llm"
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
		name := toolName(req.Output.Name)
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
	params, err := m.params(model, req, instructions(raw.Bytes()))
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

// instructions asks for the document in words.
func instructions(schema []byte) string {
	return "Answer with a single JSON document that matches the JSON Schema below, and nothing else: " +
		"no prose, no Markdown code fences.\n\nJSON Schema:\n" + string(schema)
}

// toolSchema returns schema as a tool's input_schema, which must be an
// object schema. A root that points into $defs (as schemas generated from Go
// types may) is replaced by its target; any other root (an array, anyOf) is
// wrapped as the property "value" of an object, and wrapped reports it.
// Properties stay raw, so their order is kept.
func toolSchema(schema json.RawMessage) (out []byte, wrapped bool, err error) {
	if !json.Valid(schema) {
		return nil, false, errors.New("output schema is not valid JSON")
	}
	var root map[string]json.RawMessage
	if json.Unmarshal(schema, &root) != nil { // a boolean schema
		out, err = json.Marshal(wrap(schema, nil))
		return out, true, err
	}
	delete(root, "$schema") // annotations the API has no use for
	delete(root, "$id")
	if ref, ok := root["$ref"]; ok && root["type"] == nil && root["properties"] == nil {
		var target map[string]json.RawMessage
		if json.Unmarshal(lookupRef(root, ref), &target) == nil && target != nil {
			for k, v := range root {
				if _, ok := target[k]; !ok && k != "$ref" {
					target[k] = v
				}
			}
			root = target
		}
	}
	if root["type"] == nil && root["properties"] != nil {
		root["type"] = json.RawMessage(`"object"`)
	}
	if t := root["type"]; t != nil && string(bytes.TrimSpace(t)) == `"object"` {
		out, err = json.Marshal(root)
		return out, false, err
	}
	defs := map[string]json.RawMessage{}
	for _, k := range []string{"$defs", "definitions"} {
		if v, ok := root[k]; ok {
			defs[k] = v // references resolve from the new root
			delete(root, k)
		}
	}
	inner, err := json.Marshal(root)
	if err != nil {
		return nil, false, err
	}
	out, err = json.Marshal(wrap(inner, defs))
	return out, true, err
}

func wrap(s json.RawMessage, defs map[string]json.RawMessage) map[string]any {
	w := map[string]any{
		"type":                 "object",
		"properties":           map[string]json.RawMessage{"value": s},
		"required":             []string{"value"},
		"additionalProperties": false,
	}
	for k, v := range defs {
		w[k] = v
	}
	return w
}

// lookupRef resolves "#/$defs/Name" or "#/definitions/Name" against root.
func lookupRef(root map[string]json.RawMessage, raw json.RawMessage) json.RawMessage {
	var ref string
	if json.Unmarshal(raw, &ref) != nil {
		return nil
	}
	for _, key := range []string{"$defs", "definitions"} {
		name, ok := strings.CutPrefix(ref, "#/"+key+"/")
		if !ok || strings.Contains(name, "/") {
			continue
		}
		var defs map[string]json.RawMessage
		if json.Unmarshal(root[key], &defs) == nil {
			return defs[strings.NewReplacer("~1", "/", "~0", "~").Replace(name)]
		}
	}
	return nil
}

// toolAnswer serialises a tool call's input back to JSON text, unwrapped
// from "value" when the schema was wrapped.
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

// toolName makes name fit a tool name's [a-zA-Z0-9_-]{1,64}.
func toolName(name string) string {
	b := []byte(name)
	for i, c := range b {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-') {
			b[i] = '_'
		}
	}
	if len(b) > 64 {
		b = b[:64]
	}
	if len(b) == 0 {
		return "output"
	}
	return string(b)
}
