package anthropic_test

import (
	"context"
	"encoding/json"
	"net/http"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/plumb-dev/plumb/llm"
	"github.com/plumb-dev/plumb/llm/anthropic"
	"github.com/plumb-dev/plumb/llm/internal/adaptertest"
	"github.com/plumb-dev/plumb/retry"
)

// toolAnswering answers a forced tool call with input, and a request
// without tools with text.
func toolAnswering(input, text string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var req wireRequest
		_ = json.NewDecoder(r.Body).Decode(&req)
		if len(req.Tools) > 0 {
			writeJSON(w, http.StatusOK, message(toolBlock(req.Tools[0].Name, input), "tool_use", "null"))
			return
		}
		writeJSON(w, http.StatusOK, message(textBlock(text), "end_turn", "null"))
	})
}

func TestToolSchemaRoots(t *testing.T) {
	for _, tc := range []struct {
		name, schema, input, want, sent string
	}{{
		name:   "a root reference is followed, property order kept",
		schema: `{"$schema":"https://json-schema.org/draft/2020-12/schema","$ref":"#/$defs/Node","$defs":{"Node":{"type":"object","properties":{"z":{"type":"string"},"kids":{"type":"array","items":{"$ref":"#/$defs/Node"}}},"required":["z"]}}}`,
		input:  `{"z": "root", "kids": [{"z": "leaf"}]}`,
		want:   `{"z":"root","kids":[{"z":"leaf"}]}`,
		sent:   `{"$defs":{"Node":{"type":"object","properties":{"z":{"type":"string"},"kids":{"type":"array","items":{"$ref":"#/$defs/Node"}}},"required":["z"]}},"properties":{"z":{"type":"string"},"kids":{"type":"array","items":{"$ref":"#/$defs/Node"}}},"required":["z"],"type":"object"}`,
	}, {
		name:   "an array root is wrapped and unwrapped",
		schema: `{"type":"array","items":{"type":"string"}}`,
		input:  `{"value":["a","b"]}`,
		want:   `["a","b"]`,
		sent:   `{"additionalProperties":false,"properties":{"value":{"items":{"type":"string"},"type":"array"}},"required":["value"],"type":"object"}`,
	}} {
		t.Run(tc.name, func(t *testing.T) {
			srv, requests := adaptertest.NewServer(t, toolAnswering(tc.input, ""))
			m := newModel(t, srv.URL)
			req := adaptertest.NewRequest(true)
			req.Output.Schema = json.RawMessage(tc.schema)
			resp, err := m.Generate(context.Background(), req)
			require.NoError(t, err)
			assert.Equal(t, tc.want, resp.Text)
			assert.Equal(t, llm.FinishToolCall, resp.FinishReason)
			w, err := decodeWire(requests()[0].Body)
			require.NoError(t, err)
			assert.JSONEq(t, tc.sent, string(w.Tools[0].InputSchema))
		})
	}
	// The property order reaches the wire unchanged.
	srv, requests := adaptertest.NewServer(t, toolAnswering(`{}`, ""))
	req := adaptertest.NewRequest(true)
	req.Output.Schema = json.RawMessage(`{"type":"object","properties":{"reasoning":{"type":"string"},"answer":{"type":"string"}}}`)
	_, err := newModel(t, srv.URL).Generate(context.Background(), req)
	require.NoError(t, err)
	assert.Contains(t, string(requests()[0].Body), `"properties":{"reasoning":{"type":"string"},"answer":{"type":"string"}}`)
}

func TestInstructionsMode(t *testing.T) {
	srv, requests := adaptertest.NewServer(t, toolAnswering("", adaptertest.AnswerJSON))
	m := newModel(t, srv.URL, anthropic.StructuredInstructions)
	resp, err := m.Generate(context.Background(), adaptertest.NewRequest(true))
	require.NoError(t, err)
	assert.JSONEq(t, adaptertest.AnswerJSON, resp.Text)
	w, err := decodeWire(requests()[0].Body)
	require.NoError(t, err)
	assert.Empty(t, w.Tools)
	require.Len(t, w.System, 2)
	assert.Equal(t, adaptertest.SystemPrompt, w.System[0].Text)
	assert.Contains(t, w.System[1].Text, string(adaptertest.Schema))
}

// A server without tools (an Anthropic-compatible gateway in front of
// another model) is asked in words, and remembered.
func TestAutoFallsBackToInstructions(t *testing.T) {
	srv, requests := adaptertest.NewServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var req wireRequest
		_ = json.NewDecoder(r.Body).Decode(&req)
		if len(req.Tools) > 0 {
			writeJSON(w, http.StatusBadRequest, `{"type":"error","error":{"type":"invalid_request_error","message":"llama3 does not support tools"}}`)
			return
		}
		writeJSON(w, http.StatusOK, message(textBlock(adaptertest.AnswerJSON), "end_turn", "null"))
	}))
	m := newModel(t, srv.URL)
	for range 2 {
		resp, err := m.Generate(context.Background(), adaptertest.NewRequest(true))
		require.NoError(t, err)
		assert.JSONEq(t, adaptertest.AnswerJSON, resp.Text)
	}
	var tools []int
	for _, r := range requests() {
		w, err := decodeWire(r.Body)
		require.NoError(t, err)
		tools = append(tools, len(w.Tools))
	}
	assert.Equal(t, []int{1, 0, 0}, tools, "the second call goes straight to instructions")

	// In tool mode the same answer is an error.
	_, err := newModel(t, srv.URL, anthropic.StructuredTool).Generate(context.Background(), adaptertest.NewRequest(true))
	assert.ErrorIs(t, err, llm.ErrBadRequest)
}

// Anthropic's own 400 about a tool is about the schema: no fallback.
func TestInvalidToolSchemaIsPermanent(t *testing.T) {
	srv, requests := adaptertest.NewServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusBadRequest, `{"type":"error","error":{"type":"invalid_request_error","message":"tools.0.custom.input_schema: JSON schema is invalid. It must match JSON Schema draft 2020-12"}}`)
	}))
	_, err := newModel(t, srv.URL).Generate(context.Background(), adaptertest.NewRequest(true))
	assert.ErrorIs(t, err, llm.ErrBadRequest)
	assert.ErrorIs(t, err, retry.ErrPermanent)
	assert.Len(t, requests(), 1)
}

func TestMissingToolCallIsBadResponse(t *testing.T) {
	srv, _ := adaptertest.NewServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, message(textBlock("Sure! Here you go."), "end_turn", "null"))
	}))
	resp, err := newModel(t, srv.URL).Generate(context.Background(), adaptertest.NewRequest(true))
	assert.ErrorIs(t, err, llm.ErrBadResponse)
	assert.ErrorIs(t, err, retry.ErrTransient)
	assert.Equal(t, "Sure! Here you go.", resp.Text)
	assert.Equal(t, adaptertest.InputTokens, resp.Usage.InputTokens)
}

func TestTruncatedToolCall(t *testing.T) {
	srv, _ := adaptertest.NewServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, message(toolBlock(adaptertest.SchemaName, `{"name":"Ada"}`), "max_tokens", "null"))
	}))
	resp, err := newModel(t, srv.URL).Generate(context.Background(), adaptertest.NewRequest(true))
	assert.ErrorIs(t, err, llm.ErrTruncated)
	assert.ErrorIs(t, err, retry.ErrContract)
	assert.Equal(t, `{"name":"Ada"}`, resp.Text)
	assert.Equal(t, llm.FinishLength, resp.FinishReason)
}

func TestRefusalWithoutText(t *testing.T) {
	srv, _ := adaptertest.NewServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, message(`[]`, "refusal", `{"type":"refusal","category":"bio","explanation":"Declined for safety."}`))
	}))
	resp, err := newModel(t, srv.URL).Generate(context.Background(), adaptertest.NewRequest(false))
	var le *llm.Error
	require.ErrorAs(t, err, &le)
	assert.ErrorIs(t, err, retry.ErrRefusal)
	assert.Equal(t, "Declined for safety.", le.Message)
	assert.Equal(t, "Declined for safety.", resp.Text)
	assert.Equal(t, llm.FinishRefusal, resp.FinishReason)
}

// Cached input is input: budgets count every token read.
func TestUsageCountsCachedInput(t *testing.T) {
	srv, _ := adaptertest.NewServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, `{"id":"msg_1","type":"message","role":"assistant","model":"m","content":[{"type":"text","text":"hi"}],`+
			`"stop_reason":"end_turn","stop_sequence":null,"usage":{"input_tokens":5,"cache_creation_input_tokens":100,"cache_read_input_tokens":2000,"output_tokens":3}}`)
	}))
	resp, err := newModel(t, srv.URL).Generate(context.Background(), adaptertest.NewRequest(false))
	require.NoError(t, err)
	assert.Equal(t, llm.Usage{InputTokens: 2105, OutputTokens: 3}, resp.Usage)
}
