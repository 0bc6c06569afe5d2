package contract

import (
	"math"
	"strings"
	"testing"
	"time"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// validatorFormat returns santhosh-tekuri's own check for a format name,
// taken from a compiled schema, as Check uses it.
func validatorFormat(t testing.TB, name string) *jsonschema.Format {
	t.Helper()
	s, err := CompileSchema([]byte(`{"format": "` + name + `"}`))
	require.NoError(t, err)
	require.NotNil(t, s.root.Format, name)
	return s.root.Format
}

var formatSeeds = []string{
	"", "a", "2024-02-29", "2023-02-29", "2024-02-30", "0000-01-01", "9999-12-31", "2024-13-01",
	"2016-12-31T23:59:60Z", "2016-12-31T23:59:60+01:00", "1990-12-31T15:59:60-08:00", "2024-01-01T00:00:00.5z",
	"2024-01-01T00:00:00+23:59", "2024-01-01T00:00:00+24:00", "12:00:00Z", "23:59:60Z", "+1:00:00Z",
	"ann@example.com", "josé@example.com", "a@b", "a@[127.0.0.1]", "\"q\"@example.com", "a.@example.com",
	"example.com", "a.", "a..b", "-a.com", "xn--bcher-kva.example",
	"1.2.3.4", "01.2.3.4", "+1.2.3.4", "256.0.0.1", "::1", "fe80::1%eth0", "::ffff:1.2.3.4",
	"123e4567-e89b-12d3-a456-426614174000", "123e4567-e89b-12d3-a456-42661417400g",
	"https://example.com/a?b=c#d", "http://[fe80::1%25eth0]/", "http://fe80::1/", "http://[::1]:80/",
	"mailto:a@b.c", "urn:isbn:1", "http://h:/", "http://h:x/", "http://h/%zz", "http://h/%4a", "http:",
	"a:b", "x://" + strings.Repeat("a", 300), "http://a.com/#a#b", "HTTP://X", "http://u@h/", "h\x7ftp://x",
}

// TestFormatFastPathsAreSound: a fast path may only say "valid" when the
// validator agrees; "unsure" is always allowed.
func TestFormatFastPathsAreSound(t *testing.T) {
	for name, fast := range fastFormats {
		f := validatorFormat(t, name)
		for _, s := range formatSeeds {
			if fast(s) {
				assert.NoErrorf(t, f.Validate(s), "fast path %s accepts %q", name, s)
				assert.Truef(t, asciiOnly(s), "fast path %s accepts non-ASCII %q", name, s)
			}
		}
	}
}

// TestFormatFastPathsCoverCommonValues: the values real payloads carry take
// the fast path (and so allocate nothing).
func TestFormatFastPathsCoverCommonValues(t *testing.T) {
	common := map[string][]string{
		"date":      {"2024-02-29", "1999-12-31"},
		"date-time": {"2024-05-17T13:04:05Z", "2024-05-17T13:04:05.123456789+05:30", time.Now().Format(time.RFC3339Nano)},
		"time":      {"13:04:05Z", "13:04:05.5-08:00"},
		"email":     {"ann@example.com", "first.last+tag@mail.example.co.uk"},
		"hostname":  {"example.com", "api-2.internal.example"},
		"ipv4":      {"192.168.1.10"},
		"ipv6":      {"2001:db8::1"},
		"uuid":      {"123e4567-e89b-12d3-a456-426614174000"},
		"uri":       {"https://example.com/a/b?q=1&r=%20x#top", "mailto:ann@example.com", "http://localhost:8080/"},
	}
	for name, values := range common {
		for _, s := range values {
			assert.Truef(t, fastFormats[name](s), "%s: %q should take the fast path", name, s)
		}
	}
}

func FuzzFormatFastPaths(f *testing.F) {
	for _, s := range formatSeeds {
		f.Add(s)
	}
	formats := map[string]*jsonschema.Format{}
	for name := range fastFormats {
		formats[name] = validatorFormat(f, name)
	}
	f.Fuzz(func(t *testing.T, s string) {
		for name, fast := range fastFormats {
			if fast(s) {
				if err := formats[name].Validate(s); err != nil {
					t.Fatalf("fast path %s accepts %q, the validator says %v", name, s, err)
				}
				// stringOK relies on it: a yes about s is then a yes about
				// its wire form, since only invalid UTF-8 differs.
				if !asciiOnly(s) {
					t.Fatalf("fast path %s accepts non-ASCII %q", name, s)
				}
			}
		}
	})
}

// TestTimeEncodable mirrors Time.MarshalJSON's refusals.
func TestTimeEncodable(t *testing.T) {
	for _, tm := range []time.Time{
		{},
		time.Date(0, 1, 1, 0, 0, 0, 0, time.UTC),
		time.Date(9999, 12, 31, 23, 59, 59, 999999999, time.UTC),
		time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC),
		time.Date(-1, 12, 31, 0, 0, 0, 0, time.UTC),
		time.Date(2024, 1, 1, 0, 0, 0, 0, time.FixedZone("", 23*3600+59*60+59)),
		time.Date(2024, 1, 1, 0, 0, 0, 0, time.FixedZone("", -24*3600)),
		time.Date(2024, 1, 1, 0, 0, 0, 0, time.FixedZone("", 100*3600)),
		time.Date(2024, 1, 1, 0, 0, 0, 0, time.FixedZone("", -75)),
		time.Date(0, 1, 1, 0, 0, 0, 0, time.FixedZone("", 1)),
		time.Date(0, 1, 1, 0, 0, 0, 0, time.FixedZone("", -1)),
		time.Date(9999, 12, 31, 23, 59, 59, 0, time.FixedZone("", -1)),
		time.Date(9999, 12, 31, 23, 59, 59, 0, time.FixedZone("", 1)),
		time.Unix(math.MaxInt64, 0), time.Unix(math.MinInt64, 0),
		time.Unix(math.MaxInt64, 0).In(time.FixedZone("", 3600)), time.Unix(math.MinInt64, 0).In(time.FixedZone("", -3600)),
		time.Unix(math.MaxInt64-62135596800, 0), time.Unix(math.MinInt64+62135596800, 999999999),
		time.Unix(-62167219200, 0), time.Unix(-62167219201, 0), time.Unix(253402300799, 0), time.Unix(253402300800, 0),
	} {
		_, err := tm.MarshalJSON()
		assert.Equal(t, err == nil, timeEncodable(tm), tm.String())
	}
}

func asciiOnly(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}
