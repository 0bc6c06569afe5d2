package store_test

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/plumb-dev/plumb/store"
)

func TestValidID(t *testing.T) {
	for id, want := range map[string]bool{
		"01JX8Z4Q7V":             true,
		"lead-42":                true,
		"a.b":                    true,
		"...":                    true,
		"~":                      true,
		strings.Repeat("a", 128): true,
		"":                       false,
		strings.Repeat("a", 129): false,
		"a b":                    false,
		"tab\t":                  false,
		"é":                      false,
		// Path segments every URL resolver removes: a link to the run
		// would lead somewhere else.
		".":  false,
		"..": false,
	} {
		assert.Equal(t, want, store.ValidID(id), "%q", id)
	}
}
