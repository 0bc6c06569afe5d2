package sqlfiles

import (
	"testing"
	"testing/fstest"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestLoadOrdersByVersion(t *testing.T) {
	ms, err := Load(fstest.MapFS{
		"m/0002_more.sql":    {Data: []byte("B")},
		"m/0001_initial.sql": {Data: []byte("A")},
	}, "m", "teststore")
	require.NoError(t, err)
	assert.Equal(t, []Migration{{1, "0001_initial.sql", "A"}, {2, "0002_more.sql", "B"}}, ms)
}

func TestLoadRefusesBadSets(t *testing.T) {
	for name, fsys := range map[string]fstest.MapFS{
		"a gap":        {"m/0001_a.sql": {}, "m/0003_c.sql": {}},
		"a bad name":   {"m/0001_a.sql": {}, "m/two.sql": {}},
		"not SQL":      {"m/0001_a.txt": {}},
		"none at all":  {"m/.keep": nil},
		"no directory": {},
	} {
		_, err := Load(fsys, "m", "teststore")
		assert.Error(t, err, name)
		if err != nil {
			assert.Contains(t, err.Error(), "teststore: ", name)
		}
	}
	assert.Panics(t, func() { MustLoad(fstest.MapFS{}, "m", "teststore") })
}
