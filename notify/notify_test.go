package notify_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/plumb-dev/plumb/notify"
	"github.com/plumb-dev/plumb/step"
)

func TestMultiTellsEveryoneDespiteFailures(t *testing.T) {
	a, c := &sink{}, &sink{}
	errB := errors.New("b is down")
	b := notify.Func(func(context.Context, notify.Event) error { return errB })
	p := notify.Func(func(context.Context, notify.Event) error { panic("bug in a user notifier") })
	m := notify.Multi(a, nil, b, p, c)

	err := m.Notify(context.Background(), deadLetter)
	assert.ErrorIs(t, err, errB)
	var pe *notify.NotifierPanicError
	require.ErrorAs(t, err, &pe)
	assert.Equal(t, "bug in a user notifier", pe.Value)
	assert.ErrorIs(t, err, notify.ErrNotifierPanic)
	assert.Equal(t, []notify.Event{deadLetter}, a.got())
	assert.Equal(t, []notify.Event{deadLetter}, c.got(), "later notifiers still told")

	assert.NoError(t, notify.Multi().Notify(context.Background(), deadLetter))
}

func TestNotifierPanicUnwrapsToAnErrorValue(t *testing.T) {
	bug := errors.New("nil map in formatter")
	err := notify.Multi(notify.Func(func(context.Context, notify.Event) error { panic(bug) })).
		Notify(context.Background(), deadLetter)
	assert.ErrorIs(t, err, notify.ErrNotifierPanic)
	assert.ErrorIs(t, err, bug, "a panic with an error unwraps to it")
	assert.NotErrorIs(t, err, step.ErrPanic, "a notifier's panic is not a step's")
	var pe *notify.NotifierPanicError
	require.ErrorAs(t, err, &pe)
	assert.NotEmpty(t, pe.Stack)
}

func TestSlogLevelsAndAttributes(t *testing.T) {
	var buf bytes.Buffer
	logger := slog.New(slog.NewJSONHandler(&buf, &slog.HandlerOptions{
		ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
			if a.Key == slog.TimeKey {
				return slog.Attr{}
			}
			return a
		},
	}))
	n := notify.NewSlog(logger)
	ctx := context.Background()
	require.NoError(t, n.Notify(ctx, deadLetter))
	require.NoError(t, n.Notify(ctx, notify.Event{Kind: notify.ReviewNeeded, Pipeline: "support"}))
	require.NoError(t, n.Notify(ctx, notify.Event{Kind: notify.DeadLettered, Pipeline: "leads", Count: 3,
		Samples: []string{"r1", "r2"}, At: t0.Add(time.Minute)}))

	lines := bytes.Split(bytes.TrimSpace(buf.Bytes()), []byte("\n"))
	require.Len(t, lines, 3)
	assert.JSONEq(t, `{"level":"ERROR","msg":"run dead-lettered","event":"dead_lettered","pipeline":"leads",
		"run_id":"run-1","step":"enrich","class":"contract","reason":"email: does not match format \"email\"",
		"link":"plumb runs show run-1","at":"2026-11-27T02:17:00Z"}`, string(lines[0]))
	assert.JSONEq(t, `{"level":"WARN","msg":"review needed","event":"review_needed","pipeline":"support"}`, string(lines[1]))
	assert.JSONEq(t, `{"level":"ERROR","msg":"run dead-lettered","event":"dead_lettered","pipeline":"leads",
		"at":"2026-11-27T02:18:00Z","count":3,"samples":["r1","r2"]}`, string(lines[2]))
}

func TestSlogLevels(t *testing.T) {
	for kind, want := range map[notify.Kind]slog.Level{
		notify.DeadLettered: slog.LevelError, notify.SinkFailed: slog.LevelError, notify.Silent: slog.LevelError,
		notify.ReviewNeeded: slog.LevelWarn, notify.ReviewOverdue: slog.LevelWarn, notify.Paused: slog.LevelWarn,
		notify.Resumed: slog.LevelWarn, notify.BudgetExceeded: slog.LevelWarn,
	} {
		var got slog.Level
		h := levelHandler{&got}
		require.NoError(t, notify.NewSlog(slog.New(h)).Notify(context.Background(), notify.Event{Kind: kind}))
		assert.Equal(t, want, got, kind)
	}
}

type levelHandler struct{ level *slog.Level }

func (levelHandler) Enabled(context.Context, slog.Level) bool { return true }
func (h levelHandler) Handle(_ context.Context, r slog.Record) error {
	*h.level = r.Level
	return nil
}
func (h levelHandler) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h levelHandler) WithGroup(string) slog.Handler      { return h }

func TestSlogNilLoggerUsesDefault(t *testing.T) {
	var buf bytes.Buffer
	old := slog.Default()
	slog.SetDefault(slog.New(slog.NewTextHandler(&buf, nil)))
	t.Cleanup(func() { slog.SetDefault(old) })
	require.NoError(t, notify.NewSlog(nil).Notify(context.Background(), notify.Event{Kind: notify.Paused, Pipeline: "p"}))
	assert.Contains(t, buf.String(), `msg="pipeline paused" event=paused pipeline=p`)
}
