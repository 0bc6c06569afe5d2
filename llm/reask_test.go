package llm_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/plumb-dev/plumb/contract"
	"github.com/plumb-dev/plumb/llm"
	"github.com/plumb-dev/plumb/llm/llmtest"
	"github.com/plumb-dev/plumb/retry"
	"github.com/plumb-dev/plumb/step"
)

type orderItem struct {
	SKU string `json:"sku" jsonschema:"pattern=^[A-Z]{3}-[0-9]+$"`
	Qty int    `json:"qty" jsonschema:"minimum=1"`
}

type order struct {
	Items []orderItem `json:"items"`
}

const goodOrder = `{"items":[{"sku":"ABC-1","qty":1}]}`

// reasked runs a structured step whose model first answers bad, then
// well, and returns the re-ask message and the first attempt's record.
func reasked[Out any](t *testing.T, bad, good string) (string, step.Attempt) {
	t.Helper()
	m := llmtest.New(llmtest.Config{Answers: []llmtest.Answer{llmtest.Text(bad), llmtest.Text(good)}})
	s := llm.Structured[Out]("extract", m, prompt, llm.Options{})
	res, err := s.Run(context.Background(), lead)
	require.NoError(t, err)
	calls := m.Calls()
	require.Len(t, calls, 2)
	conv := calls[1].Messages
	require.Len(t, conv, 4)
	require.Len(t, res.Attempts, 2)
	return conv[3].Content, res.Attempts[0]
}

func TestReaskOfManyViolationsIsBounded(t *testing.T) {
	var b strings.Builder
	b.WriteString(`{"items":[`)
	for i := range 100_000 {
		if i > 0 {
			b.WriteString(",")
		}
		b.WriteString(`{"sku":"bad","qty":0}`)
	}
	b.WriteString("]}")
	reask, a := reasked[order](t, b.String(), goodOrder)

	assert.Less(t, len(reask), 8<<10)
	assert.Contains(t, reask, "- /items/0/qty: must be at least 1, got 0\n")
	assert.Contains(t, reask, "/items/9/sku")
	assert.NotContains(t, reask, "/items/10/qty", "twenty violations listed")
	assert.Contains(t, reask, "… and 199,980 more violations")
	assert.Equal(t, 21, strings.Count(reask, "\n- "))

	assert.Len(t, a.Violations, contract.MaxViolations, "the record keeps the first violations")
	assert.Equal(t, 200_000, a.ViolationCount, "and counts them all")
	assert.Less(t, len(a.Error), 8<<10)
}

func TestReaskOfAMillionExtraKeysIsBounded(t *testing.T) {
	var b strings.Builder
	b.WriteString(`{"stage":"warm","confidence":0.8,"reason":"asked for pricing"`)
	for i := range 1_000_000 {
		fmt.Fprintf(&b, `,"extra_%07d":1`, i)
	}
	b.WriteString("}")
	require.GreaterOrEqual(t, b.Len(), 16<<20)
	reask, a := reasked[Label](t, b.String(), good)

	assert.Less(t, len(reask), 8<<10)
	assert.Contains(t, reask, `(the whole answer): properties "extra_0000000", "extra_0000001"`)
	assert.Contains(t, reask, "and 999,980 more are not allowed")
	require.Len(t, a.Violations, 1)
	assert.Equal(t, 1, a.ViolationCount)
	assert.Less(t, len(a.Violations[0].Message), 2<<10)
}

// A re-ask repeats the model's answer so the model sees what it said; a
// runaway answer is repeated only in part, and the record keeps it whole.
func TestReaskRepeatsARunawayAnswerOnlyInPart(t *testing.T) {
	huge := `{"stage":"warm","confidence":0.8,"reason":"` + strings.Repeat("é", 8<<20) + `","extra":1}`
	m := llmtest.New(llmtest.Config{Answers: []llmtest.Answer{llmtest.Text(huge), llmtest.Text(good)}})
	s := llm.Structured[Label]("extract", m, prompt, llm.Options{})
	res, err := s.Run(context.Background(), lead)
	require.NoError(t, err)
	calls := m.Calls()
	require.Len(t, calls, 2)
	echo := calls[1].Messages[2]
	require.Equal(t, llm.RoleAssistant, echo.Role)
	assert.Less(t, len(echo.Content), 33<<10, "the echo is bounded")
	assert.True(t, strings.HasPrefix(huge, strings.SplitN(echo.Content, "\n…", 2)[0]), "it is the answer's start")
	assert.True(t, utf8.ValidString(echo.Content), "cut on a character boundary")
	assert.Contains(t, echo.Content, "bytes, is left out]")
	assert.Equal(t, huge, res.Attempts[0].Raw, "the record keeps the whole answer")

	// A short answer is repeated as it came.
	shortBad := `{"stage":"warm","confidence":0.8,"reason":"x","extra":1}`
	m = llmtest.New(llmtest.Config{Answers: []llmtest.Answer{llmtest.Text(shortBad), llmtest.Text(good)}})
	s = llm.Structured[Label]("extract", m, prompt, llm.Options{})
	_, err = s.Run(context.Background(), lead)
	require.NoError(t, err)
	assert.Equal(t, shortBad, m.Calls()[1].Messages[2].Content)
}

// longWords breaks its contract with messages and paths of any length: the
// re-ask cuts each line.
type longWords struct {
	Words map[string]string `json:"words"`
}

func (l longWords) Validate() error {
	var vs []contract.Violation
	for k := range l.Words {
		vs = append(vs, contract.Violation{Path: "/words/" + k, Keyword: "validate", Message: strings.Repeat("too long ", 1000)})
	}
	if len(vs) == 0 {
		return nil
	}
	return &contract.ValidationError{Violations: vs}
}

func TestReaskCutsLongLines(t *testing.T) {
	key := strings.Repeat("k", 5000)
	reask, a := reasked[longWords](t, `{"words":{"`+key+`":"x"}}`, `{"words":{}}`)
	assert.Less(t, len(reask), 1<<10)
	assert.Contains(t, reask, "- /words/kkkk")
	assert.Contains(t, reask, "…")
	assert.Equal(t, 1, a.ViolationCount)
}

// An answer with two different readings is re-asked, saying why, and its
// record says it was ambiguous.
func TestAmbiguousAnswerIsReasked(t *testing.T) {
	for name, tc := range map[string]struct{ bad, says string }{
		"two objects": {good + "\n" + `{"stage":"hot","confidence":0.9,"reason":"asked for a demo"}`,
			"holds 2 different JSON objects"},
		"a key twice": {`{"stage":"warm","confidence":0.8,"reason":"asked for pricing","stage":"hot"}`,
			`the key "stage" at /stage appears more than once with different values ("warm" and "hot")`},
	} {
		t.Run(name, func(t *testing.T) {
			reask, a := reasked[Label](t, tc.bad, good)
			assert.True(t, strings.HasPrefix(reask, "Your answer is ambiguous"), reask)
			assert.Contains(t, reask, tc.says)
			assert.Contains(t, reask, "exactly one JSON document")
			assert.NotContains(t, reask, "does not match the required JSON schema")
			require.Len(t, a.Violations, 1)
			assert.Equal(t, "ambiguous", a.Violations[0].Keyword)
			assert.ErrorIs(t, a.Err(), contract.ErrAmbiguous)
			assert.ErrorIs(t, a.Err(), retry.ErrContract)
		})
	}
}
