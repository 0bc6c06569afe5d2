//go:build deps

// Package deps pins modules the packages under construction use.
package deps
import (
 _ "github.com/invopop/jsonschema"
 _ "github.com/cenkalti/backoff/v4"
 _ "go.opentelemetry.io/otel"
 _ "go.opentelemetry.io/otel/sdk/trace"
 _ "go.opentelemetry.io/otel/sdk/metric"
 _ "github.com/stretchr/testify/require"
 _ "github.com/santhosh-tekuri/jsonschema/v6"
 _ "modernc.org/sqlite"
 _ "github.com/jackc/pgx/v5/pgxpool"
 _ "github.com/openai/openai-go/v3"
 _ "github.com/anthropics/anthropic-sdk-go/v2"
 _ "github.com/chromedp/chromedp"
 _ "golang.org/x/time/rate"
 _ "github.com/spf13/cobra"
 _ "github.com/jackc/pgx/v5/stdlib"
 _ "github.com/stretchr/testify/assert"
)

