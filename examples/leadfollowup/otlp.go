package main

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"

	"github.com/plumb-dev/plumb/observe"
)

// otlpTelemetry exports the runs' spans by OTLP/HTTP to the collector at
// base (as OTEL_EXPORTER_OTLP_ENDPOINT names one: the traces go to
// base/v1/traces), under the service name leadfollowup. Its shutdown
// sends what is still buffered; call it before exiting. Only traces are
// exported: Jaeger, the backend the README shows, stores no metrics.
func otlpTelemetry(ctx context.Context, base string) (*observe.Telemetry, func() error, error) {
	u, err := url.Parse(base)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, nil, fmt.Errorf("-otlp %q: want the collector's base URL, such as http://127.0.0.1:4318", base)
	}
	exp, err := otlptracehttp.New(ctx, otlptracehttp.WithEndpointURL(u.JoinPath("v1", "traces").String()))
	if err != nil {
		return nil, nil, fmt.Errorf("-otlp: %w", err)
	}
	tp := sdktrace.NewTracerProvider(sdktrace.WithBatcher(exp),
		sdktrace.WithResource(resource.NewSchemaless(attribute.String("service.name", "leadfollowup"))))
	shutdown := func() error {
		// A collector that went away must not hold the exit for long.
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := tp.Shutdown(ctx); err != nil {
			return errors.Join(errors.New("-otlp: not every span was exported"), err)
		}
		return nil
	}
	return observe.New(observe.WithTracerProvider(tp)), shutdown, nil
}
