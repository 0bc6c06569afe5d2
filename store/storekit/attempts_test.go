package storekit_test

import (
	"bytes"
	"encoding/json"
	"math"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/plumb-dev/plumb/contract"
	"github.com/plumb-dev/plumb/retry"
	"github.com/plumb-dev/plumb/step"
	"github.com/plumb-dev/plumb/store"
	"github.com/plumb-dev/plumb/store/storekit"
)

// goldenAttempts are the attempts in testdata/attempts-v*.json: every
// field set somewhere, every kind, abandoned and unclassified attempts,
// violations, and attempts with only the fields that are always written.
func goldenAttempts() []store.AttemptRecord {
	start := time.Date(2026, 3, 14, 9, 26, 53, 589793238, time.UTC)
	return []store.AttemptRecord{
		{Step: "classify", Number: 1, Kind: step.AttemptInputContract, Note: "input contract", Start: start, Duration: 1500,
			Error: "contract: Lead: /email: missing", Class: retry.ClassContract,
			Violations: []contract.Violation{{Path: "/email", Keyword: "required", Message: "missing property \"email\""}}, ViolationCount: 1},
		{Step: "classify", Number: 2, Kind: step.AttemptCall, Start: start.Add(time.Second), Duration: 2 * time.Second,
			Error: "dial tcp: i/o timeout", Class: retry.ClassTransient, Unclassified: true, Abandoned: true,
			Model: "gpt-4o", InputTokens: 120, Cost: 0.00025, Wait: 750 * time.Millisecond},
		{Step: "classify", Number: 3, Kind: step.AttemptRetry, Start: start.Add(4 * time.Second), Duration: 900 * time.Millisecond,
			Error: "contract: Label: 2 violations", Class: retry.ClassContract, Raw: `{"label":"HOT","score":"high"}`,
			Violations: []contract.Violation{
				{Path: "/label", Keyword: "enum", Message: `"HOT" is not one of "hot", "warm", "cold"`, Value: `"HOT"`},
				{Path: "/score", Keyword: "type", Message: "want number, got string", Value: `"high"`},
			}, ViolationCount: 140,
			Model: "gpt-4o", InputTokens: 130, OutputTokens: 22, Cost: 0.0012},
		{Step: "classify", Number: 4, Kind: step.AttemptReask, Reask: 1, Note: "re-ask 1", Start: start.Add(5 * time.Second), Duration: time.Second,
			Error: "model refused", Class: retry.ClassRefusal, Raw: "I can't help with that.", Model: "gpt-4o", InputTokens: 200, OutputTokens: 9, Cost: 0.002},
		{Step: "classify", Number: 5, Kind: step.AttemptFallbackModel, FallbackModel: "gpt-4o-mini", Note: "fallback model gpt-4o-mini",
			Start: start.Add(7 * time.Second), Duration: 300 * time.Millisecond, Error: "rate limited", Class: retry.ClassBudget,
			Model: "gpt-4o-mini", InputTokens: 200, OutputTokens: 15, Cost: 0.0001, Wait: 3 * time.Second},
		{Step: "classify-rules", Number: 6, Kind: step.AttemptOutcome, Note: "step outcome", Start: start.Add(11 * time.Second), Duration: 42,
			Error: "step panicked: index out of range", Class: retry.ClassPermanent,
			Stack: "goroutine 7 [running]:\nmain.rules(...)\n\t/src/rules.go:12 +0x1d\n"},
		{Step: "classify-rules", Number: 7, Start: start.Add(12 * time.Second), Duration: 5 * time.Millisecond, Raw: `{"label":"hot"}`},
		{Step: "review", Number: 8, Error: "needs a person", Class: retry.ClassNeedsReview},
		{Step: "review", Number: 9, Error: "context canceled", Class: retry.ClassCancelled},
	}
}

func golden(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile("testdata/" + name)
	require.NoError(t, err)
	if strings.HasSuffix(name, ".bin") {
		return b
	}
	return bytes.TrimSuffix(b, []byte("\n"))
}

// Every format a store ever wrote must still decode, field for field.
func TestDecodeAttemptsReadsEveryFormat(t *testing.T) {
	for _, name := range []string{"attempts-v0.json", "attempts-v1.json", "attempts-v2.bin"} {
		t.Run(name, func(t *testing.T) {
			got, err := storekit.DecodeAttempts(golden(t, name))
			require.NoError(t, err)
			want := goldenAttempts()
			require.Len(t, got, len(want))
			for i := range want {
				assert.Equal(t, want[i], got[i], "attempt %d", i+1)
			}
		})
	}
}

// The current format writes exactly the golden bytes (set
// PLUMB_UPDATE_GOLDEN=1 to write them for a new format, once); the JSON
// it keeps for the rare fields is each attempt of format 1 less the
// fields it keeps in binary.
func TestEncodeAttemptsWritesTheCurrentFormat(t *testing.T) {
	require.Equal(t, 2, storekit.AttemptFormat, "a new format needs its own golden file and a decoder for the old one")
	b, err := storekit.EncodeAttempts(goldenAttempts())
	require.NoError(t, err)
	if os.Getenv("PLUMB_UPDATE_GOLDEN") == "1" {
		require.NoError(t, os.WriteFile("testdata/attempts-v2.bin", b, 0o644))
	}
	assert.Equal(t, golden(t, "attempts-v2.bin"), b)
	v1, err := storekit.EncodeAttemptsV1(goldenAttempts())
	require.NoError(t, err)
	assert.Less(t, len(b), len(v1)*3/4)
	assert.Contains(t, string(b), `{"kind":"input_contract","note":"input contract","error":"contract: Lead: /email: missing","class":"contract","violations":[{"path":"/email","keyword":"required","message":"missing property \"email\""}],"violation_count":1}`)

	// Format 1 is still written exactly as before.
	assert.Equal(t, string(golden(t, "attempts-v1.json")), string(v1))
	var blob struct {
		V        int             `json:"v"`
		Attempts json.RawMessage `json:"attempts"`
	}
	require.NoError(t, json.Unmarshal(v1, &blob))
	assert.Equal(t, 1, blob.V)
	assert.Equal(t, string(golden(t, "attempts-v0.json")), string(blob.Attempts))
}

// A plain step's attempt, the common case, takes a few bytes.
func TestEncodeAttemptsIsSmallForAPlainAttempt(t *testing.T) {
	start := time.Date(2026, 12, 3, 15, 0, 0, 123456789, time.UTC)
	in := []store.AttemptRecord{{Step: "qualify", Number: 1, Start: start, Duration: 41 * time.Microsecond}}
	b, err := storekit.EncodeAttempts(in)
	require.NoError(t, err)
	assert.LessOrEqual(t, len(b), 24)
	got, err := storekit.DecodeAttempts(b)
	require.NoError(t, err)
	assert.Equal(t, in, got)
}

// An attempt format 2 cannot hold (a start time outside int64
// nanoseconds, a number a format 1 blob may carry but no step makes) is
// written in format 1.
func TestEncodeAttemptsFallsBackToFormat1(t *testing.T) {
	for name, in := range map[string][]store.AttemptRecord{
		"an old start":    {{Step: "s", Number: 1, Start: time.Date(1500, 1, 1, 0, 0, 0, 0, time.UTC)}},
		"a negative":      {{Step: "s", Number: -1}},
		"a huge number":   {{Step: "s", Number: math.MaxInt32 + 1}},
		"one of two only": {{Step: "s", Number: 1}, {Step: "s", Number: -2}},
	} {
		t.Run(name, func(t *testing.T) {
			b, err := storekit.EncodeAttempts(in)
			require.NoError(t, err)
			assert.Equal(t, byte('{'), b[0])
			got, err := storekit.DecodeAttempts(b)
			require.NoError(t, err)
			assert.Equal(t, in, got)
		})
	}
}

func TestAttemptsRoundTrip(t *testing.T) {
	for name, in := range map[string][]store.AttemptRecord{
		"golden": goldenAttempts(),
		"empty":  {},
		"nil":    nil,
		"one":    {{Step: "s", Number: 1}},
		// Attempts of one step with no start take three bytes each.
		"many bare retries": slices.Repeat([]store.AttemptRecord{{Step: "s", Number: 2}}, 50),
	} {
		t.Run(name, func(t *testing.T) {
			b, err := storekit.EncodeAttempts(in)
			require.NoError(t, err)
			assert.Equal(t, in == nil, b == nil, "no attempts store nothing; an empty list is kept")
			got, err := storekit.DecodeAttempts(b)
			require.NoError(t, err)
			assert.Equal(t, in, got)
		})
	}
}

func TestDecodeAttemptsRefuses(t *testing.T) {
	for name, blob := range map[string]string{
		"a newer format":  "\x03\x00",
		"v2 as JSON":      `{"v":2,"attempts":[]}`,
		"truncated v2":    "\x02\x01\x00\x01s",
		"v2 left over":    "\x02\x00\x00",
		"v2 bad flags":    "\x02\x01\x40\x01s\x01\x00\x00",
		"format zero":     `{"v":0,"attempts":[]}`,
		"no version":      `{"attempts":[{"step":"s","number":1,"start":"0001-01-01T00:00:00Z","duration":0}]}`,
		"an unknown kind": `[{"step":"s","number":1,"kind":"guess","start":"0001-01-01T00:00:00Z","duration":0}]`,
		"not json":        `[{"step":`,
		"bad attempts":    `{"v":1,"attempts":{"step":"s"}}`,
	} {
		t.Run(name, func(t *testing.T) {
			_, err := storekit.DecodeAttempts([]byte(blob))
			assert.ErrorContains(t, err, "storekit: decode attempts")
		})
	}
}

// FuzzDecodeAttempts: a blob never panics the decoder, and what it
// decodes encodes to a blob that decodes to the same encoding.
func FuzzDecodeAttempts(f *testing.F) {
	for _, s := range []string{"attempts-v0.json", "attempts-v1.json", "attempts-v2.bin"} {
		b, err := os.ReadFile("testdata/" + s)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte(`{"v":1,"attempts":[]}`))
	f.Add([]byte(`null`))
	f.Fuzz(func(t *testing.T, b []byte) {
		recs, err := storekit.DecodeAttempts(b)
		if err != nil {
			return
		}
		enc, err := storekit.EncodeAttempts(recs)
		require.NoError(t, err)
		again, err := storekit.DecodeAttempts(enc)
		require.NoError(t, err)
		enc2, err := storekit.EncodeAttempts(again)
		require.NoError(t, err)
		assert.Equal(t, string(enc), string(enc2))
	})
}

// BenchmarkEncodeAttempts: a plain step's one attempt, as every record
// of the durable benchmarks has, in format 2 and in format 1.
func BenchmarkEncodeAttempts(b *testing.B) {
	in := []store.AttemptRecord{{Step: "qualify", Number: 1, Start: time.Date(2026, 12, 3, 15, 0, 0, 123456789, time.UTC), Duration: 41 * time.Microsecond}}
	for name, enc := range map[string]func([]store.AttemptRecord) ([]byte, error){"v2": storekit.EncodeAttempts, "v1": storekit.EncodeAttemptsV1} {
		b.Run(name, func(b *testing.B) {
			var n int
			for b.Loop() {
				blob, err := enc(in)
				if err != nil {
					b.Fatal(err)
				}
				n = len(blob)
			}
			b.ReportMetric(float64(n), "bytes")
		})
		blob, _ := enc(in)
		b.Run(name+"/decode", func(b *testing.B) {
			for b.Loop() {
				if _, err := storekit.DecodeAttempts(blob); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
