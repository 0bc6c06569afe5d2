package console

import (
	"net/url"
	"strings"
	"testing"
	"unicode/utf8"
)

// FuzzSearch feeds untrusted query strings to the search's parser: it
// never panics, and what it keeps round-trips through its own query.
func FuzzSearch(f *testing.F) {
	for _, s := range []string{"", "status=dead_lettered&pipeline=leads", "since=2026-12-03T10:00&until=x", "class=contract&before=01M8", "status=%ff"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		q, err := url.ParseQuery(raw)
		if err != nil {
			return
		}
		s := searchOf(q)
		_, _ = s.filter()
		again := searchOf(mustQuery(t, s.query()))
		again.Before = s.Before
		if again != s {
			t.Fatalf("search %+v reads back as %+v", s, again)
		}
		_ = describe(s)
	})
}

func mustQuery(t *testing.T, s string) url.Values {
	q, err := url.ParseQuery(s)
	if err != nil {
		t.Fatalf("the search's own query %q does not parse: %v", s, err)
	}
	return q
}

// FuzzLineDiff checks the diff of two texts: taking its "same" and
// "removed" lines gives the first text back, "same" and "added" the second.
func FuzzLineDiff(f *testing.F) {
	f.Add("{\n  \"score\": 7\n}", "{\n  \"score\": 0.8\n}")
	f.Add("", "a")
	f.Fuzz(func(t *testing.T, a, b string) {
		if !utf8.ValidString(a) || !utf8.ValidString(b) {
			return
		}
		var x, y []string
		for _, l := range lineDiff(a, b) {
			if l.Op != "+" {
				x = append(x, l.Text)
			}
			if l.Op != "-" {
				y = append(y, l.Text)
			}
		}
		if strings.Join(x, "\n") != a || strings.Join(y, "\n") != b {
			t.Fatalf("the diff of %q and %q does not give them back", a, b)
		}
	})
}
