package contract

import (
	"bytes"
	"encoding/json"
	"testing"

	"github.com/plumb-dev/plumb/internal/benchfixture"
	"github.com/santhosh-tekuri/jsonschema/v6"
	"github.com/stretchr/testify/require"
)

// BenchmarkCheck is the typed plan on the shared 1.3 KB fixture.
func BenchmarkCheck(b *testing.B) {
	c, err := For[benchfixture.Order]()
	require.NoError(b, err)
	o := benchfixture.Sample()
	b.ReportAllocs()
	for b.Loop() {
		if err := c.Check(o); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkMarshalValidate is the generic route Check replaces: marshal,
// decode with the validator's decoder, validate.
func BenchmarkMarshalValidate(b *testing.B) {
	c, err := For[benchfixture.Order]()
	require.NoError(b, err)
	o := benchfixture.Sample()
	b.ReportAllocs()
	for b.Loop() {
		raw, err := json.Marshal(o)
		if err != nil {
			b.Fatal(err)
		}
		doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(raw))
		if err != nil {
			b.Fatal(err)
		}
		if err := c.schema.root.Validate(doc); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkValidateJSON validates the fixture's JSON bytes.
func BenchmarkValidateJSON(b *testing.B) {
	c, err := For[benchfixture.Order]()
	require.NoError(b, err)
	raw, err := json.Marshal(benchfixture.Sample())
	require.NoError(b, err)
	b.SetBytes(int64(len(raw)))
	b.ReportAllocs()
	for b.Loop() {
		if err := c.ValidateJSON(raw); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkDecode reads a model-style answer: prose, a fence, the JSON.
func BenchmarkDecode(b *testing.B) {
	c, err := For[benchfixture.Order]()
	require.NoError(b, err)
	raw, err := json.MarshalIndent(benchfixture.Sample(), "", "  ")
	require.NoError(b, err)
	answer := "Here is the order I extracted:\n\n```json\n" + string(raw) + "\n```\n\nLet me know if anything is off."
	b.SetBytes(int64(len(answer)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := c.Decode(answer); err != nil {
			b.Fatal(err)
		}
	}
}
