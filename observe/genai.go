package observe

import "go.opentelemetry.io/otel/attribute"

// OpenTelemetry GenAI semantic-convention names, declared here because the
// semconv Go packages from v1.42 on no longer carry them. genai_test.go
// pins each to the specification's spelling.
const (
	GenAIOperationName       = attribute.Key("gen_ai.operation.name")
	GenAIProviderName        = attribute.Key("gen_ai.provider.name")
	GenAIRequestModel        = attribute.Key("gen_ai.request.model")
	GenAIRequestMaxTokens    = attribute.Key("gen_ai.request.max_tokens")
	GenAIRequestTemperature  = attribute.Key("gen_ai.request.temperature")
	GenAIResponseModel       = attribute.Key("gen_ai.response.model")
	GenAIResponseID          = attribute.Key("gen_ai.response.id")
	GenAIResponseFinish      = attribute.Key("gen_ai.response.finish_reasons")
	GenAIUsageInputTokens    = attribute.Key("gen_ai.usage.input_tokens")
	GenAIUsageOutputTokens   = attribute.Key("gen_ai.usage.output_tokens")
	GenAITokenType           = attribute.Key("gen_ai.token.type")
	GenAIOutputType          = attribute.Key("gen_ai.output.type")
	GenAIOperationChat       = "chat"
	GenAITokenTypeInput      = "input"
	GenAITokenTypeOutput     = "output"
	GenAIOutputTypeJSON      = "json"
	GenAIOutputTypeText      = "text"
	MetricGenAITokenUsage    = "gen_ai.client.token.usage"
	MetricGenAIOperationTime = "gen_ai.client.operation.duration"
)
