package reviewhttp

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/plumb-dev/plumb/internal/webui"
)

func TestTokens(t *testing.T) {
	now := time.Date(2026, 11, 27, 9, 0, 0, 0, time.UTC)
	tk := tokens{key: []byte("0123456789abcdef0123456789abcdef"), now: func() time.Time { return now }}
	tok := tk.mint("ana")
	assert.True(t, tk.valid("ana", tok))
	for name, bad := range map[string]string{
		"empty":         "",
		"no dot":        "abc",
		"bad time":      "!!." + tok[len(tok)-43:],
		"cut signature": tok[:len(tok)-1],
		"other time":    "1" + tok,
	} {
		assert.False(t, tk.valid("ana", bad), name)
	}
	assert.False(t, tk.valid("bob", tok), "another reviewer")
	other := tokens{key: []byte("another key, as after a restart.."), now: tk.now}
	assert.False(t, other.valid("ana", tok), "another key")

	now = now.Add(webui.TokenTTL - time.Second)
	assert.True(t, tk.valid("ana", tok), "just before it expires")
	now = now.Add(2 * time.Second)
	assert.False(t, tk.valid("ana", tok), "expired")
	now = now.Add(-webui.TokenTTL - webui.TokenSkew - time.Minute)
	assert.False(t, tk.valid("ana", tok), "from the future")
}

func TestUnescapeHTML(t *testing.T) {
	for in, want := range map[string]string{
		`{"a":"\u003cb\u003e \u0026"}`:    `{"a":"<b> &"}`,
		`{"a":"\\u003c"}`:                 `{"a":"\\u003c"}`, // an escaped backslash, then text
		`{"a":"\\\u003c"}`:                `{"a":"\\<"}`,
		`{"a":"\u00e9 \u003C"}`:           `{"a":"\u00e9 <"}`,
		`{"\u003ck\u003e":1}`:             `{"<k>":1}`,
		`{"a":"\"\u003e"}`:                `{"a":"\">"}`,
		`["\u003c", 1, "x\u0026y", true]`: `["<", 1, "x&y", true]`,
	} {
		got := string(unescapeHTML([]byte(in)))
		assert.Equal(t, want, got, in)
		var a, b any
		require.NoError(t, json.Unmarshal([]byte(in), &a))
		require.NoError(t, json.Unmarshal([]byte(got), &b), "still JSON: %s", got)
		assert.Equal(t, a, b, "the same value: %s", in)
	}
}

func TestEditFromText(t *testing.T) {
	proposed := json.RawMessage(`{"subject":"\u003cb\u003e","n":1}`)
	for _, same := range []string{
		`{"subject":"<b>","n":1}`,
		"{\n  \"subject\": \"<b>\",\n  \"n\": 1\n}\n",
		`{"subject":"\u003cb\u003e","n":1}`,
	} {
		edit, err := editFromText(same, proposed)
		require.NoError(t, err)
		assert.Nil(t, edit, "the proposal is no edit: %s", same)
	}
	edit, err := editFromText(` {"subject":"<i>","n":1} `, proposed)
	require.NoError(t, err)
	assert.Equal(t, `{"subject":"<i>","n":1}`, string(edit))

	_, err = editFromText("{\n\"n\": 1,\n}", proposed)
	require.Error(t, err)
	assert.Contains(t, violationsOf(err)[0].Message, "line 3, column 1")
	_, err = editFromText(" \n", proposed)
	assert.Equal(t, "required", violationsOf(err)[0].Keyword)
}

func TestNormalizeBase(t *testing.T) {
	for in, want := range map[string]string{"": "/", "/": "/", "review": "/review/", "/ops/review": "/ops/review/"} {
		got, err := normalizeBase(in)
		require.NoError(t, err, in)
		assert.Equal(t, want, got, in)
	}
	for _, bad := range []string{"/a b/", "/{x}/", "//", "/a/../b", "/a%2f/", "/a?b"} {
		_, err := normalizeBase(bad)
		assert.Error(t, err, bad)
	}
}

func TestDurations(t *testing.T) {
	for d, want := range map[time.Duration]string{
		-time.Second:                "0s",
		45 * time.Second:            "45s",
		12 * time.Minute:            "12m",
		time.Hour:                   "1h",
		3*time.Hour + 5*time.Minute: "3h 5m",
		50 * time.Hour:              "2d 2h",
		48 * time.Hour:              "2d",
	} {
		assert.Equal(t, want, human(d), d.String())
	}
	for d, want := range map[time.Duration]string{
		0:                       "0s",
		350 * time.Microsecond:  "350µs",
		350 * time.Millisecond:  "350ms",
		1200 * time.Millisecond: "1.2s",
		90 * time.Second:        "1m",
	} {
		assert.Equal(t, want, precise(d), d.String())
	}
}
