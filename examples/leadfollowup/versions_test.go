package main

import (
	"bytes"
	"context"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/plumb-dev/plumb/store"
	"github.com/plumb-dev/plumb/store/sqlitestore"
)

// The README's versions walk-through: v2's definition is printed, checked
// against v1's runs, and its worker holds the run it cannot take until a
// patched replay moves the run to v2.
func TestTheNextReleaseHoldsTheRunsItCannotTake(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	o := options{db: filepath.Join(dir, "plumb.db"), deadLetters: filepath.Join(dir, "dead.jsonl"), leads: 60, seed: 1, concurrency: 8}
	var out bytes.Buffer
	require.NoError(t, run(ctx, o, &out))

	definition := func(next bool) store.PipelineDef {
		var b bytes.Buffer
		require.NoError(t, run(ctx, options{definition: true, next: next, seed: 1}, &b))
		var d store.PipelineDef
		require.NoError(t, json.Unmarshal(b.Bytes(), &d))
		return d
	}
	v1, v2 := definition(false), definition(true)
	assert.Equal(t, "v1", v1.Version.Label)
	assert.Equal(t, "v2", v2.Version.Label)
	assert.NotEqual(t, v1.Version.Fingerprint, v2.Version.Fingerprint, "one contract changed")
	assert.Equal(t, store.Fingerprint(v2.Steps), v2.Version.Fingerprint)

	st, err := sqlitestore.Open(o.db, sqlitestore.Config{})
	require.NoError(t, err)
	t.Cleanup(func() { _ = st.Close() })
	dead, err := st.ListRuns(ctx, store.RunFilter{Pipeline: "leadfollowup", Status: []store.Status{store.DeadLettered}, Limit: 1000})
	require.NoError(t, err)
	var widget []string
	for _, r := range dead.Runs {
		assert.Equal(t, v1.Version, r.Version)
		var in RawLead
		require.NoError(t, json.Unmarshal(r.Input, &in))
		if in.Source == "chat-widget" {
			widget = append(widget, r.ID)
		}
	}
	require.NotEmpty(t, widget, "seed 1 dead-letters a chat-widget lead")
	rep, err := store.CheckVersions(ctx, st, []store.PipelineDef{v2}, nil)
	require.NoError(t, err)
	var broken []string
	for _, inc := range rep.Broken {
		broken = append(broken, inc.RunID)
		assert.Equal(t, "input", inc.What)
		assert.Equal(t, "/source", inc.Violations[0].Path)
	}
	assert.ElementsMatch(t, widget, broken)

	// Replayed as it is, a v2 worker holds it.
	id := widget[0]
	_, err = store.ReplayRun(ctx, st, store.ReplayRequest{RunID: id})
	require.NoError(t, err)
	out.Reset()
	require.NoError(t, run(ctx, options{db: o.db, deadLetters: o.deadLetters, seed: 1, concurrency: 4, work: true, next: true}, &out))
	assert.Contains(t, out.String(), "Lead follow-up "+v2.Version.String()+", working the queue")
	assert.Contains(t, out.String(), "1 held")
	d, err := st.GetRun(ctx, id)
	require.NoError(t, err)
	require.Equal(t, store.Held, d.Run.Status, d.Run.Error)
	assert.Equal(t, "parse", d.Run.Step)

	// Patched, the replay moves it to v2, registered by v2's worker.
	var in RawLead
	require.NoError(t, json.Unmarshal(d.Run.Input, &in))
	in.Source, in.Text = "web-form", in.Text+" <found.later@example.com>"
	patched, err := json.Marshal(in)
	require.NoError(t, err)
	_, err = store.ReplayRun(ctx, st, store.ReplayRequest{RunID: id, From: "parse", Input: patched})
	require.NoError(t, err)
	out.Reset()
	require.NoError(t, run(ctx, options{db: o.db, deadLetters: o.deadLetters, seed: 1, concurrency: 4, work: true, next: true}, &out))
	d, err = st.GetRun(ctx, id)
	require.NoError(t, err)
	assert.Equal(t, store.Succeeded, d.Run.Status, d.Run.Error)
	assert.Equal(t, v2.Version, d.Run.Version)
	last := d.Attempts[len(d.Attempts)-1]
	assert.True(t, strings.HasSuffix(last.Reason, "; moved from "+v1.Version.String()+" to "+v2.Version.String()), last.Reason)

	assert.ErrorContains(t, run(ctx, options{db: o.db, next: true}, &out), "-next builds the next release")
}
