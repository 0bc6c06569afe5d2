package contract

import (
	"testing"

	"github.com/stretchr/testify/require"
)

type chain struct {
	Name string `json:"name" jsonschema:"minLength=1"`
	Next *chain `json:"next,omitempty"`
}

// TestDeepAndCyclicValues: past encoding/json's cycle-detection depth the
// walker hands over to it, so a long chain is fine and a cycle is reported.
func TestDeepAndCyclicValues(t *testing.T) {
	head := &chain{Name: "0"}
	cur := head
	for range 2500 {
		cur.Next = &chain{Name: "n"}
		cur = cur.Next
	}
	diffOne(t, *head)
	cur.Name = ""
	diffOne(t, *head)

	loop := &chain{Name: "a"}
	loop.Next = &chain{Name: "b", Next: loop}
	err := Check(*loop)
	ve, ok := asValidationError(err)
	require.True(t, ok, "%v", err)
	require.True(t, hasKeyword(ve, "marshal"), "%v", err)
	require.Contains(t, ve.Violations[0].Message, "encountered a cycle")
}
