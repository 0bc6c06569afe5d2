package contract

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/plumb-dev/plumb/retry"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

type answerContact struct {
	Name  string `json:"name"`
	Phone string `json:"phone,omitempty"`
}

type answerLead struct {
	Name        string         `json:"name" jsonschema:"minLength=1"`
	Email       string         `json:"email" jsonschema:"format=email"`
	Stage       string         `json:"stage" jsonschema:"enum=new,enum=warm,enum=hot"`
	Budget      int            `json:"budget" jsonschema:"minimum=0"`
	Qualified   bool           `json:"qualified"`
	Notes       string         `json:"notes,omitempty"`
	Tags        []string       `json:"tags,omitempty"`
	Contact     *answerContact `json:"contact,omitempty"`
	ContactedAt *time.Time     `json:"contacted_at,omitempty"`
}

// TestDecodeCorpus runs realistic model answers (testdata/answers/*.txt:
// "expect:" lines, a "----" line, then the answer verbatim) through Decode.
// An expectation is "decoded", "violation <path> <keyword>" (one line per
// violation, "(root)" for the root), "syntax <words the message has>" or
// "ambiguous <path> <words the message has>".
func TestDecodeCorpus(t *testing.T) {
	files, err := filepath.Glob("testdata/answers/*.txt")
	require.NoError(t, err)
	require.GreaterOrEqual(t, len(files), 30)
	for _, file := range files {
		t.Run(strings.TrimSuffix(filepath.Base(file), ".txt"), func(t *testing.T) {
			data, err := os.ReadFile(file)
			require.NoError(t, err)
			head, answer, ok := strings.Cut(string(data), "----\n")
			require.True(t, ok, "no ---- line")
			var wantViolations []string
			outcome := ""
			for _, line := range strings.Split(strings.TrimSpace(head), "\n") {
				e := strings.TrimPrefix(line, "expect: ")
				kind, rest, _ := strings.Cut(e, " ")
				outcome = kind
				switch kind {
				case "violation":
					rest = strings.Replace(rest, "(root) ", " ", 1)
					wantViolations = append(wantViolations, strings.TrimSpace(rest))
				case "syntax", "ambiguous":
					wantViolations = append(wantViolations, rest)
				}
			}

			lead, err := Decode[answerLead](answer)
			switch outcome {
			case "decoded":
				require.NoError(t, err)
				assert.Contains(t, lead.Name, "Ann")
				assert.NoError(t, Check(lead))
			case "violation":
				ve, ok := asValidationError(err)
				require.True(t, ok, "want violations, got %v", err)
				var got []string
				for _, v := range ve.Violations {
					got = append(got, strings.TrimSpace(v.Path+" "+v.Keyword))
					assert.NotEmpty(t, v.Message)
				}
				for i := range wantViolations {
					if strings.HasPrefix(wantViolations[i], " ") {
						wantViolations[i] = strings.TrimSpace(wantViolations[i])
					}
				}
				slices.Sort(got)
				slices.Sort(wantViolations)
				assert.Equal(t, wantViolations, got, "%v", err)
			case "syntax":
				ve, ok := asValidationError(err)
				require.True(t, ok, "want a syntax violation, got %v", err)
				require.Len(t, ve.Violations, 1)
				assert.Equal(t, "syntax", ve.Violations[0].Keyword)
				assert.Contains(t, ve.Violations[0].Message, wantViolations[0])
			case "ambiguous":
				ve, ok := asValidationError(err)
				require.True(t, ok, "want an ambiguity, got %v", err)
				require.Len(t, ve.Violations, 1, "%v", err)
				path, words, _ := strings.Cut(wantViolations[0], " ")
				assert.Equal(t, "ambiguous", ve.Violations[0].Keyword)
				assert.Equal(t, strings.TrimPrefix(path, "(root)"), ve.Violations[0].Path)
				assert.Contains(t, ve.Violations[0].Message, words)
				assert.Contains(t, ve.Violations[0].Message, "exactly one")
				var ae *AmbiguousError
				assert.ErrorAs(t, err, &ae)
				assert.ErrorIs(t, err, ErrAmbiguous)
				assert.ErrorIs(t, err, retry.ErrContract)
			default:
				t.Fatalf("unknown expectation %q", outcome)
			}
		})
	}
}

func TestExtract(t *testing.T) {
	tests := []struct {
		name, text, want string
		repairs          []string
		err              string
	}{
		{name: "plain", text: `{"a":1}`, want: `{"a":1}`},
		{name: "fence", text: "```json\n{\"a\": [1, 2]}\n```", want: `{"a":[1,2]}`, repairs: []string{"took the JSON from a markdown code fence"}},
		{name: "prose", text: "Result: [1, 2] done", want: `[1,2]`, repairs: []string{"ignored text around the JSON"}},
		{name: "trailing commas", text: `{"a": [1,],}`, want: `{"a":[1]}`, repairs: []string{"removed trailing commas"}},
		{name: "python", text: `{"a": True, "b": None, "c": False}`, want: `{"a":true,"b":null,"c":false}`, repairs: []string{"replaced Python literals (True, False, None) with JSON ones"}},
		{name: "single quotes", text: `{'a': 'it\'s "x"'}`, want: `{"a":"it's \"x\""}`, repairs: []string{"converted single-quoted strings to double-quoted ones", "dropped needless backslashes before single quotes"}},
		{name: "true inside string untouched", text: `{"a": "True None"}`, want: `{"a":"True None"}`},
		{name: "comments", text: "{\"a\": 1 // one\n, /* two */ \"b\": 2}", want: `{"a":1,"b":2}`, repairs: []string{"removed comments"}},
		{name: "comment markers inside string", text: `{"url": "http://x/*y*/"}`, want: `{"url":"http://x/*y*/"}`},
		{name: "bare keys", text: `{a: 1, b_2: "x"}`, want: `{"a":1,"b_2":"x"}`, repairs: []string{"quoted bare object keys"}},
		{name: "control chars", text: "{\"a\": \"x\ty\"}", want: `{"a":"x\u0009y"}`, repairs: []string{"escaped raw control characters inside strings"}},
		{name: "unicode escape kept", text: `{"a": "\u00e9"}`, want: `{"a":"\u00e9"}`},
		{name: "numbers untouched", text: `{"a": -0.5e+10, "b": "12"}`, want: `{"a":-0.5e+10,"b":"12"}`},
		{name: "empty", text: " ", err: "the answer is empty"},
		{name: "cut off", text: `{"a": [1, 2`, err: "answer ends mid-array at offset 11 (the output was probably cut off)"},
		{name: "cut off literal", text: `{"a": tru`, err: "answer ends mid-value at offset 9"},
		{name: "prose only", text: "Sure! Here is what I found: nothing.", err: `no JSON object or array found in the answer (it starts with: "Sure! Here is what I found: nothing.")`},
		{name: "long prose preview", text: strings.Repeat("word ", 30), err: `(it starts with: "word word word word word word word word word word word wo...")`},
		{name: "broken, not nested", text: `{"a": x, "b": {"c": 1}}`, err: "invalid JSON at offset 6: expected a value, found \"x\""},
		{name: "broken then good", text: `{"a": x} and then {"a": 1}`, want: `{"a":1}`, repairs: []string{"ignored text around the JSON"}},
		{name: "leading zero", text: `{"a": 01}`, err: "invalid JSON at offset 7: invalid number"},
		{name: "deep nesting", text: strings.Repeat("[", 600) + strings.Repeat("]", 600), err: "nesting deeper than 512 levels"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, repairs, err := Extract(tt.text)
			if tt.err != "" {
				require.Error(t, err)
				assert.Contains(t, err.Error(), tt.err)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.want, string(got))
			assert.Equal(t, tt.repairs, repairs)
		})
	}
}

func TestDecodeRootKinds(t *testing.T) {
	leads, err := Decode[[]answerLead]("Two leads: [{\"name\": \"Ann\", \"email\": \"a@b.co\", \"stage\": \"new\", \"budget\": 1, \"qualified\": true}] done")
	require.NoError(t, err)
	assert.Len(t, leads, 1)
	_, err = Decode[[]answerLead](`{"name": "Ann"}`)
	assert.ErrorContains(t, err, "no JSON array found in the answer: the JSON at offset 0 is an object")
	n, err := Decode[int]("  42 ")
	require.NoError(t, err)
	assert.Equal(t, 42, n)
	s, err := Decode[string]("```\n\"hello\"\n```")
	require.NoError(t, err)
	assert.Equal(t, "hello", s)
}

// TestExtractLinear feeds inputs that defeat a naive "try every brace"
// search; each must finish quickly.
func TestExtractLinear(t *testing.T) {
	for _, text := range []string{
		strings.Repeat(`{"a":`, 100000),
		strings.Repeat(`{`, 200000),
		strings.Repeat(`[{"a": 1} x`, 50000),
		strings.Repeat(`{ x`, 100000),
		strings.Repeat("```", 50000),
		strings.Repeat(`"`, 200000),
		strings.Repeat(`/*`, 100000),
	} {
		start := time.Now()
		_, _, _ = Extract(text)
		_, _ = Decode[answerLead](text)
		// Quadratic work on these sizes would take minutes; the bound is
		// loose for the race detector on a loaded machine.
		assert.Less(t, time.Since(start), 5*time.Second, "input of %d bytes starting %.20q", len(text), text)
	}
}

func FuzzDecode(f *testing.F) {
	files, _ := filepath.Glob("testdata/answers/*.txt")
	for _, file := range files {
		data, _ := os.ReadFile(file)
		_, answer, _ := strings.Cut(string(data), "----\n")
		f.Add(answer)
	}
	for _, s := range []string{"```json\n{", "{'a': True,}", "[{]}", "{\"a\":\"\\u12\"}", "/*", "{a:", "-", "1e", "\xff{", "{\"\xff\":1}",
		`{"a":1,"a":2}`, `{"a":1} {"a":2}`, `{"a":{"b":1,"b":1}} [1]`, "{\"\xff\":1,\"\xfe\":1}", `{"a":1,"\u0061":1.0}`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, text string) {
		lead, err := Decode[answerLead](text)
		if err == nil {
			require.NoError(t, Check(lead), "Decode accepted %q", text)
		} else {
			_, ok := asValidationError(err)
			require.True(t, ok, "Decode must fail with a *ValidationError, got %T", err)
		}
		if raw, _, err := Extract(text); err == nil {
			_, err := CompileSchema([]byte(`{}`))
			require.NoError(t, err)
			require.True(t, jsonValid(raw), "Extract returned invalid JSON %q for %q", raw, text)
		}
		checkAmbiguity(t, text)
	})
}

func jsonValid(raw []byte) bool { return json.Valid(raw) }

type rangeItem struct {
	Small uint8 `json:"small"`
	Count int64 `json:"count"`
	Level int16 `json:"level" jsonschema:"maximum=10"`
}

type rangeBox struct {
	Items []rangeItem `json:"items"`
}

// TestIntegerRanges: narrow integer kinds carry their range in the schema;
// what still overflows the Go type is reported at its exact path.
func TestIntegerRanges(t *testing.T) {
	s, err := SchemaFor[rangeItem]()
	require.NoError(t, err)
	assert.Contains(t, string(s.JSON()), `"small":{"type":"integer","maximum":255,"minimum":0}`)
	assert.Contains(t, string(s.JSON()), `"level":{"type":"integer","maximum":10,"minimum":-32768}`)

	_, err = Decode[rangeBox](`{"items": [{"small": 1, "count": 1, "level": 1}, {"small": 300, "count": 1, "level": -40000}]}`)
	requireViolations(t, err, "/items/1/level minimum", "/items/1/small maximum")
	_, err = Decode[rangeBox](`{"items": [{"small": 1, "count": 1, "level": 1}, {"small": 1, "count": 1e30, "level": 1}]}`)
	ve := requireViolations(t, err, "/items/1/count type")
	assert.Equal(t, "cannot be decoded into int64: number 1e30", ve.Violations[0].Message)
	assert.Equal(t, "1e30", ve.Violations[0].Value)
}
