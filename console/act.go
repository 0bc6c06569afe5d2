package console

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"strings"

	"github.com/plumb-dev/plumb/contract"
	"github.com/plumb-dev/plumb/store"
)

// replayable reports whether a replay applies to a run in status s.
func replayable(s store.Status) bool {
	return s == store.DeadLettered || s == store.Cancelled || s == store.Held
}

// cancellable reports whether a run in status s can be cancelled.
func cancellable(s store.Status) bool { return !s.Final() }

// actOf says what an operator may do on the run's page; from picks the
// step whose input the patch editor holds (default: the replay's start).
func (h *handler) actOf(ctx context.Context, d *store.RunDetail, from string) (*actView, error) {
	run := &d.Run
	a := &actView{CanReplay: replayable(run.Status), CanCancel: cancellable(run.Status)}
	if !a.CanReplay {
		return a, nil
	}
	def, err := h.cfg.Store.Pipeline(ctx, run.Pipeline)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return nil, err
	}
	if def != nil {
		for _, s := range def.Steps {
			a.Steps = append(a.Steps, s.Name)
		}
	}
	_, a.From = store.ReplayStart(run, d.Steps, def, from)
	in := stepInput(d, a.From)
	a.NoPayload = in == nil
	if in != nil {
		a.Input = pretty(in)
	}
	return a, nil
}

// stepInput is what the patch editor starts from: the input the step
// last ran on (store.RunDetail.StepInput), or the run's input when no step
// is named or none has run yet.
func stepInput(d *store.RunDetail, stepName string) json.RawMessage {
	if in := d.StepInput(stepName); in != nil {
		return in
	}
	if stepName == "" || len(d.Steps) == 0 {
		return d.Run.Input
	}
	return nil
}

// sameJSON reports whether two documents say the same thing, whatever
// their spacing.
func sameJSON(a, b []byte) bool {
	var x, y bytes.Buffer
	if json.Compact(&x, a) != nil || json.Compact(&y, b) != nil {
		return false
	}
	return bytes.Equal(x.Bytes(), y.Bytes())
}

// replayRun checks a patch against the step's input contract and, unless
// only a check was asked, writes the replay. Nothing is written while the
// patch breaks the contract: the page comes back with each violation at
// its path and the text as it was sent.
func (h *handler) replayRun(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	d, err := h.cfg.Store.GetRun(ctx, r.PathValue("id"))
	if err != nil {
		h.fail(w, r, err)
		return
	}
	who := userOf(r).who
	from := r.PostFormValue("from")
	text := strings.TrimSpace(r.PostFormValue("input"))
	v, err := h.runViewOf(r, d, from)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	a := v.Act
	if !a.CanReplay {
		a.Err = "Run " + d.Run.ID + " is " + string(d.Run.Status) + ": only dead-lettered, cancelled or held runs are replayed."
		h.render(w, r, runTmpl, http.StatusConflict, v)
		return
	}
	orig := stepInput(d, a.From)
	var patch json.RawMessage
	if text != "" && (orig == nil || !sameJSON([]byte(text), orig)) {
		patch = json.RawMessage(text)
	}
	a.Input = text
	if patch == nil && orig == nil {
		a.Err = "The run kept no payload: a replay needs the step's input. Paste it into the editor."
		h.render(w, r, runTmpl, http.StatusUnprocessableEntity, v)
		return
	}
	if patch != nil {
		def, err := h.cfg.Store.Pipeline(ctx, d.Run.Pipeline)
		if err != nil {
			h.fail(w, r, err)
			return
		}
		i, _ := store.ReplayStart(&d.Run, d.Steps, def, a.From)
		if i < 0 || i >= len(def.Steps) {
			a.Err = "Pipeline " + d.Run.Pipeline + " has no step " + a.From + "."
			h.render(w, r, runTmpl, http.StatusUnprocessableEntity, v)
			return
		}
		if err := store.ValidateJSON(def.Steps[i].InputSchema, patch); err != nil {
			var ve *contract.ValidationError
			if !errors.As(err, &ve) {
				h.fail(w, r, err)
				return
			}
			a.Violations = violationsOf(err)
			h.render(w, r, runTmpl, http.StatusUnprocessableEntity, v)
			return
		}
		if orig != nil {
			a.Changes = lineDiff(pretty(orig), pretty(patch))
		}
	}
	if r.PostFormValue("do") == "check" {
		a.Checked = true
		h.render(w, r, runTmpl, http.StatusOK, v)
		return
	}
	reason := "replay from " + a.From + " by " + who
	if note := strings.TrimSpace(r.PostFormValue("reason")); note != "" {
		reason += ": " + note
	}
	// ReplayRun checks the patch against the contract again, in the
	// library, as the CLI's replay does.
	if _, err := store.ReplayRun(ctx, h.cfg.Store, store.ReplayRequest{RunID: d.Run.ID, From: a.From, Input: patch, Reason: reason}); err != nil {
		if status, msg := statusOf(err); status < 500 {
			a.Err, a.Violations = msg, violationsOf(err)
			h.render(w, r, runTmpl, status, v)
			return
		}
		h.fail(w, r, err)
		return
	}
	h.log.Info("plumb: console: replay", slog.String("run", d.Run.ID), slog.String("from", a.From), slog.String("by", who), slog.Bool("patched", patch != nil))
	msg := "Queued a replay of run " + d.Run.ID + " from step " + a.From
	if patch != nil {
		msg += " with your patch"
	}
	h.flash(w, r, msg+". A worker of pipeline "+d.Run.Pipeline+" carries it out.")
	http.Redirect(w, r, h.runURL(d.Run.ID), http.StatusSeeOther)
}

func (h *handler) runURL(id string) string { return h.base + "runs/" + urlPathEscape(id) }

// cancelRun cancels one run, recording who and why.
func (h *handler) cancelRun(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	id := r.PathValue("id")
	who := userOf(r).who
	reason := strings.TrimSpace(r.PostFormValue("reason"))
	if reason == "" {
		d, err := h.cfg.Store.GetRun(ctx, id)
		if err != nil {
			h.fail(w, r, err)
			return
		}
		v, err := h.runViewOf(r, d, "")
		if err != nil {
			h.fail(w, r, err)
			return
		}
		v.Act.Err = "A cancellation needs a reason: it is kept on the run for whoever looks next."
		h.render(w, r, runTmpl, http.StatusUnprocessableEntity, v)
		return
	}
	run, err := h.cfg.Store.Cancel(ctx, store.CancelRequest{RunID: id, By: who, Reason: reason})
	if err != nil {
		h.fail(w, r, err)
		return
	}
	h.log.Info("plumb: console: cancel", slog.String("run", id), slog.String("by", who), slog.String("reason", reason))
	msg := "Cancelled run " + id + "."
	if run.Status != store.Cancelled {
		msg = "Asked to cancel run " + id + ": its worker stops it at its next heartbeat."
	}
	h.flash(w, r, msg)
	http.Redirect(w, r, h.runURL(id), http.StatusSeeOther)
}

// pause shuts a pipeline's intake, recording who and why.
func (h *handler) pause(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	name := r.PathValue("name")
	who := userOf(r).who
	if _, err := h.cfg.Store.Pipeline(ctx, name); err != nil {
		h.fail(w, r, err)
		return
	}
	reason := strings.TrimSpace(r.PostFormValue("reason"))
	if reason == "" {
		h.errorPage(w, r, http.StatusUnprocessableEntity, "A pause needs a reason: it is kept in "+name+"'s log for whoever looks next. Go back and say why; nothing was paused.")
		return
	}
	if err := h.cfg.Store.SetPause(ctx, store.Pause{Pipeline: name, Reason: reason, By: who}); err != nil {
		h.fail(w, r, err)
		return
	}
	h.log.Info("plumb: console: pause", slog.String("pipeline", name), slog.String("by", who), slog.String("reason", reason))
	h.flash(w, r, "Paused "+name+": workers claim no new runs of it until it is resumed. Runs in flight finish.")
	http.Redirect(w, r, h.base, http.StatusSeeOther)
}

// resume opens a paused pipeline's intake again, recording who and why
// in the pipeline's log.
func (h *handler) resume(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	name := r.PathValue("name")
	who := userOf(r).who
	reason := strings.TrimSpace(r.PostFormValue("reason"))
	if reason == "" {
		h.errorPage(w, r, http.StatusUnprocessableEntity, "A resume needs a reason: it is kept in "+name+"'s log for whoever looks next. Go back and say why; nothing was resumed.")
		return
	}
	was, err := h.cfg.Store.ClearPause(ctx, store.Resume{Pipeline: name, By: who, Reason: reason})
	if err != nil {
		h.fail(w, r, err)
		return
	}
	h.log.Info("plumb: console: resume", slog.String("pipeline", name), slog.String("by", who), slog.String("reason", reason), slog.Bool("was_paused", was))
	msg := "Resumed " + name + ": workers claim its runs again."
	if !was {
		msg = name + " was not paused."
	}
	h.flash(w, r, msg)
	http.Redirect(w, r, h.base, http.StatusSeeOther)
}
