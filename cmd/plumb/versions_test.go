package main

import (
	"context"
	"encoding/json"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/plumb-dev/plumb/pipeline"
	"github.com/plumb-dev/plumb/retry"
	"github.com/plumb-dev/plumb/step"
	"github.com/plumb-dev/plumb/store"
)

func TestVersions(t *testing.T) { versionsCases(t, newFixture(t, nil)) }

func TestVersionsOnPostgres(t *testing.T) { versionsCases(t, newPostgresFixture(t)) }

// nextDefinition is the fixture's definition as its next release changes
// it, labelled v2: a lead's text must hold an address (parse's input), and
// classify must be at least half sure (its output).
func nextDefinition(t *testing.T, f *fixture) store.PipelineDef {
	t.Helper()
	def, err := f.st.Pipeline(context.Background(), pipelineName)
	require.NoError(t, err)
	edit := func(doc json.RawMessage, change func(map[string]any)) json.RawMessage {
		var m map[string]any
		require.NoError(t, json.Unmarshal(doc, &m))
		change(m)
		b, err := json.Marshal(m)
		require.NoError(t, err)
		return b
	}
	prop := func(m map[string]any, path ...string) map[string]any {
		for _, p := range path {
			m = m["properties"].(map[string]any)[p].(map[string]any)
		}
		return m
	}
	def.Steps[0].InputSchema = edit(def.Steps[0].InputSchema, func(m map[string]any) { prop(m, "text")["pattern"] = "@" })
	def.Steps[1].OutputSchema = edit(def.Steps[1].OutputSchema, func(m map[string]any) { prop(m, "label", "confidence")["minimum"] = 0.5 })
	def.Version = store.Version{Fingerprint: store.Fingerprint(def.Steps), Label: "v2"}
	return *def
}

func writeJSON(t *testing.T, path string, v any) {
	t.Helper()
	b, err := json.MarshalIndent(v, "", "  ")
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(path, b, 0o644))
}

func versionsCases(t *testing.T, f *fixture) {
	ctx := context.Background()
	f.run("v-ok", adaText)
	f.run("v-dead", noEmailText)
	f.run("v-review", unsureText)
	f.submit("v-queued", adaText) // no worker: it stays queued

	next := nextDefinition(t, f)
	writeJSON(t, filepath.Join(f.dir, "next.json"), next)
	writeJSON(t, filepath.Join(f.dir, "both.json"), []store.PipelineDef{next})

	t.Run("check against a definition file", func(t *testing.T) {
		r := f.plumb("versions", "check", "--definition", "next.json")
		require.Equal(t, exitBroken, r.code, r.String())
		out := r.stdout
		assert.Contains(t, out, "Run v-dead  ·  leads  ·  dead_lettered  ·  started under ")
		assert.Contains(t, out, "  step 1, parse: its input breaks the input contract of step parse\n")
		assert.Contains(t, out, "    /text: \"Charles Babbage, no email\" does not match the pattern @\n")
		assert.Contains(t, out, "Run v-review  ·  leads  ·  awaiting_review")
		assert.Contains(t, out, "  step 2, classify: the output awaiting review breaks the output contract of step classify\n")
		assert.Contains(t, out, "    /label/confidence: must be at least 0.5, got 0.4\n")
		assert.NotContains(t, out, "v-queued", "a queued run its new contracts accept is fine")
		assert.NotContains(t, out, "v-ok", "a succeeded run is not looked at")
		assert.Contains(t, out, "Checked 3 runs of leads against v2 ("+next.Version.Fingerprint+"): 2 would break it; 0 started under it were skipped.\n")
		assert.Contains(t, out, "replay v-dead --from parse --set /PATH=VALUE")
		assert.Contains(t, out, "review approve v-review --edit FILE")
		assert.Contains(t, r.stderr, "plumb: 2 runs would break the definitions in next.json")
	})
	t.Run("json", func(t *testing.T) {
		r := f.plumb("versions", "check", "--definition", "both.json", "--json")
		require.Equal(t, exitBroken, r.code, r.String())
		rep := decode[versionsReport](t, r)
		assert.False(t, rep.OK)
		assert.Equal(t, 3, rep.Checked)
		var ids []string
		for _, inc := range rep.Broken {
			ids = append(ids, inc.RunID)
			assert.NotEmpty(t, inc.Violations)
		}
		assert.ElementsMatch(t, []string{"v-dead", "v-review"}, ids)
		require.Len(t, rep.Pipelines, 1)
		assert.Equal(t, pipelineCheck{Pipeline: pipelineName, Version: next.Version, Checked: 3, Broken: 2}, rep.Pipelines[0])
	})
	t.Run("against the registered definition", func(t *testing.T) {
		r := f.ok("versions", "check")
		assert.Contains(t, r.stdout, "No run breaks the registered definitions.")
		rep := decode[versionsReport](t, f.ok("versions", "check", "--json"))
		assert.True(t, rep.OK)
		assert.Empty(t, rep.Broken)
	})
	t.Run("errors", func(t *testing.T) {
		assert.Equal(t, exitNotFound, f.plumb("versions", "check", "--pipeline", "nope").code)
		assert.Equal(t, exitNotFound, f.plumb("versions", "check", "--pipeline", "nope", "--definition", "next.json").code)
		require.NoError(t, os.WriteFile(filepath.Join(f.dir, "bad.json"), []byte(`{"steps": 3}`), 0o644))
		r := f.plumb("versions", "check", "--definition", "bad.json")
		assert.Equal(t, exitUsage, r.code, r.String())
		assert.Contains(t, r.stderr, "--definition bad.json: not the JSON of a pipeline definition")
		require.NoError(t, os.WriteFile(filepath.Join(f.dir, "bad.json"), []byte(`{"name":"leads","steps":[{"name":"parse","input_schema":{"type":"nope"}}]}`), 0o644))
		r = f.plumb("versions", "check", "--definition", "bad.json")
		assert.Equal(t, exitUsage, r.code, r.String())
		assert.Contains(t, r.stderr, "pipeline leads, step parse: the input contract does not compile")
	})
	t.Run("list", func(t *testing.T) {
		def, err := f.st.Pipeline(ctx, pipelineName)
		require.NoError(t, err)
		fp := def.Version.Fingerprint
		if fp == "" {
			fp = store.Fingerprint(def.Steps)
		}
		out := f.ok("versions", "list").stdout
		assert.Contains(t, out, "PIPELINE  VERSION  FINGERPRINT")
		assert.Regexp(t, `leads +\S+ +`+fp+` +parse, classify, draft +20\d\d-`, out)
		defs := decode[[]store.PipelineDef](t, f.ok("versions", "list", "--json"))
		require.Len(t, defs, 1)
		assert.Equal(t, fp, defs[0].Version.Fingerprint)
	})

	// A worker of a changed definition holds the queued run (as the
	// pipeline does at pickup), and v2 is registered.
	lease := f.claim("v-queued")
	require.NoError(t, f.st.Finish(ctx, lease, store.Outcome{Status: store.Held, Step: "parse",
		Error: "run v-queued cannot go on under this definition: its input breaks the input contract of step parse", Class: retry.ClassContract}))
	require.NoError(t, f.st.RegisterPipeline(ctx, next))

	t.Run("held runs are shown and counted", func(t *testing.T) {
		runs := decode[[]store.Run](t, f.ok("runs", "list", "--status", "held", "--json"))
		require.Len(t, runs, 1)
		assert.Equal(t, "v-queued", runs[0].ID)
		status := f.ok("status").stdout
		assert.Contains(t, status, "  held       1 run: a worker of a changed definition could not go on with it\n")
		assert.Contains(t, status, "versions check --pipeline leads")
		assert.Equal(t, 1, decode[statusReport](t, f.ok("status", "--json")).Pipelines[0].Held)
		show := f.ok("runs", "show", "v-queued").stdout
		assert.Contains(t, show, "  ·  held at step parse (contract)\n")
		assert.Contains(t, show, "\n  version   ")
		advice := f.ok("deadletters", "show", "v-queued").stdout
		assert.Contains(t, advice, "Run v-queued is held: its records break the definition")
		assert.Contains(t, advice, "replay v-queued --from parse --set /PATH=VALUE")
		list := f.ok("versions", "list").stdout
		assert.Regexp(t, `leads +v2 +`+next.Version.Fingerprint, list)
	})
	t.Run("replay of held runs", func(t *testing.T) {
		dry := f.ok("replay", "--filter", "--status", "held", "--dry-run")
		assert.Contains(t, dry.stdout, "1 held run match:")
		assert.Contains(t, dry.stdout, "v-queued")
		assert.Equal(t, exitUsage, f.plumb("replay", "--filter", "--status", "queued", "--dry-run").code)

		r := f.ok("replay", "v-queued", "--set", "/text=Ada Lovelace <ada@example.com>, again")
		assert.Contains(t, r.stdout, "Replay: attempt 2 will start at step parse (step 1 of 3).")
		assert.Contains(t, r.stdout, "  it moves the run from ")
		assert.Contains(t, r.stdout, " to v2 ("+next.Version.Fingerprint+"), the registered definition\n")
		d := f.get("v-queued")
		assert.Equal(t, store.Queued, d.Run.Status)
		assert.Equal(t, next.Version, d.Run.Version)
		require.Len(t, d.Attempts, 2)
		assert.Equal(t, next.Version, d.Attempts[1].Version)
		show := f.ok("runs", "show", "v-queued").stdout
		assert.Contains(t, show, "; moved from ")
		assert.Contains(t, show, "\n  under v2 ("+next.Version.Fingerprint+")\n")
	})
	t.Run("cancel of a held run", func(t *testing.T) {
		f.submit("v-held2", adaText)
		lease := f.claim("v-held2")
		require.NoError(t, f.st.Finish(ctx, lease, store.Outcome{Status: store.Held, Step: "parse", Error: "breaks v2", Class: retry.ClassContract}))
		f.ok("cancel", "v-held2", "--reason", "not worth a patch")
		assert.Equal(t, store.Cancelled, f.get("v-held2").Run.Status)
	})
}

// RawLeadV2 is the input a next release of the fixture takes: a lead's
// text must hold an address.
type RawLeadV2 struct {
	ID   string `json:"id" jsonschema:"minLength=1"`
	Text string `json:"text" jsonschema:"minLength=1,pattern=@"`
}

func TestAWorkerOfTheNextReleaseHoldsWhatItCannotTake(t *testing.T) {
	heldByTheNextRelease(t, newFixture(t, nil))
}

func TestAWorkerOfTheNextReleaseHoldsWhatItCannotTakeOnPostgres(t *testing.T) {
	heldByTheNextRelease(t, newPostgresFixture(t))
}

// heldByTheNextRelease: runs queued under the fixture's definition meet a
// worker of a release that tightened parse's input; the CLI finds the one
// it held, and a patched replay moves it to the new release.
func heldByTheNextRelease(t *testing.T, f *fixture) {
	ctx := context.Background()
	ok, broken := f.submit("n-ok", adaText), f.submit("n-held", noEmailText)

	rt := pipeline.NewRuntime(pipeline.RuntimeConfig{Store: f.st, Logger: slog.New(slog.DiscardHandler)})
	parse := step.New("parse", func(_ context.Context, r RawLeadV2) (Lead, error) {
		return Lead{ID: r.ID, Name: "Someone", Email: emailRE.FindString(r.Text)}, nil
	}, step.Config{Retry: retry.Policy{MaxAttempts: 1}})
	next := pipeline.New(rt, pipelineName, parse, pipeline.Policy{Version: "v2"})
	require.NoError(t, next.Err())
	drain := func() {
		t.Helper()
		w, err := rt.NewWorker(pipeline.WorkerConfig{ID: "v2-worker", Poll: 5 * time.Millisecond, PruneEvery: -1, StopWhenDrained: true})
		require.NoError(t, err)
		wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		require.NoError(t, w.Run(wctx))
	}
	drain()
	assert.Equal(t, store.Succeeded, f.get(ok).Run.Status, "the run v2 takes goes on")
	d := f.get(broken)
	require.Equal(t, store.Held, d.Run.Status, d.Run.Error)

	held := decode[[]store.Run](t, f.ok("runs", "list", "--status", "held", "--json"))
	require.Len(t, held, 1)
	assert.Equal(t, broken, held[0].ID)
	show := f.ok("runs", "show", broken).stdout
	assert.Contains(t, show, "  ·  held at step parse (contract)\n")
	assert.Contains(t, show, "cannot go on under this definition: its input breaks the input contract of step parse")
	assert.Contains(t, f.ok("status").stdout, "  held       1 run: ")
	check := f.plumb("versions", "check")
	require.Equal(t, exitBroken, check.code, "v2 is registered: the check is against it\n%s", check)
	assert.Contains(t, check.stdout, "Run "+broken+"  ·  leads  ·  held  ·  started under ")
	assert.Contains(t, check.stdout, "/text: \"Charles Babbage, no email\" does not match the pattern @")

	r := f.ok("replay", broken, "--set", "/text=Charles Babbage <charles@example.com>")
	assert.Contains(t, r.stdout, " to v2 ("+next.Version().Fingerprint+"), the registered definition\n")
	drain()
	d = f.get(broken)
	require.Equal(t, store.Succeeded, d.Run.Status, d.Run.Error)
	assert.Equal(t, next.Version(), d.Run.Version)
	assert.Contains(t, f.ok("runs", "show", broken).stdout, "; moved from ")
	assert.Equal(t, 0, f.plumb("versions", "check").code, "nothing left that v2 cannot take")
}
