package store_test

import (
	"encoding/json"
	"os"
	"reflect"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/plumb-dev/plumb/step"
	"github.com/plumb-dev/plumb/store"
)

// Every exported field of the runtime attempt is persisted under the same
// name and type: a field added to step.Attempt must be added to the
// record (and, if it changes what the bytes mean, to a new format), or be
// marked json:"-".
func TestAttemptRecordHasEveryPersistedField(t *testing.T) {
	rt, pt := reflect.TypeFor[step.Attempt](), reflect.TypeFor[store.AttemptRecord]()
	persisted := 0
	for f := range rt.Fields() {
		if !f.IsExported() || f.Tag.Get("json") == "-" {
			continue
		}
		persisted++
		g, ok := pt.FieldByName(f.Name)
		if assert.True(t, ok, "store.AttemptRecord lacks %s", f.Name) {
			assert.Equal(t, f.Type, g.Type, "field %s", f.Name)
			assert.Equal(t, f.Tag.Get("json"), g.Tag.Get("json"), "field %s", f.Name)
		}
	}
	assert.Equal(t, persisted, pt.NumField(), "store.AttemptRecord has a field step.Attempt lacks")
}

// AttemptRecordOf copies every field: the attempts of the format-0 golden
// file (every field set somewhere), read as runtime attempts and
// converted, marshal to the same bytes.
func TestAttemptRecordsCopyEveryField(t *testing.T) {
	b, err := os.ReadFile("storekit/testdata/attempts-v0.json")
	require.NoError(t, err)
	var atts []step.Attempt
	require.NoError(t, json.Unmarshal(b, &atts))
	got, err := json.Marshal(store.AttemptRecords(atts))
	require.NoError(t, err)
	assert.JSONEq(t, string(b), string(got))
	assert.Equal(t, string(b), string(got)+"\n")

	assert.Nil(t, store.AttemptRecords(nil))
	assert.Equal(t, []store.AttemptRecord{}, store.AttemptRecords([]step.Attempt{}))
}
