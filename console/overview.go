package console

import (
	"encoding/base64"
	"fmt"
	"html/template"
	"net/http"
	"slices"
	"time"

	"github.com/plumb-dev/plumb/store"
)

type overviewView struct {
	chrome
	Pipelines []pipelineView
	Flash     string
}

type pipelineView struct {
	Name                               string
	Version                            string
	Queued, Deferred, Running, Waiting int
	// AwaitingEvent: of Deferred, the runs waiting for an event.
	AwaitingEvent                            int
	Review, Dead, Held, Succeeded, Cancelled int
	Paused                                   *store.Pause
	Recoveries                               int
	MeanRecovery                             string
	Steps                                    []stepView
	// Index and PauseLog: the pause and resume history (pauselog.go).
	Index    int
	PauseLog []pauseEntryView
}

type stepView struct {
	Name              string
	Succeeded, Failed int
	Rate              string
	Chart             template.HTML
}

func (h *handler) overviewPage(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	// The counts of runs by status; the steps' outcomes over the 24 hours
	// are the sums of the chart's hours (one StepHistory), so Stats reads
	// only its last minute of steps.
	stats, err := h.cfg.Store.Stats(ctx, "", time.Minute)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	defs, err := h.cfg.Store.Pipelines(ctx)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	hours, end, err := hourly(ctx, h.cfg.Store, h.cfg.Now())
	if err != nil {
		h.fail(w, r, err)
		return
	}
	byName := map[string]store.PipelineStats{}
	for _, s := range stats {
		byName[s.Pipeline] = s
	}
	names := make([]string, 0, len(defs))
	order := map[string][]string{} // the steps in their pipeline's order
	versions := map[string]string{}
	for _, d := range defs {
		names = append(names, d.Name)
		for _, s := range d.Steps {
			order[d.Name] = append(order[d.Name], s.Name)
		}
		versions[d.Name] = d.Version.String()
	}
	for _, s := range stats {
		if !slices.Contains(names, s.Pipeline) {
			names = append(names, s.Pipeline)
		}
	}
	slices.Sort(names)
	v := overviewView{chrome: h.chromeFor(r, "Overview", "overview")}
	for pi, name := range names {
		s := byName[name]
		pv := pipelineView{Name: name, Version: versions[name], Queued: s.ByStatus[store.Queued], Deferred: s.Deferred, AwaitingEvent: s.AwaitingEvent,
			Running: s.ByStatus[store.Running], Waiting: s.ByStatus[store.Waiting], Review: s.ByStatus[store.AwaitingReview],
			Dead: s.ByStatus[store.DeadLettered], Held: s.ByStatus[store.Held], Succeeded: s.ByStatus[store.Succeeded],
			Cancelled: s.ByStatus[store.Cancelled], Paused: s.Paused, Recoveries: s.Recoveries}
		if s.Recoveries > 0 {
			pv.MeanRecovery = fmtDur(s.MeanRecovery)
		}
		pv.Index = pi
		if pv.PauseLog, err = h.pauseLogOf(ctx, name); err != nil {
			h.fail(w, r, err)
			return
		}
		steps := slices.Clone(order[name])
		var seen []string
		for step := range hours[name] {
			seen = append(seen, step)
		}
		slices.Sort(seen)
		for _, step := range seen {
			if !slices.Contains(steps, step) {
				steps = append(steps, step)
			}
		}
		for si, step := range steps {
			sv := stepView{Name: step, Rate: "no attempts"}
			for _, bk := range hours[name][step] {
				sv.Succeeded += bk.ok
				sv.Failed += bk.failed
			}
			if n := sv.Succeeded + sv.Failed; n > 0 {
				sv.Rate = fmt.Sprintf("%.1f%%", 100*float64(sv.Failed)/float64(n))
			}
			switch {
			case hours[name][step] == nil:
				sv.Chart = chartSVG(fmt.Sprintf("c%d-%d", pi, si), step, make([]bucket, chartHours), end)
			default:
				sv.Chart = chartSVG(fmt.Sprintf("c%d-%d", pi, si), step, hours[name][step], end)
			}
			pv.Steps = append(pv.Steps, sv)
		}
		v.Pipelines = append(v.Pipelines, pv)
	}
	v.Flash = h.takeFlash(w, r)
	h.render(w, r, overviewTmpl, http.StatusOK, v)
}

// flashCookie carries the message shown once after an action: a cookie,
// not a query parameter, so that a link cannot put words in the console's
// mouth.
const flashCookie = "plumb_console_flash"

func (h *handler) flash(w http.ResponseWriter, r *http.Request, msg string) {
	http.SetCookie(w, &http.Cookie{Name: flashCookie, Value: encodeFlash(msg), Path: h.base, MaxAge: 60, HttpOnly: true,
		Secure: h.cfg.SecureCookies || r.TLS != nil, SameSite: http.SameSiteLaxMode})
}

func (h *handler) takeFlash(w http.ResponseWriter, r *http.Request) string {
	c, err := r.Cookie(flashCookie)
	if err != nil {
		return ""
	}
	if r.Header.Get(liveHeader) == "" {
		http.SetCookie(w, &http.Cookie{Name: flashCookie, Path: h.base, MaxAge: -1, HttpOnly: true,
			Secure: h.cfg.SecureCookies || r.TLS != nil, SameSite: http.SameSiteLaxMode})
	}
	return decodeFlash(c.Value)
}

// liveHeader marks the live script's refreshes.
const liveHeader = "X-Plumb-Live"

func encodeFlash(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }
