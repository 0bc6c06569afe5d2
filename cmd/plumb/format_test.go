package main

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestApplySets(t *testing.T) {
	base := `{"id":"L-1","text":"no email","tags":["a"],"n":12345678901234567890}`
	for _, tc := range []struct {
		name string
		sets []string
		want string // "" means a usage error
	}{
		{"a string", []string{"/text=Ada <ada@example.com>"}, `{"id":"L-1","n":12345678901234567890,"tags":["a"],"text":"Ada <ada@example.com>"}`},
		{"no leading slash", []string{"text=x"}, `{"id":"L-1","n":12345678901234567890,"tags":["a"],"text":"x"}`},
		{"JSON values parse", []string{"/n=12", "/text=null", "/ok=true"}, `{"id":"L-1","n":12,"ok":true,"tags":["a"],"text":null}`},
		{"a quoted number stays a string", []string{`/id="42"`}, `{"id":"42","n":12345678901234567890,"tags":["a"],"text":"no email"}`},
		{"objects on the way are made", []string{"/meta/source=web"}, `{"id":"L-1","meta":{"source":"web"},"n":12345678901234567890,"tags":["a"],"text":"no email"}`},
		{"array index and append", []string{"/tags/0=b", "/tags/-=c"}, `{"id":"L-1","n":12345678901234567890,"tags":["b","c"],"text":"no email"}`},
		{"escaped names", []string{"/a~1b~0c=1"}, `{"a/b~c":1,"id":"L-1","n":12345678901234567890,"tags":["a"],"text":"no email"}`},
		{"value with =", []string{"/text=a=b"}, `{"id":"L-1","n":12345678901234567890,"tags":["a"],"text":"a=b"}`},
		{"no =", []string{"/text"}, ""},
		{"the root", []string{"/=1"}, ""},
		{"into a string", []string{"/text/x=1"}, ""},
		{"index out of range", []string{"/tags/5=x"}, ""},
		{"not UTF-8", []string{"/\xd5=1"}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := applySets([]byte(base), tc.sets)
			if tc.want == "" {
				require.Error(t, err)
				assert.Equal(t, exitUsage, exitCode(err))
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tc.want, string(got))
		})
	}
}

func TestChanges(t *testing.T) {
	got := changes([]byte(`{"a":1,"b":{"c":"x","d":[1,2]},"gone":true}`), []byte(`{"a":1,"b":{"c":"y","d":[1,3]},"new":"z"}`), "the input")
	assert.Equal(t, []string{`/b/c: "x" → "y"`, `/b/d/1: 2 → 3`, `/gone: removed (was true)`, `/new: added "z"`}, got)
	assert.Empty(t, changes([]byte(`{"a":1}`), []byte(`{ "a": 1 }`), "the input"))
}

func TestParseWhen(t *testing.T) {
	now := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
	for in, want := range map[string]time.Time{
		"90m":                  now.Add(-90 * time.Minute),
		"3d":                   now.Add(-72 * time.Hour),
		"1d12h":                now.Add(-36 * time.Hour),
		"2026-11-27":           time.Date(2026, 11, 27, 0, 0, 0, 0, time.UTC),
		"2026-11-27T02:00":     time.Date(2026, 11, 27, 2, 0, 0, 0, time.UTC),
		"2026-11-27T02:00:00Z": time.Date(2026, 11, 27, 2, 0, 0, 0, time.UTC),
	} {
		got, err := parseWhen("--since", in, now)
		require.NoError(t, err, in)
		assert.True(t, want.Equal(got), "%s: got %s, want %s", in, got, want)
	}
	for _, in := range []string{"yesterday", "-2h", "2026-13-01", "106752d", "1d-5h", "+1d", "-1d"} {
		_, err := parseWhen("--since", in, now)
		assert.Equal(t, exitUsage, exitCode(err), in)
	}
}

func TestFormatting(t *testing.T) {
	for d, want := range map[time.Duration]string{
		0: "0s", 40 * time.Microsecond: "<1ms", 850 * time.Millisecond: "850ms", 1200 * time.Millisecond: "1.2s",
		42 * time.Second: "42s", 184 * time.Second: "3m04s", time.Hour: "1h", 125 * time.Minute: "2h05m",
		76 * time.Hour: "3d04h", 72 * time.Hour: "3d",
	} {
		assert.Equal(t, want, fmtDur(d), d.String())
	}
	assert.Equal(t, `{"a": "<b> & \\u003c"}`, unescapeHTML(`{"a": "\u003cb\u003e \u0026 \\u003c"}`),
		"an escaped backslash before u003c is not an escape of <")
	var w strings.Builder
	block(&w, "| ", strings.Repeat("line\n", 40), limits{lines: 3, bytes: 1000})
	assert.Equal(t, "| line\n| line\n| line\n| … (cut; 199 bytes in all, 40 lines; --full shows everything)\n", w.String())
	assert.Equal(t, "lead L-7 has no email address",
		shortError(`step "parse" failed (permanent) after 1 attempt: permanent: lead L-7 has no email address`))
	assert.Equal(t, "contract violated: x", shortError(`step "classify" failed (contract) after 2 attempts: contract violated: x`))
	assert.Equal(t, "rejected by ana: spam", shortError("rejected by ana: spam"))
	assert.Equal(t, "'it'\\''s here'", shellQuote("it's here"))
	assert.Equal(t, "plumb.db", shellQuote("plumb.db"))
}
