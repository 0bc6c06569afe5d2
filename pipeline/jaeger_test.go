package pipeline_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"

	"github.com/plumb-dev/plumb/observe"
	"github.com/plumb-dev/plumb/pipeline"
	"github.com/plumb-dev/plumb/retry"
	"github.com/plumb-dev/plumb/step"
	"github.com/plumb-dev/plumb/store"
)

// jaeger names the Jaeger that PLUMB_TEST_JAEGER_OTLP (its OTLP/HTTP base
// URL) and PLUMB_TEST_JAEGER_QUERY (its query API) point at. Without them
// the test is skipped, loudly; under CI=true that is a failure.
func jaeger(tb testing.TB) (otlp, query string) {
	otlp, query = os.Getenv("PLUMB_TEST_JAEGER_OTLP"), os.Getenv("PLUMB_TEST_JAEGER_QUERY")
	if otlp == "" || query == "" {
		const how = `PLUMB_TEST_JAEGER_OTLP and PLUMB_TEST_JAEGER_QUERY are not set: start Jaeger with eval "$(bash .ci/jaeger.sh)"`
		if os.Getenv("CI") == "true" {
			tb.Fatal(how + " (CI=true: the Jaeger tests must run)")
		}
		tb.Skip("SKIPPED, NOT RUN: " + how)
	}
	return otlp, query
}

// A durable run's spans, exported by OTLP/HTTP, reach a real Jaeger, which
// finds them under the trace id the store recorded for the run: an
// operator goes from `plumb runs show` to the trace.
func TestRunTraceIsFoundInJaegerByItsRecordedID(t *testing.T) {
	otlpURL, queryURL := jaeger(t)
	for _, opener := range durableStores {
		t.Run(opener.name, func(t *testing.T) {
			ctx := context.Background()
			st := opener.open(t, retry.SystemClock)
			endpoint, err := url.JoinPath(otlpURL, "v1", "traces")
			require.NoError(t, err)
			exp, err := otlptracehttp.New(ctx, otlptracehttp.WithEndpointURL(endpoint))
			require.NoError(t, err)
			service := "plumb-test-" + opener.name
			tp := sdktrace.NewTracerProvider(sdktrace.WithBatcher(exp),
				sdktrace.WithResource(resource.NewSchemaless(attribute.String("service.name", service))))
			t.Cleanup(func() { _ = tp.Shutdown(context.Background()) })
			rt := pipeline.NewRuntime(pipeline.RuntimeConfig{Store: st, Logger: slog.New(slog.DiscardHandler),
				Telemetry: observe.New(observe.WithTracerProvider(tp))})
			name := "jaeger-" + opener.name
			p1 := pipeline.New(rt, name, step.New("parse", parse, step.Config{}), pipeline.Policy{Outage: pipeline.NoOutage})
			p := pipeline.Then(p1, step.New("enrich", func(_ context.Context, l Lead) (Enriched, error) {
				return Enriched{Lead: l, Score: 80, Note: "warm"}, nil
			}, step.Config{}))

			id, err := p.Submit(ctx, ada, pipeline.SubmitOptions{})
			require.NoError(t, err)
			d := workUntil(t, p, st, id, store.Succeeded, 0)
			require.NoError(t, tp.ForceFlush(ctx), "the spans reach Jaeger's OTLP receiver")
			traceID := d.Run.TraceID
			require.Len(t, traceID, 32, "the store recorded the run's trace")
			for _, rec := range d.Steps {
				assert.Equal(t, traceID, rec.TraceID, "step %s ran in the run's one execution", rec.Step)
			}

			tr := findTrace(t, queryURL, traceID, 3)
			assert.Equal(t, traceID, tr.TraceID)
			spans := map[string]jaegerSpan{}
			for _, s := range tr.Spans {
				spans[s.OperationName] = s
				assert.Equal(t, service, tr.Processes[s.ProcessID].ServiceName, "span %s", s.OperationName)
				assert.Equal(t, observe.ScopeName, s.tag("otel.scope.name"), "span %s", s.OperationName)
			}
			root, ok := spans[observe.SpanRun+" "+name]
			require.True(t, ok, "the run's span is in the trace: %v", tr.Spans)
			assert.Equal(t, name, root.tag(observe.AttrPipeline))
			assert.Equal(t, id, root.tag(observe.AttrRunID))
			assert.Equal(t, observe.OutcomeSucceeded, root.tag(observe.AttrOutcome))
			assert.Equal(t, d.Run.SpanID, root.SpanID, "the store recorded the root span too")
			assert.Empty(t, root.parent(), "the run's span is the trace's root")
			for _, stepName := range []string{"parse", "enrich"} {
				s, ok := spans[observe.SpanStep+" "+stepName]
				if !assert.True(t, ok, "step %s's span is in the trace", stepName) {
					continue
				}
				assert.Equal(t, stepName, s.tag(observe.AttrStep))
				assert.Equal(t, name, s.tag(observe.AttrPipeline))
				assert.Equal(t, observe.OutcomeSucceeded, s.tag(observe.AttrOutcome))
				assert.Equal(t, root.SpanID, s.parent(), "step %s's span is a child of the run's", stepName)
			}
		})
	}
}

// jaegerTrace is the part of a trace in the answer of Jaeger's query API
// (GET /api/traces/<trace id>) that the test reads.
type jaegerTrace struct {
	TraceID   string                   `json:"traceID"`
	Spans     []jaegerSpan             `json:"spans"`
	Processes map[string]jaegerProcess `json:"processes"`
}

type jaegerSpan struct {
	SpanID        string `json:"spanID"`
	OperationName string `json:"operationName"`
	ProcessID     string `json:"processID"`
	References    []struct {
		RefType string `json:"refType"`
		SpanID  string `json:"spanID"`
	} `json:"references"`
	Tags []struct {
		Key   string `json:"key"`
		Value any    `json:"value"`
	} `json:"tags"`
}

type jaegerProcess struct {
	ServiceName string `json:"serviceName"`
}

// tag is the value of the span's tag key, as text ("" when it has none).
func (s jaegerSpan) tag(key attribute.Key) string {
	for _, t := range s.Tags {
		if t.Key == string(key) {
			return fmt.Sprint(t.Value)
		}
	}
	return ""
}

// parent is the span id the span is a child of ("" for a root).
func (s jaegerSpan) parent() string {
	for _, r := range s.References {
		if r.RefType == "CHILD_OF" {
			return r.SpanID
		}
	}
	return ""
}

// findTrace asks Jaeger's query API for the trace until it holds at least
// spans spans: Jaeger stores what its receiver accepted a moment later.
func findTrace(t *testing.T, queryURL, traceID string, spans int) jaegerTrace {
	t.Helper()
	u, err := url.JoinPath(queryURL, "api", "traces", traceID)
	require.NoError(t, err)
	client := &http.Client{Timeout: 5 * time.Second}
	var last string
	deadline := time.Now().Add(15 * time.Second)
	for {
		tr, status, err := getTrace(client, u)
		switch {
		case err != nil:
			last = err.Error()
		case status != http.StatusOK:
			last = fmt.Sprintf("status %d", status)
		case len(tr.Spans) >= spans:
			return tr
		default:
			last = fmt.Sprintf("%d of %d spans", len(tr.Spans), spans)
		}
		if time.Now().After(deadline) {
			t.Fatalf("Jaeger at %s has no trace %s with %d spans: %s", queryURL, traceID, spans, last)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func getTrace(client *http.Client, u string) (jaegerTrace, int, error) {
	resp, err := client.Get(u)
	if err != nil {
		return jaegerTrace{}, 0, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		return jaegerTrace{}, resp.StatusCode, err
	}
	var answer struct {
		Data []jaegerTrace `json:"data"`
	}
	if err := json.Unmarshal(body, &answer); err != nil {
		return jaegerTrace{}, resp.StatusCode, fmt.Errorf("decode %s: %w", body, err)
	}
	if len(answer.Data) != 1 {
		return jaegerTrace{}, resp.StatusCode, fmt.Errorf("%d traces in %s", len(answer.Data), body)
	}
	return answer.Data[0], resp.StatusCode, nil
}
