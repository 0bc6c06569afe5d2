package contract

import (
	"encoding/json"
	"errors"
	"math"
	"strings"
	"testing"

	"github.com/plumb-dev/plumb/retry"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

type kwItem struct {
	SKU string `json:"sku" jsonschema:"pattern=^[A-Z]{3}-[0-9]+$"`
	Qty int    `json:"qty" jsonschema:"minimum=1,maximum=99"`
}

type kwOrder struct {
	Name   string   `json:"name" jsonschema:"minLength=2,maxLength=5"`
	Stage  string   `json:"stage" jsonschema:"enum=new,enum=warm,enum=hot"`
	Email  string   `json:"email" jsonschema:"format=email"`
	Site   string   `json:"site,omitempty" jsonschema:"format=uri"`
	Ratio  float64  `json:"ratio" jsonschema:"exclusiveMinimum=0,exclusiveMaximum=1"`
	Items  []kwItem `json:"items" jsonschema:"minItems=1,maxItems=2"`
	Notes  string   `json:"notes,omitempty"`
	Labels []string `json:"labels"`
}

func validOrder() kwOrder {
	return kwOrder{Name: "Ann", Stage: "new", Email: "ann@example.com", Ratio: 0.5, Items: []kwItem{{SKU: "ABC-1", Qty: 1}}, Labels: []string{}}
}

func TestViolationPerKeyword(t *testing.T) {
	long := strings.Repeat("é", 100)
	tests := []struct {
		name   string
		mutate func(*kwOrder)
		want   Violation
	}{
		{"type of a nil slice", func(o *kwOrder) { o.Labels = nil },
			Violation{Path: "/labels", Keyword: "type", Message: "expected array, got null", Value: "null"}},
		{"enum", func(o *kwOrder) { o.Stage = "Hot" },
			Violation{Path: "/stage", Keyword: "enum", Message: `"Hot" is not one of "new", "warm", "hot"`, Value: `"Hot"`}},
		{"pattern", func(o *kwOrder) { o.Items[0].SKU = "abc-1" },
			Violation{Path: "/items/0/sku", Keyword: "pattern", Message: `"abc-1" does not match the pattern ^[A-Z]{3}-[0-9]+$`, Value: `"abc-1"`}},
		{"format", func(o *kwOrder) { o.Email = "ann.example.com" },
			Violation{Path: "/email", Keyword: "format", Message: `"ann.example.com" is not a valid email: missing @`, Value: `"ann.example.com"`}},
		{"format uri with zone id", func(o *kwOrder) { o.Site = "http://[fe80::1%25eth0]/" },
			Violation{Path: "/site", Keyword: "format", Message: `"http://[fe80::1%25eth0]/" is not a valid uri: invalid ipv6 address: zone id is not a part of ipv6 address`, Value: `"http://[fe80::1%25eth0]/"`}},
		{"minLength counts characters", func(o *kwOrder) { o.Name = "é" },
			Violation{Path: "/name", Keyword: "minLength", Message: "has 1 character, want at least 2", Value: `"é"`}},
		{"maxLength with a truncated value", func(o *kwOrder) { o.Name = long },
			Violation{Path: "/name", Keyword: "maxLength", Message: "has 100 characters, want at most 5", Value: `"` + strings.Repeat("é", 78) + "…"}},
		{"minimum", func(o *kwOrder) { o.Items[0].Qty = 0 },
			Violation{Path: "/items/0/qty", Keyword: "minimum", Message: "must be at least 1, got 0", Value: "0"}},
		{"maximum", func(o *kwOrder) { o.Items[0].Qty = 100 },
			Violation{Path: "/items/0/qty", Keyword: "maximum", Message: "must be at most 99, got 100", Value: "100"}},
		{"exclusiveMinimum", func(o *kwOrder) { o.Ratio = 0 },
			Violation{Path: "/ratio", Keyword: "exclusiveMinimum", Message: "must be greater than 0, got 0", Value: "0"}},
		{"exclusiveMaximum", func(o *kwOrder) { o.Ratio = 1 },
			Violation{Path: "/ratio", Keyword: "exclusiveMaximum", Message: "must be less than 1, got 1", Value: "1"}},
		{"minItems", func(o *kwOrder) { o.Items = []kwItem{} },
			Violation{Path: "/items", Keyword: "minItems", Message: "has 0 items, want at least 1", Value: "[]"}},
		{"maxItems", func(o *kwOrder) { o.Items = append(o.Items, o.Items[0], o.Items[0]) },
			Violation{Path: "/items", Keyword: "maxItems", Message: "has 3 items, want at most 2", Value: `[{"qty":1,"sku":"ABC-1"},{"qty":1,"sku":"ABC-1"},{"qty":1,"sku":"ABC-1"}]`}},
		{"marshal", func(o *kwOrder) { o.Ratio = math.NaN() },
			Violation{Path: "/ratio", Keyword: "marshal", Message: "cannot be encoded as JSON: NaN is not a JSON number"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := validOrder()
			tt.mutate(&o)
			err := Check(o)
			ve, ok := asValidationError(err)
			require.True(t, ok, "%v", err)
			require.Len(t, ve.Violations, 1, "%v", err)
			assert.Equal(t, tt.want, ve.Violations[0])
			assert.Equal(t, "kwOrder", ve.Type)
		})
	}
}

func TestRawViolations(t *testing.T) {
	c, err := For[kwOrder]()
	require.NoError(t, err)
	tests := []struct {
		raw  string
		want []Violation
	}{
		{`{"name":"Ann","stage":"new","email":"ann@example.com","ratio":0.5,"items":[{"sku":"ABC-1","qty":1}],"labels":[],"x":1,"y":2}`,
			[]Violation{{Path: "", Keyword: "additionalProperties", Message: `properties "x", "y" are not allowed`,
				Value: truncate(`{"email":"ann@example.com","items":[{"qty":1,"sku":"ABC-1"}],"labels":[],"name":"Ann","ratio":0.5,"stage":"new","x":1,"y":2}`)}}},
		{`{"name":"Ann","stage":"new","ratio":0.5,"items":[{"qty":1}],"labels":[]}`,
			[]Violation{
				{Path: "", Keyword: "required", Message: `missing required property "email"`, Value: `{"items":[{"qty":1}],"labels":[],"name":"Ann","ratio":0.5,"stage":"new"}`},
				{Path: "/items/0", Keyword: "required", Message: `missing required property "sku"`, Value: `{"qty":1}`}}},
		{`{"name": 12}`, []Violation{
			{Path: "", Keyword: "required", Message: `missing required properties "stage", "email", "ratio", "items", "labels"`, Value: `{"name":12}`},
			{Path: "/name", Keyword: "type", Message: "expected string, got number 12", Value: "12"}}},
		{`{"name": `, []Violation{{Keyword: "syntax", Message: "invalid JSON: unexpected EOF"}}},
		{`{} {}`, []Violation{{Keyword: "syntax", Message: "invalid JSON: invalid character after top-level value"}}},
	}
	for _, tt := range tests {
		err := c.ValidateJSON([]byte(tt.raw))
		ve, ok := asValidationError(err)
		require.True(t, ok, "%s: %v", tt.raw, err)
		assert.Equal(t, tt.want, ve.Violations, tt.raw)
	}
}

func TestValidationErrorText(t *testing.T) {
	o := validOrder()
	o.Stage = "Hot"
	o.Email = "bob"
	o.Items = nil
	err := Check(o)
	assert.Equal(t, `contract violated: kwOrder: 3 violations:
- /email: "bob" is not a valid email: missing @
- /items: expected array, got null
- /stage: "Hot" is not one of "new", "warm", "hot"`, err.Error())

	_, err = Decode[kwOrder]("Sorry, I cannot do that.")
	assert.Equal(t, `contract violated: kwOrder: 1 violation:
- (root): no JSON object found in the answer (it starts with: "Sorry, I cannot do that.")`, err.Error())

	assert.True(t, errors.Is(err, retry.ErrContract))
	assert.Equal(t, retry.ClassContract, retry.Classify(err))
	assert.Equal(t, retry.ClassContract, retry.Classify(errors.Join(errors.New("step lead"), err)))
	var ve *ValidationError
	require.True(t, errors.As(err, &ve))
	raw, jerr := json.Marshal(ve)
	require.NoError(t, jerr)
	assert.JSONEq(t, `{"type":"kwOrder","violations":[{"path":"","keyword":"syntax","message":"no JSON object found in the answer (it starts with: \"Sorry, I cannot do that.\")"}]}`, string(raw))
}

func TestViolationOrder(t *testing.T) {
	vs := []Violation{
		{Path: "/items/10/qty", Keyword: "minimum"},
		{Path: "/name", Keyword: "type"},
		{Path: "/items/2/sku", Keyword: "pattern"},
		{Path: "", Keyword: "required"},
		{Path: "/items/2", Keyword: "required"},
		{Path: "/items/2/sku", Keyword: "maxLength"},
		{Path: "/items/x", Keyword: "type"},
	}
	sortViolations(vs)
	var got []string
	for _, v := range vs {
		got = append(got, v.Path+" "+v.Keyword)
	}
	assert.Equal(t, []string{" required", "/items/2 required", "/items/2/sku maxLength", "/items/2/sku pattern",
		"/items/10/qty minimum", "/items/x type", "/name type"}, got)
}

func TestTruncate(t *testing.T) {
	assert.Equal(t, "short", truncate("short"))
	s := strings.Repeat("ü", 80)
	assert.Equal(t, s, truncate(s))
	got := truncate(s + "x")
	assert.Equal(t, strings.Repeat("ü", 79)+"…", got)
	assert.Equal(t, 80, len([]rune(got)))
}

type nullableNick struct {
	Nick *string `json:"nick" jsonschema:"nullable,minLength=3"`
}

// TestNullableAlternatives: a failed oneOf is explained by the alternative
// the value was meant for, not by "is not null".
func TestNullableAlternatives(t *testing.T) {
	short := "ab"
	require.NoError(t, Check(nullableNick{}))
	requireViolations(t, Check(nullableNick{Nick: &short}), "/nick minLength")
	c, err := For[nullableNick]()
	require.NoError(t, err)
	ve := requireViolations(t, c.ValidateJSON([]byte(`{"nick": 5}`)), "/nick type")
	assert.Equal(t, "expected string or null, got number 5", ve.Violations[0].Message)
}
