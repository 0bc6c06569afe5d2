package openai_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/plumb-dev/plumb/llm"
	"github.com/plumb-dev/plumb/llm/internal/adaptertest"
	"github.com/plumb-dev/plumb/llm/openai"
	"github.com/plumb-dev/plumb/retry"
)

// unsupported is what OpenAI answers a model without structured outputs.
const unsupported = `{"error":{"message":"Invalid parameter: 'response_format' of type 'json_schema' is not supported with this model.","type":"invalid_request_error","param":"response_format","code":null}}`

// rejecting answers 400 to the response_format types in reject, and
// AnswerJSON to anything else.
func rejecting(reject ...string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		for _, t := range reject {
			if formatType(body) == t {
				writeJSON(w, http.StatusBadRequest, strings.Replace(unsupported, "'json_schema'", "'"+t+"'", 1))
				return
			}
		}
		writeJSON(w, http.StatusOK, completion(quote(adaptertest.AnswerJSON), "null", "stop"))
	})
}

func types(reqs []adaptertest.Recorded) []string {
	var out []string
	for _, r := range reqs {
		out = append(out, formatType(r.Body))
	}
	return out
}

func TestAutoFallsBackToJSONObjectAndRemembers(t *testing.T) {
	srv, requests := adaptertest.NewServer(t, rejecting("json_schema"))
	m := newModel(t, srv.URL)

	resp, err := m.Generate(context.Background(), adaptertest.NewRequest(true))
	require.NoError(t, err)
	assert.JSONEq(t, adaptertest.AnswerJSON, resp.Text)
	assert.Equal(t, []string{"json_schema", "json_object"}, types(requests()))

	// JSON mode carries the schema in the (single, first) system message.
	w, err := decodeWire(requests()[1].Body)
	require.NoError(t, err)
	require.Equal(t, "system", w.Messages[0].Role)
	assert.True(t, strings.HasPrefix(w.Messages[0].Content, adaptertest.SystemPrompt))
	assert.Contains(t, w.Messages[0].Content, `"score":{"type":"integer"}`)
	assert.Len(t, w.Messages, 2)

	_, err = m.Generate(context.Background(), adaptertest.NewRequest(true))
	require.NoError(t, err)
	assert.Equal(t, []string{"json_schema", "json_object", "json_object"}, types(requests()),
		"the third request goes straight to json_object")

	// Another model on the same endpoint has learned nothing yet.
	other := adaptertest.NewRequest(true)
	other.Model = "another-model"
	_, err = m.Generate(context.Background(), other)
	require.NoError(t, err)
	assert.Equal(t, "json_schema", types(requests())[3])
}

func TestAutoFallsBackToInstructions(t *testing.T) {
	srv, requests := adaptertest.NewServer(t, rejecting("json_schema", "json_object"))
	m := newModel(t, srv.URL)
	for range 2 {
		resp, err := m.Generate(context.Background(), adaptertest.NewRequest(true))
		require.NoError(t, err)
		assert.JSONEq(t, adaptertest.AnswerJSON, resp.Text)
	}
	assert.Equal(t, []string{"json_schema", "json_object", "", ""}, types(requests()))
	w, err := decodeWire(requests()[3].Body)
	require.NoError(t, err)
	assert.Contains(t, w.Messages[0].Content, "JSON Schema")
}

func TestAutoFallbackIsSafeConcurrently(t *testing.T) {
	srv, requests := adaptertest.NewServer(t, rejecting("json_schema"))
	m := newModel(t, srv.URL)
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			_, err := m.Generate(context.Background(), adaptertest.NewRequest(true))
			assert.NoError(t, err)
		})
	}
	wg.Wait()
	_, err := m.Generate(context.Background(), adaptertest.NewRequest(true))
	require.NoError(t, err)
	all := types(requests())
	assert.Equal(t, "json_object", all[len(all)-1])
	assert.LessOrEqual(t, len(all), 8*2+1)
}

func TestExplicitModeDoesNotFallBack(t *testing.T) {
	srv, requests := adaptertest.NewServer(t, rejecting("json_schema"))
	m := newModel(t, srv.URL, openai.StructuredJSONSchema)
	_, err := m.Generate(context.Background(), adaptertest.NewRequest(true))
	assert.ErrorIs(t, err, llm.ErrBadRequest)
	assert.ErrorIs(t, err, retry.ErrPermanent)
	assert.Contains(t, err.Error(), "not supported with this model")
	assert.Len(t, requests(), 1)
}

func TestExplicitModes(t *testing.T) {
	for _, tc := range []struct {
		mode   openai.StructuredOutput
		format string
	}{
		{openai.StructuredJSONSchema, "json_schema"},
		{openai.StructuredJSONObject, "json_object"},
		{openai.StructuredInstructions, ""},
	} {
		t.Run(string(tc.mode), func(t *testing.T) {
			srv, requests := adaptertest.NewServer(t, rejecting())
			m := newModel(t, srv.URL, tc.mode)
			resp, err := m.Generate(context.Background(), adaptertest.NewRequest(true))
			require.NoError(t, err)
			assert.JSONEq(t, adaptertest.AnswerJSON, resp.Text)
			assert.Equal(t, []string{tc.format}, types(requests()))
		})
	}
}

// A schema strict mode rejects is retried non-strict, for this call only.
func TestStrictSchemaRejectedRetriesNonStrict(t *testing.T) {
	srv, requests := adaptertest.NewServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var req wireRequest
		_ = json.NewDecoder(r.Body).Decode(&req)
		if *req.ResponseFormat.JSONSchema.Strict {
			writeJSON(w, http.StatusBadRequest, `{"error":{"message":"Invalid schema for response_format 'person': In context=('properties', 'name'), 'format' is not permitted.","type":"invalid_request_error","param":"response_format","code":null}}`)
			return
		}
		writeJSON(w, http.StatusOK, completion(quote(adaptertest.AnswerJSON), "null", "stop"))
	}))
	m := newModel(t, srv.URL)
	for range 2 {
		_, err := m.Generate(context.Background(), adaptertest.NewRequest(true))
		require.NoError(t, err)
	}
	var strict []bool
	for _, r := range requests() {
		w, err := decodeWire(r.Body)
		require.NoError(t, err)
		require.Equal(t, "json_schema", w.ResponseFormat.Type)
		strict = append(strict, *w.ResponseFormat.JSONSchema.Strict)
	}
	assert.Equal(t, []bool{true, false, true, false}, strict)
}

// What strict mode makes the model write is turned back into what the
// caller's schema describes.
func TestStrictAnswerMatchesCallerSchema(t *testing.T) {
	const schema = `{"$schema":"https://json-schema.org/draft/2020-12/schema","$ref":"#/$defs/Lead","$defs":{"Lead":{"type":"object",` +
		`"properties":{"name":{"type":"string","minLength":1},"phone":{"type":"string"},"tags":{"type":"array","items":{"type":"string"}}},` +
		`"required":["name"],"additionalProperties":false}}}`
	for _, tc := range []struct {
		name, schema, answer, want, sent string
	}{{
		name:   "optional fields come back as nulls and are dropped",
		schema: schema,
		answer: `{"name":"Ada","phone":null,"tags":null}`,
		want:   `{"name":"Ada"}`,
		sent: `{"type":"object","properties":{"name":{"type":"string"},"phone":{"type":["string","null"]},` +
			`"tags":{"type":["array","null"],"items":{"type":"string"}}},"required":["name","phone","tags"],"additionalProperties":false,"$defs":{"Lead":{"type":"object","properties":{"name":{"type":"string"},"phone":{"type":["string","null"]},"tags":{"type":["array","null"],"items":{"type":"string"}}},"required":["name","phone","tags"],"additionalProperties":false}}}`,
	}, {
		name:   "an array root is wrapped and unwrapped",
		schema: `{"type":"array","items":{"type":"string"}}`,
		answer: `{"value":["a","b"]}`,
		want:   `["a","b"]`,
		sent:   `{"type":"object","properties":{"value":{"type":"array","items":{"type":"string"}}},"required":["value"],"additionalProperties":false}`,
	}} {
		t.Run(tc.name, func(t *testing.T) {
			srv, requests := adaptertest.NewServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				writeJSON(w, http.StatusOK, completion(quote(tc.answer), "null", "stop"))
			}))
			m := newModel(t, srv.URL)
			req := adaptertest.NewRequest(true)
			req.Output.Schema = json.RawMessage(tc.schema)
			resp, err := m.Generate(context.Background(), req)
			require.NoError(t, err)
			assert.JSONEq(t, tc.want, resp.Text)
			w, err := decodeWire(requests()[0].Body)
			require.NoError(t, err)
			assert.True(t, *w.ResponseFormat.JSONSchema.Strict)
			assert.JSONEq(t, tc.sent, string(w.ResponseFormat.JSONSchema.Schema))
		})
	}
}

// A map has no strict form: it is sent as it is, with strict false.
func TestSchemaWithoutStrictForm(t *testing.T) {
	srv, requests := adaptertest.NewServer(t, rejecting())
	m := newModel(t, srv.URL)
	req := adaptertest.NewRequest(true)
	req.Output.Schema = json.RawMessage(`{"type":"object","additionalProperties":{"type":"integer"}}`)
	_, err := m.Generate(context.Background(), req)
	require.NoError(t, err)
	w, err := decodeWire(requests()[0].Body)
	require.NoError(t, err)
	assert.False(t, *w.ResponseFormat.JSONSchema.Strict)
	assert.JSONEq(t, string(req.Output.Schema), string(w.ResponseFormat.JSONSchema.Schema))
}

func TestInvalidOutputSchemaIsPermanent(t *testing.T) {
	srv, requests := adaptertest.NewServer(t, rejecting())
	m := newModel(t, srv.URL)
	req := adaptertest.NewRequest(true)
	req.Output.Schema = json.RawMessage(`{"type":`)
	_, err := m.Generate(context.Background(), req)
	assert.ErrorIs(t, err, llm.ErrBadRequest)
	assert.ErrorIs(t, err, retry.ErrPermanent)
	assert.Empty(t, requests())
}

// A schema refused even non-strict goes to JSON mode for that call only.
func TestSchemaRejectedEvenNonStrict(t *testing.T) {
	srv, requests := adaptertest.NewServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if formatType(body) == "json_schema" {
			writeJSON(w, http.StatusBadRequest, `{"error":{"message":"Invalid schema for response_format 'person': schema must be a JSON Schema of 'type: \"object\"'.","type":"invalid_request_error","param":"response_format"}}`)
			return
		}
		writeJSON(w, http.StatusOK, completion(quote(adaptertest.AnswerJSON), "null", "stop"))
	}))
	m := newModel(t, srv.URL)
	for range 2 {
		_, err := m.Generate(context.Background(), adaptertest.NewRequest(true))
		require.NoError(t, err)
	}
	assert.Equal(t, []string{"json_schema", "json_schema", "json_object", "json_schema", "json_schema", "json_object"}, types(requests()))
}
