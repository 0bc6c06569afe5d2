package main

import (
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestPointerEscapes(t *testing.T) {
	for in, want := range map[string][]string{
		"/a~1b":   {"a/b"},
		"/a~0b":   {"a~b"},
		"/~01":    {"~1"}, // ~0 then 1: a tilde and a one, not a slash
		"/a/~1/b": {"a", "/", "b"},
		"a":       {"a"},
	} {
		got, err := pointer(in)
		require.NoError(t, err, in)
		assert.Equal(t, want, got, in)
	}
	for in, want := range map[string]string{
		"/a~2b": `"~2" is not an escape in a JSON pointer: write ~0 for a "~" and ~1 for a "/"`,
		"/a~":   `a "~" ends the path: write ~0 for a "~" and ~1 for a "/"`,
		"/~/b":  `a "~" ends the token "~": write ~0 for a "~" and ~1 for a "/"`,
		"/a~b":  `"~b" is not an escape in a JSON pointer`,
	} {
		_, err := pointer(in)
		require.Error(t, err, in)
		assert.Contains(t, err.Error(), want, in)
	}
	for _, set := range []string{"/a~2b=1", "/a~=1"} {
		_, err := applySets([]byte(`{}`), []string{set})
		require.Error(t, err, set)
		assert.Equal(t, exitUsage, exitCode(err), set)
		assert.Contains(t, err.Error(), "--set "+strconv.Quote(set)+": ", set)
	}
}

// A diff names the document it compares, so that an approved edit of an
// output does not talk about an input.
func TestChangesNameTheDocument(t *testing.T) {
	assert.Equal(t, []string{`the output: {"a":1} → [1]`}, changes([]byte(`{"a":1}`), []byte(`[1]`), "the output"))
	assert.Equal(t, []string{"(the whole output is replaced)"}, changes([]byte(`{"a":1}`), []byte(`not json`), "the output"))
	assert.Equal(t, []string{`the input: 1 → 2`}, changes([]byte(`1`), []byte(`2`), "the input"))
	for _, l := range changes([]byte(`{"a":1}`), []byte(`[1]`), "the output") {
		assert.False(t, strings.Contains(l, "input"), l)
	}
}
