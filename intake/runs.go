package intake

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/plumb-dev/plumb/contract"
	"github.com/plumb-dev/plumb/deadletter"
	"github.com/plumb-dev/plumb/internal/ids"
	"github.com/plumb-dev/plumb/pipeline"
	"github.com/plumb-dev/plumb/retry"
	"github.com/plumb-dev/plumb/step"
	"github.com/plumb-dev/plumb/store"
)

// runs is the sink of New: each valid delivery is a run of one pipeline,
// submitted with the idempotency key "webhook:<name>:<delivery id>".
type runs struct {
	trigger    string // "webhook:<name>"
	externalID string // Source.ExternalID
	log        *slog.Logger
	pipeline   string
	firstStep  string
	st         store.Store
	submit     func(ctx context.Context, raw []byte, o pipeline.SubmitOptions) (string, error)
	// register records the pipeline's definition in the store, which a
	// replay of a refused delivery needs, before any Submit or worker did.
	register func(ctx context.Context) error
}

func (s *runs) take(ctx context.Context, d *delivery) *Answer {
	trig := d.trig
	if s.externalID != "" {
		trig.ExternalID, _ = d.body.field(s.externalID) // an item without the field is still work
	}
	key := s.trigger + ":" + d.id
	if d.refused != nil {
		return s.refuse(ctx, d.raw, d.id, key, trig, d.refused, d.now)
	}
	runID := ids.New(d.now)
	got, err := s.submit(ctx, d.raw, pipeline.SubmitOptions{RunID: runID, IdempotencyKey: key, Trigger: trig})
	var ve *contract.ValidationError
	switch {
	case errors.As(err, &ve):
		return s.refuse(ctx, d.raw, d.id, key, trig, ve, d.now)
	case err != nil:
		s.log.LogAttrs(ctx, slog.LevelError, "intake: delivery not accepted: the store failed",
			slog.String("source", s.trigger), slog.String("delivery_id", d.id), slog.String("error", err.Error()))
		return &Answer{Status: Unavailable, Error: "the delivery could not be stored; nothing was accepted: retry"}
	case got != runID:
		return &Answer{Status: Duplicate, RunID: got, Duplicate: true}
	}
	return &Answer{Status: Accepted, RunID: got}
}

// lastSeen is the creation of the newest run of the source that the
// store holds (among the pipeline's newest seedPage), refusals aside.
func (s *runs) lastSeen(ctx context.Context) (time.Time, bool) {
	page, err := s.st.ListRuns(ctx, store.RunFilter{Pipeline: s.pipeline, TopLevel: true, Limit: seedPage, NoCount: true})
	if err != nil {
		return time.Time{}, false
	}
	for _, r := range page.Runs {
		if r.Trigger.Source == s.trigger && !s.refusedAtIntake(r) {
			return r.CreatedAt, true
		}
	}
	return time.Time{}, false
}

// refuse records a delivery refused for its content as a dead-lettered
// run of the pipeline, at its first step, with the body as the input, so
// that `plumb deadletters list` shows it and `plumb replay` can patch it
// into the pipeline. The record carries the delivery's idempotency key:
// a resent bad delivery finds it instead of making a second one.
func (s *runs) refuse(ctx context.Context, raw []byte, id, key string, trig step.Trigger, ve *contract.ValidationError, now time.Time) *Answer {
	if a := s.existing(ctx, key, ve); a != nil {
		return a
	}
	// The record names the pipeline's definition, which a replay of it
	// reads: record that first.
	if err := s.register(ctx); err != nil {
		s.log.LogAttrs(ctx, slog.LevelError, "intake: invalid delivery not recorded: the pipeline could not be registered",
			slog.String("source", s.trigger), slog.String("delivery_id", id), slog.String("error", err.Error()))
		return &Answer{Status: Unavailable, Error: "the delivery is invalid, and could not be recorded: retry"}
	}
	input, note := inputOf(raw)
	l := &deadletter.Letter{
		Pipeline: s.pipeline, RunID: ids.New(now), Step: s.firstStep, Trigger: trig, Input: input,
		Class: retry.ClassContract, Error: refusalError(s.trigger, id, ve, note),
		StartedAt: now, FailedAt: now, NeedsHuman: true,
	}
	d := l.Record()
	d.Run.IdempotencyKey = key
	d.Steps[0].Note = "refused at intake by " + s.trigger
	if _, err := s.st.Import(ctx, d); err != nil {
		// A concurrent copy of the same delivery may have won the key.
		if a := s.existing(ctx, key, ve); a != nil {
			return a
		}
		s.log.LogAttrs(ctx, slog.LevelError, "intake: invalid delivery not recorded: the store failed",
			slog.String("source", s.trigger), slog.String("delivery_id", id), slog.String("error", err.Error()))
		return &Answer{Status: Unavailable, Error: "the delivery is invalid, and could not be recorded: retry"}
	}
	return &Answer{Status: Invalid, RunID: l.RunID, Violations: ve.Violations, Error: refusalAnswer(ve)}
}

// existing answers a delivery whose key a run already has: an invalid
// delivery seen before is invalid again (same record), anything else is a
// duplicate of what was accepted.
func (s *runs) existing(ctx context.Context, key string, ve *contract.ValidationError) *Answer {
	page, err := s.st.ListRuns(ctx, store.RunFilter{Pipeline: s.pipeline, IdempotencyKey: key, Limit: 1, NoCount: true})
	if err != nil || len(page.Runs) == 0 {
		return nil
	}
	r := page.Runs[0]
	if s.refusedAtIntake(r) {
		return &Answer{Status: Invalid, RunID: r.ID, Duplicate: true, Violations: ve.Violations, Error: refusalAnswer(ve)}
	}
	return &Answer{Status: Duplicate, RunID: r.ID, Duplicate: true}
}

// inputOf is the input recorded for a refused body: the body itself when
// it is JSON; otherwise a JSON string of it (of its base64 when it is not
// UTF-8 text), so that not a byte is dropped.
func inputOf(raw []byte) (json.RawMessage, string) {
	if json.Valid(raw) {
		return raw, ""
	}
	if utf8.Valid(raw) {
		s, _ := json.Marshal(string(raw))
		return s, "the body was not JSON: the input is the body's text as a JSON string"
	}
	s, _ := json.Marshal(base64.StdEncoding.EncodeToString(raw))
	return s, "the body was not JSON nor UTF-8 text: the input is the body's bytes in base64, as a JSON string"
}

func refusalError(source, id string, ve *contract.ValidationError, note string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "intake %s: delivery %s refused: %s", source, id, ve.Error())
	if note != "" {
		b.WriteString("; " + note)
	}
	b.WriteString("; fix the input with `plumb replay <run id> --set PATH=VALUE` (or --patch FILE) and a worker runs it")
	return b.String()
}

func refusalAnswer(ve *contract.ValidationError) string {
	return fmt.Sprintf("the body breaks the pipeline's input contract (%d violation(s)); it was recorded as a dead letter (run_id)", ve.Count())
}

// refusedAtIntake reports whether r is the record of a delivery refused
// for its content (and not replayed since).
func (s *runs) refusedAtIntake(r store.Run) bool {
	return r.Status == store.DeadLettered && r.Attempt == 1 && r.Class == retry.ClassContract && r.Step == s.firstStep
}
