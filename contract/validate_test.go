package contract

import (
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/plumb-dev/plumb/internal/benchfixture"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// ErrBadLine is a caller's own error type, which errors.As must reach.
type ErrBadLine struct{ SKU string }

func (e *ErrBadLine) Error() string { return "line " + e.SKU + " has no price" }

type vLine struct {
	SKU   string `json:"sku"`
	Cents int    `json:"cents"`
}

// Validate has a pointer receiver: Check still finds it on slice elements.
func (l *vLine) Validate() error {
	if l.Cents == 0 {
		return &ErrBadLine{SKU: l.SKU}
	}
	if l.Cents < 0 {
		panic("negative price")
	}
	return nil
}

type vAddress struct {
	City string `json:"city"`
	Zip  string `json:"zip"`
}

// Validate returns a *ValidationError of its own, whose paths are relative.
func (a vAddress) Validate() error {
	if a.City == "London" && a.Zip == "" {
		return &ValidationError{Type: "vAddress", Violations: []Violation{{Path: "/zip", Keyword: "validate", Message: "London needs a postcode"}}}
	}
	return nil
}

type vOrder struct {
	Lines   []vLine             `json:"lines"`
	Ship    *vAddress           `json:"ship,omitempty"`
	Bill    vAddress            `json:"bill,omitzero"`
	ByName  map[string]vAddress `json:"by_name,omitempty"`
	Total   int                 `json:"total" jsonschema:"minimum=0"`
	Comment string              `json:"comment,omitempty"`
}

func (o vOrder) Validate() error {
	sum := 0
	for _, l := range o.Lines {
		sum += l.Cents
	}
	if sum != o.Total {
		return fmt.Errorf("total is %d, lines add up to %d", o.Total, sum)
	}
	return nil
}

func TestValidateMethods(t *testing.T) {
	good := vOrder{Lines: []vLine{{SKU: "a", Cents: 100}}, Total: 100}
	require.NoError(t, Check(good))

	t.Run("root value receiver", func(t *testing.T) {
		o := good
		o.Total = 7
		ve := requireViolations(t, Check(o), " validate")
		assert.Equal(t, "total is 7, lines add up to 100", ve.Violations[0].Message)
		assert.EqualError(t, ve.Err, "total is 7, lines add up to 100")
	})
	t.Run("nested pointer receiver and errors.As", func(t *testing.T) {
		o := vOrder{Lines: []vLine{{SKU: "a", Cents: 100}, {SKU: "b"}}, Total: 100}
		err := Check(o)
		requireViolations(t, err, "/lines/1 validate")
		var bad *ErrBadLine
		require.True(t, errors.As(err, &bad))
		assert.Equal(t, "b", bad.SKU)
	})
	t.Run("a Validate's own ValidationError is merged", func(t *testing.T) {
		o := good
		o.Ship = &vAddress{City: "London"}
		o.ByName = map[string]vAddress{"hq": {City: "London"}, "ok": {City: "Paris"}}
		requireViolations(t, Check(o), "/by_name/hq/zip validate", "/ship/zip validate")
	})
	t.Run("omitted values are not validated", func(t *testing.T) {
		o := good
		o.Bill = vAddress{} // omitzero: not in the JSON
		require.NoError(t, Check(o))
		o.Bill = vAddress{City: "London"}
		requireViolations(t, Check(o), "/bill/zip validate")
	})
	t.Run("not run when the schema fails", func(t *testing.T) {
		o := vOrder{Lines: []vLine{{SKU: "b"}}, Total: -1}
		requireViolations(t, Check(o), "/total minimum")
	})
	t.Run("a panic becomes a violation", func(t *testing.T) {
		o := vOrder{Lines: []vLine{{SKU: "c", Cents: -5}, {SKU: "d", Cents: 5}}, Total: 0}
		err := Check(o)
		ve := requireViolations(t, err, "/lines/0 validate")
		assert.Contains(t, ve.Violations[0].Message, "panic in vLine.Validate: negative price")
		var withStack interface{ Stack() []byte }
		require.True(t, errors.As(err, &withStack))
		assert.Contains(t, string(withStack.Stack()), "vLine).Validate")
	})
	t.Run("first error is the outermost", func(t *testing.T) {
		o := vOrder{Lines: []vLine{{SKU: "b"}}, Total: 3}
		ve := requireViolations(t, Check(o), " validate", "/lines/0 validate")
		assert.EqualError(t, ve.Err, "total is 3, lines add up to 0")
	})
}

func TestUnmarshalAndDecodeRunValidate(t *testing.T) {
	c, err := For[vOrder]()
	require.NoError(t, err)
	raw := []byte(`{"lines":[{"sku":"a","cents":1}],"total":2}`)
	assert.NoError(t, c.ValidateJSON(raw), "ValidateJSON is schema-only")
	_, err = c.Unmarshal(raw)
	requireViolations(t, err, " validate")
	_, err = c.Decode("```json\n" + string(raw) + "\n```")
	requireViolations(t, err, " validate")
	v, err := c.Unmarshal([]byte(`{"lines":[{"sku":"a","cents":2}],"total":2}`))
	require.NoError(t, err)
	assert.Equal(t, 2, v.Total)
}

func requireViolations(t *testing.T, err error, want ...string) *ValidationError {
	t.Helper()
	ve, ok := asValidationError(err)
	require.True(t, ok, "want a *ValidationError, got %v", err)
	var got []string
	for _, v := range ve.Violations {
		got = append(got, v.Path+" "+v.Keyword)
	}
	require.Equal(t, want, got, "%v", err)
	return ve
}

// TestConcurrentUse builds and uses contracts from many goroutines; run
// with -race.
func TestConcurrentUse(t *testing.T) {
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			for j := range 50 {
				o := benchfixture.Sample()
				if (i+j)%3 == 0 {
					o.Status = "lost"
				}
				err := Check(o)
				if (i+j)%3 == 0 {
					assert.Error(t, err)
				} else {
					assert.NoError(t, err)
				}
				_, err = Decode[vOrder](`{"lines":[],"total":0}`)
				assert.NoError(t, err)
			}
		})
	}
	wg.Wait()
}
