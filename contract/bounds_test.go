package contract

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// hugeExtraKeys is a 16 MB answer: a valid lead plus a million keys the
// contract does not allow.
func hugeExtraKeys() string {
	var b strings.Builder
	b.WriteString(`{"name": "Ann", "email": "ann@example.com", "stage": "new", "budget": 1, "qualified": true`)
	for i := range 1_000_000 {
		fmt.Fprintf(&b, `,"extra_%07d":1`, i)
	}
	b.WriteString("}")
	return b.String()
}

func TestMillionExtraKeysMakeOneBoundedMessage(t *testing.T) {
	answer := hugeExtraKeys()
	require.GreaterOrEqual(t, len(answer), 16<<20)
	_, err := Decode[answerLead](answer)
	ve := requireViolations(t, err, " additionalProperties")
	msg := ve.Violations[0].Message
	assert.Less(t, len(msg), 2<<10, "one violation's message")
	assert.True(t, strings.HasPrefix(msg, `properties "extra_0000000", "extra_0000001", `), msg)
	assert.Contains(t, msg, `"extra_0000019" and 999,980 more are not allowed`)
	assert.NotContains(t, msg, "extra_0000020")
	assert.Equal(t, 1, ve.Count())
	assert.Less(t, len(err.Error()), 4<<10)
}

type bulkOrder struct {
	Items []kwItem `json:"items"`
}

// badBulk has 100,000 items, each breaking two rules: 200,000 violations.
func badBulk() bulkOrder {
	o := bulkOrder{Items: make([]kwItem, 100_000)}
	for i := range o.Items {
		o.Items[i] = kwItem{SKU: "bad", Qty: 0}
	}
	return o
}

func TestManyViolationsAreBoundedAndCounted(t *testing.T) {
	o := badBulk()
	raw, err := json.Marshal(o)
	require.NoError(t, err)
	c, err := For[bulkOrder]()
	require.NoError(t, err)
	routes := map[string]error{"typed check": c.Check(o), "raw JSON": c.ValidateJSON(raw)}
	_, routes["lenient decode"] = c.Decode("Here are the items:\n" + string(raw))
	for name, err := range routes {
		t.Run(name, func(t *testing.T) {
			ve, ok := asValidationError(err)
			require.True(t, ok, "%v", err)
			require.Equal(t, MaxViolations, len(ve.Violations), "the violations kept")
			assert.Equal(t, 200_000, ve.Total)
			assert.Equal(t, 200_000, ve.Count())
			assert.Equal(t, 199_900, ve.Omitted())
			// The first ones in path order are kept.
			assert.Equal(t, "/items/0/qty", ve.Violations[0].Path)
			assert.Equal(t, "/items/0/sku", ve.Violations[1].Path)
			assert.Equal(t, "/items/49/sku", ve.Violations[MaxViolations-1].Path)

			msg := err.Error()
			assert.Less(t, len(msg), 8<<10)
			assert.Contains(t, msg, "contract violated: bulkOrder: 200,000 violations:")
			assert.Contains(t, msg, "\n- … and 199,980 more")
			assert.Equal(t, 21, strings.Count(msg, "\n- "), "twenty listed, then the count of the rest")
		})
	}
}

func TestListMessagesAreBounded(t *testing.T) {
	keys := func(n int) []string {
		var ks []string
		for i := range n {
			ks = append(ks, fmt.Sprintf("k%02d", i))
		}
		return ks
	}
	long := strings.Repeat("x", 10_000)
	tests := []struct {
		name, got, want string
	}{
		{"one extra", msgAdditional([]string{"a"}), `property "a" is not allowed`},
		{"twenty extra", msgAdditional(keys(20)), `properties "k00", "k01", "k02", "k03", "k04", "k05", "k06", "k07", "k08", "k09", "k10", "k11", "k12", "k13", "k14", "k15", "k16", "k17", "k18", "k19" are not allowed`},
		{"twenty-one extra", msgAdditional(keys(21)), `properties "k00", "k01", "k02", "k03", "k04", "k05", "k06", "k07", "k08", "k09", "k10", "k11", "k12", "k13", "k14", "k15", "k16", "k17", "k18", "k19" and 1 more are not allowed`},
		{"a long key is cut", msgAdditional([]string{long}), `property "` + strings.Repeat("x", 39) + `…" is not allowed`},
		{"missing many", msgRequired(keys(1234)), `missing required properties "k00", "k01", "k02", "k03", "k04", "k05", "k06", "k07", "k08", "k09", "k10", "k11", "k12", "k13", "k14", "k15", "k16", "k17", "k18", "k19" and 1,214 more`},
		{"a long enum", msgEnum(`"z"`, []any{"a", "b", "c", "d", "e", "f", "g", "h", "i", "j", "k", "l", "m", "n", "o", "p", "q", "r", "s", "t", "u", "v"}),
			`"z" is not one of "a", "b", "c", "d", "e", "f", "g", "h", "i", "j", "k", "l", "m", "n", "o", "p", "q", "r", "s", "t" and 2 more`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { assert.Equal(t, tt.want, tt.got) })
	}
	assert.Equal(t, "999,980", countText(999_980))
	assert.Equal(t, "1,000,000", countText(1_000_000))
	assert.Equal(t, "0", countText(0))
}

// A Validate method's own long message is cut too: the re-ask prompt and
// the attempt records carry it.
type chatty struct {
	N int `json:"n"`
}

func (chatty) Validate() error { return fmt.Errorf("bad: %s", strings.Repeat("blah ", 100_000)) }

func TestLongValidateMessageIsCut(t *testing.T) {
	err := Check(chatty{})
	ve := requireViolations(t, err, " validate")
	assert.LessOrEqual(t, len(ve.Violations[0].Message), 4*maxMessageRunes)
	assert.True(t, strings.HasSuffix(ve.Violations[0].Message, "…"))
	assert.Equal(t, 500_005, len(ve.Err.Error()), "the error itself is kept whole for errors.As")
}

// A Validate method may return a ValidationError that kept only some of its
// violations: the ones left out still count.
type partly struct {
	N int `json:"n"`
}

func (partly) Validate() error {
	return &ValidationError{Violations: []Violation{{Path: "/n", Keyword: "validate", Message: "odd"}}, Total: 7}
}

func TestNestedOmittedViolationsCount(t *testing.T) {
	ve := requireViolations(t, Check(partly{}), "/n validate")
	assert.Equal(t, 7, ve.Count())
}
