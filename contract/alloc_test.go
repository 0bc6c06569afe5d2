package contract

import (
	"encoding/json"
	"testing"

	"github.com/plumb-dev/plumb/internal/benchfixture"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestCheckAllocatesNothing holds Check to its promise on the shared 1.3 KB
// fixture: a valid value, Validate method included, costs no allocation.
func TestCheckAllocatesNothing(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector makes sync.Pool allocate")
	}
	c, err := For[benchfixture.Order]()
	require.NoError(t, err)
	o := benchfixture.Sample()
	raw, err := json.Marshal(o)
	require.NoError(t, err)
	assert.InDelta(t, 1300, len(raw), 150, "the fixture should marshal to about 1.3 KB")
	require.NoError(t, c.Check(o))
	assert.Zero(t, testing.AllocsPerRun(200, func() {
		if err := c.Check(o); err != nil {
			t.Fatal(err)
		}
	}))

	// Other valid shapes with no fallback node allocate nothing either.
	lead := answerLead{Name: "Ann", Email: "ann@example.com", Stage: "new", Tags: []string{"a"}, Contact: &answerContact{Name: "x"}}
	cl, err := For[answerLead]()
	require.NoError(t, err)
	require.NoError(t, cl.Check(lead))
	assert.Zero(t, testing.AllocsPerRun(200, func() { _ = cl.Check(lead) }))
	assert.Zero(t, testing.AllocsPerRun(200, func() { _ = Check(lead) }), "the package-level Check too")
}
