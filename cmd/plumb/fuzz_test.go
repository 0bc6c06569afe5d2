package main

import (
	"encoding/json"
	"errors"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/plumb-dev/plumb/store"
)

// FuzzPointer: a pointer built from tokens parses back to those tokens,
// and whatever pointer(s) accepts re-escapes to a pointer that parses
// the same. It never panics.
func FuzzPointer(f *testing.F) {
	for _, s := range []string{"/a/b", "a~1b/~0", "/~01", "/a~2b", "/a~", "~", "/-", "/0/1", "//", "/a\x00b", "/é~1"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		toks, err := pointer(s)
		if err == nil {
			again, err := pointer(join(toks))
			if err != nil || !slices.Equal(toks, again) {
				t.Fatalf("pointer(%q) = %q, but its escaped form parses as %q, %v", s, toks, again, err)
			}
		}
		// The same string, as the tokens of a pointer (split on NUL). The
		// one empty token is "/", which --set reads as the whole input and
		// refuses (--patch replaces it).
		toks = strings.Split(s, "\x00")
		if len(toks) == 1 && toks[0] == "" {
			return
		}
		got, err := pointer(join(toks))
		if err != nil || !slices.Equal(toks, got) {
			t.Fatalf("tokens %q escaped as %q parse back as %q, %v", toks, join(toks), got, err)
		}
	})
}

func join(toks []string) string {
	var b strings.Builder
	for _, t := range toks {
		b.WriteString("/" + escapeToken(t))
	}
	return b.String()
}

// FuzzSet applies one --set to a document: it never panics, refuses only
// with a usage error, and what it writes is JSON in which the value sits
// at the path.
func FuzzSet(f *testing.F) {
	f.Add(`{"id":"L-1","tags":["a"],"n":12345678901234567890}`, "/text=Ada <ada@example.com>")
	f.Add(`{"tags":["a"]}`, "/tags/-=c")
	f.Add(`{"tags":["a"]}`, "/tags/7=c")
	f.Add(`{"a":{"b":1}}`, "/a/b/c=[1,{\"x\":null}]")
	f.Add(`[1]`, "/0=true")
	f.Add(`"s"`, "/x=1")
	f.Add(`{}`, "/a~2b=1")
	f.Add(`{}`, "no-equals")
	f.Fuzz(func(t *testing.T, doc, expr string) {
		var v any
		if json.Unmarshal([]byte(doc), &v) != nil {
			return // the stored input is JSON
		}
		out, err := applySets([]byte(doc), []string{expr})
		if err != nil {
			var ee *exitError
			if !errors.As(err, &ee) || ee.code != exitUsage && ee.code != exitFailed {
				t.Fatalf("refused without an exit code: %v", err)
			}
			return
		}
		var got any
		if err := json.Unmarshal(out, &got); err != nil {
			t.Fatalf("--set %q on %s wrote %s, not JSON: %v", expr, doc, out, err)
		}
		path, value, _ := strings.Cut(expr, "=")
		toks, err := pointer(path)
		if err != nil {
			t.Fatalf("a --set applied although its path %q is refused: %v", path, err)
		}
		at := got
		for _, tok := range toks {
			switch n := at.(type) {
			case map[string]any:
				at = n[tok]
			case []any:
				i := len(n) - 1 // "-" appended
				if tok != "-" {
					i = atoi(tok)
				}
				at = n[i]
			default:
				t.Fatalf("--set %q on %s: %q leads into %T", expr, doc, tok, at)
			}
		}
		want, err := decodeJSON([]byte(value))
		if err != nil {
			want = value
		}
		a, _ := json.Marshal(at)
		b, _ := json.Marshal(want)
		if string(a) != string(b) {
			var wv, av any
			_ = json.Unmarshal(b, &wv)
			_ = json.Unmarshal(a, &av)
			if wb, _ := json.Marshal(wv); string(wb) != string(a) {
				t.Fatalf("--set %q on %s: the path holds %s, want %s", expr, doc, a, b)
			}
		}
	})
}

func atoi(s string) int {
	n := 0
	for _, c := range s {
		n = n*10 + int(c-'0')
	}
	return n
}

// FuzzParseWhen: --since and --until never panic, refuse only with a
// usage error, and read back what was written: a duration in days and
// time.Duration's own form, or a time in RFC 3339.
func FuzzParseWhen(f *testing.F) {
	for _, s := range []string{"90m", "3d", "1d12h", "-2h", "2026-11-27", "2026-11-27T02:00", "2026-11-27T02:00:00.5+02:00", "106752d", "9999999999d", "1d-5h", "+1d", "d", "0d0s"} {
		f.Add(s, int64(3), int64(90*time.Minute), int64(1795000000))
	}
	now := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, s string, days, rest, unix int64) {
		got, err := parseWhen("--since", s, now)
		if err != nil {
			var ee *exitError
			if !errors.As(err, &ee) || ee.code != exitUsage {
				t.Fatalf("parseWhen(%q) refused without a usage error: %v", s, err)
			}
		} else if d, derr := parseDuration(s); derr == nil && got.After(now) {
			t.Fatalf("parseWhen(%q) = %s, after now, from the duration %s", s, got, d)
		}
		if d, err := parseDuration(s); err == nil && d < 0 && !strings.Contains(s, "-") {
			t.Fatalf("parseDuration(%q) = %s: negative without a sign", s, d)
		}

		days, rest = abs(days)%(106751), abs(rest)%int64(24*time.Hour)
		want := time.Duration(days)*24*time.Hour + time.Duration(rest)
		text := ""
		if days > 0 {
			text = strconv.FormatInt(days, 10) + "d"
		}
		if rest > 0 || days == 0 {
			text += time.Duration(rest).String()
		}
		if d, err := parseDuration(text); err != nil || d != want {
			t.Fatalf("parseDuration(%q) = %s, %v; want %s", text, d, err, want)
		}
		at := time.Unix(abs(unix)%253402300799, 0).UTC()
		if got, err := parseWhen("--until", at.Format(time.RFC3339Nano), now); err != nil || !got.Equal(at) {
			t.Fatalf("parseWhen(%q) = %s, %v", at.Format(time.RFC3339Nano), got, err)
		}
	})
}

func abs(n int64) int64 {
	if n < 0 {
		if n == -n {
			return 0
		}
		return -n
	}
	return n
}

// FuzzParseDefinitions reads --definition files: it never panics, and
// what it accepts is definitions with a name, steps and contracts that
// compile, which the version check then takes.
func FuzzParseDefinitions(f *testing.F) {
	for _, s := range []string{
		`{"name":"leads","steps":[{"name":"parse","input_schema":{"type":"object"}}]}`,
		`[{"name":"a","steps":[{"name":"s"}]},{"name":"b","steps":[{"name":"t","output_schema":{"enum":[1]}}]}]`,
		`{"name":"x","steps":[{"name":"s","input_schema":{"type":"nope"}}]}`,
		`[]`, `{}`, `null`, ` [ `, `{"name":"x","steps":null}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		defs, err := parseDefinitions(b)
		if err != nil {
			return
		}
		for _, d := range defs {
			if d.Name == "" || len(d.Steps) == 0 {
				t.Fatalf("accepted a definition with no name or no steps: %q", b)
			}
			if _, err := store.NewVersionCheck(d); err != nil {
				t.Fatalf("accepted a definition whose check does not compile: %v", err)
			}
		}
	})
}
