package notify_test

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/plumb-dev/plumb/notify"
)

var update = flag.Bool("update", false, "rewrite golden files")

func TestSlackFormatGolden(t *testing.T) {
	for _, tc := range []struct {
		name string
		e    notify.Event
	}{
		{"dead_lettered", deadLetter},
		{"review_needed", notify.Event{
			Kind: notify.ReviewNeeded, Pipeline: "support-triage", RunID: "run-42", Step: "classify",
			Class:  "needs_review",
			Reason: "confidence 0.41 < 0.7\nmodel said: <refund & escalate>",
			Link:   "https://plumb.example.com/review/run-42?tab=input&x=a|b", At: t0,
		}},
		{"digest", notify.Event{
			Kind: notify.DeadLettered, Pipeline: "leads", Step: "enrich", Class: "contract",
			Reason:  `499 more dead_lettered in 1m at step enrich (contract); first: email: does not match format "email"`,
			Link:    "plumb deadletter list --pipeline leads",
			At:      t0,
			Count:   499,
			Samples: []string{"run-2", "run-3", "run-4", "run-5", "run-6"},
		}},
		{"held", notify.Event{Kind: notify.Held, Pipeline: "leadfollowup", RunID: "run-7", Step: "draft", Class: "contract",
			Reason: "run run-7 (queued, started under v1 (3f9a1c2be04d7a61)) cannot go on under this definition: the last checkpoint's output breaks the input contract of step draft (/score: missing property); " +
				"replay it with a patch that meets the new contract (plumb replay run-7 --from draft --set ...), cancel it, or deploy a definition that accepts it",
			Link: "plumb runs show run-7", At: t0}},
		{"silent", notify.Event{Kind: notify.Silent, Pipeline: "nightly-report",
			Reason: "no runs for 2h1m (expected at least one every 2h); last run at 2026-11-27T02:17:00Z"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			body, ctype, err := notify.SlackFormat(tc.e)
			require.NoError(t, err)
			assert.Equal(t, "application/json", ctype)
			require.True(t, json.Valid(body))

			var pretty bytes.Buffer
			require.NoError(t, json.Indent(&pretty, body, "", "  "))
			pretty.WriteByte('\n')
			golden := filepath.Join("testdata", "slack_"+tc.name+".golden.json")
			if *update {
				require.NoError(t, os.WriteFile(golden, pretty.Bytes(), 0o644))
			}
			want, err := os.ReadFile(golden)
			require.NoError(t, err, "run go test -run TestSlackFormatGolden -update to create it")
			assert.Equal(t, string(want), pretty.String())
		})
	}
}

func TestSlackFormatCutsLongReasons(t *testing.T) {
	e := deadLetter
	e.Reason = string(bytes.Repeat([]byte("é"), 5000))
	body, _, err := notify.SlackFormat(e)
	require.NoError(t, err)
	var msg struct {
		Blocks []struct {
			Text struct{ Text string } `json:"text"`
		} `json:"blocks"`
	}
	require.NoError(t, json.Unmarshal(body, &msg))
	assert.LessOrEqual(t, len([]rune(msg.Blocks[1].Text.Text)), 3000, "Slack's section limit")
}

func TestSummary(t *testing.T) {
	assert.Equal(t, "Run dead-lettered in leads at step enrich (contract)", notify.Summary(deadLetter))
	assert.Equal(t, "Pipeline paused in leads", notify.Summary(notify.Event{Kind: notify.Paused, Pipeline: "leads"}))
	assert.Equal(t, "Review overdue ×3 in a b", notify.Summary(notify.Event{Kind: notify.ReviewOverdue, Pipeline: "a\nb", Count: 3}))
	assert.Equal(t, "Run held in leads at step draft (contract)", notify.Summary(notify.Event{Kind: notify.Held, Pipeline: "leads", Step: "draft", Class: "contract"}))
	assert.Equal(t, "Custom thing in p", notify.Summary(notify.Event{Kind: "custom_thing", Pipeline: "p"}))
}
