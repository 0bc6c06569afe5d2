package observe_test

import (
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/plumb-dev/plumb/observe"
)

// The names as the OpenTelemetry GenAI semantic conventions spell them
// (https://opentelemetry.io/docs/specs/semconv/gen-ai/): a typo here would
// make every dashboard built on the conventions miss Plumb's model calls.
func TestGenAINamesMatchTheSpecification(t *testing.T) {
	spec := map[string]string{
		"gen_ai.operation.name":            string(observe.GenAIOperationName),
		"gen_ai.provider.name":             string(observe.GenAIProviderName),
		"gen_ai.request.model":             string(observe.GenAIRequestModel),
		"gen_ai.request.max_tokens":        string(observe.GenAIRequestMaxTokens),
		"gen_ai.request.temperature":       string(observe.GenAIRequestTemperature),
		"gen_ai.response.model":            string(observe.GenAIResponseModel),
		"gen_ai.response.id":               string(observe.GenAIResponseID),
		"gen_ai.response.finish_reasons":   string(observe.GenAIResponseFinish),
		"gen_ai.usage.input_tokens":        string(observe.GenAIUsageInputTokens),
		"gen_ai.usage.output_tokens":       string(observe.GenAIUsageOutputTokens),
		"gen_ai.token.type":                string(observe.GenAITokenType),
		"gen_ai.output.type":               string(observe.GenAIOutputType),
		"chat":                             observe.GenAIOperationChat,
		"input":                            observe.GenAITokenTypeInput,
		"output":                           observe.GenAITokenTypeOutput,
		"json":                             observe.GenAIOutputTypeJSON,
		"gen_ai.client.token.usage":        observe.MetricGenAITokenUsage,
		"gen_ai.client.operation.duration": observe.MetricGenAIOperationTime,
	}
	for want, got := range spec {
		assert.Equal(t, want, got)
	}
}
