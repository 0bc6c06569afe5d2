package console

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"html/template"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/plumb-dev/plumb/store"
)

// Batch actions list what they will touch first (a dry run, read-only,
// reached by GET), then act on exactly that list from a confirmation form,
// in the background, with a page that shows the progress.

// batchLimit caps a batch, as the CLI's does: a next batch takes the rest.
const batchLimit = 1000

type letterGroup struct {
	// Label names the class in the heading when it is not Class.
	Pipeline, Step, Class, Label, Sample, Newest, Oldest string
	Count, Errors                                        int
	Query                                                template.URL
}

type deadLettersView struct {
	chrome
	Groups []letterGroup
	Total  int
}

// deadLettersPage lists the dead letters by group, as the store counts
// them (store.Ops.DeadLetterGroups): every count is whole, at ten dead
// letters or a million, and the page reads no run but each group's newest.
func (h *handler) deadLettersPage(w http.ResponseWriter, r *http.Request) {
	groups, err := h.cfg.Store.DeadLetterGroups(r.Context(), store.RunFilter{Limit: 1})
	if err != nil {
		h.fail(w, r, err)
		return
	}
	v := deadLettersView{chrome: h.chromeFor(r, "Dead letters", "deadletters")}
	for _, g := range groups {
		lg := letterGroup{Pipeline: g.Pipeline, Step: g.Step, Sample: firstLine(g.SampleError, 200), Newest: fmtTime(g.Newest),
			Oldest: fmtTime(g.Oldest), Count: g.Count, Errors: g.Errors}
		if g.Class != 0 {
			lg.Class = g.Class.String()
		}
		s := search{Pipeline: lg.Pipeline, Step: lg.Step, Class: lg.Class, Status: string(store.DeadLettered)}
		lg.Query = template.URL(s.query())
		if g.Unclassified {
			// The search has no such filter: it lists the class's runs.
			lg.Label = "unclassified (dead-lettered as " + lg.Class + ")"
		}
		v.Total += g.Count
		v.Groups = append(v.Groups, lg)
	}
	h.render(w, r, deadLettersTmpl, http.StatusOK, v)
}

type previewView struct {
	chrome
	Kind    string // "replay" or "cancel"
	Search  search
	Query   template.URL
	Summary string
	Runs    []runRow
	Shown   int
	Count   int
	More    int
	Until   string
	From    string
	Err     string
	Reason  string
}

// previewShown is how many of a batch's runs its preview lists by id.
const previewShown = 20

func (h *handler) preview(w http.ResponseWriter, r *http.Request, kind string) {
	s := searchOf(r.URL.Query())
	if kind == "replay" && s.Status == "" {
		s.Status = string(store.DeadLettered)
	}
	f, bad := s.filter()
	v := previewView{chrome: h.chromeFor(r, "", "deadletters"), Kind: kind, Search: s, Query: template.URL(s.query()), Summary: describe(s),
		From: strings.TrimSpace(r.URL.Query().Get("from"))}
	v.PollMS = 0
	if kind == "cancel" {
		v.Nav = "runs"
	}
	if len(bad) > 0 {
		h.errorPage(w, r, http.StatusUnprocessableEntity, "The filter is not valid: "+fmt.Sprint(bad))
		return
	}
	matched, more, err := h.listBatch(r.Context(), kind, f, s)
	if err != nil {
		v.Err = err.Error()
		h.render(w, r, previewTmpl, http.StatusConflict, v)
		return
	}
	v.Count, v.More = len(matched), more
	newest := time.Time{}
	for i := range matched {
		if matched[i].UpdatedAt.After(newest) {
			newest = matched[i].UpdatedAt
		}
		if i < previewShown {
			v.Runs = append(v.Runs, rowOf(&matched[i]))
		}
	}
	v.Shown = len(v.Runs)
	if !newest.IsZero() {
		v.Until = newest.Add(time.Nanosecond).UTC().Format(time.RFC3339Nano)
	}
	if kind == "replay" {
		v.Heading = "Replay " + plural(v.Count, "run", "runs") + ": dry run"
	} else {
		v.Heading = "Cancel " + plural(v.Count, "run", "runs") + ": dry run"
	}
	h.render(w, r, previewTmpl, http.StatusOK, v)
}

func (h *handler) replayPreview(w http.ResponseWriter, r *http.Request) { h.preview(w, r, "replay") }
func (h *handler) cancelPreview(w http.ResponseWriter, r *http.Request) { h.preview(w, r, "cancel") }

// listBatch lists what a batch would touch, with the library's own rules
// of what a replay or a cancellation applies to.
func (h *handler) listBatch(ctx context.Context, kind string, f store.RunFilter, s search) ([]store.Run, int, error) {
	f.Before, f.Limit = "", batchLimit
	if kind == "replay" {
		res, err := store.ReplayMatching(ctx, h.cfg.Store, f, "", true, nil)
		if err != nil {
			return nil, 0, err
		}
		return res.Matched, res.More, nil
	}
	if s.Status == "" {
		f.Status = nil // CancelMatching's default: every status that has not ended
	}
	res, err := store.CancelMatching(ctx, h.cfg.Store, f, "", "", true, nil)
	if err != nil {
		return nil, 0, err
	}
	return res.Matched, res.More, nil
}

// batchOf reads a confirmation form: the filter, bounded by the newest
// run the preview listed, so that runs that failed since are not touched.
func batchOf(r *http.Request) (search, store.RunFilter, error) {
	s := searchOf(r.PostForm)
	f, bad := s.filter()
	if len(bad) > 0 {
		return s, f, fmt.Errorf("the filter is not valid: %v", bad)
	}
	if u := r.PostFormValue("until_exact"); u != "" {
		t, err := time.Parse(time.RFC3339Nano, u)
		if err != nil {
			return s, f, fmt.Errorf("the preview's bound %q is not a time", u)
		}
		if f.Until.IsZero() || f.Until.After(t) {
			f.Until = t
		}
	}
	return s, f, nil
}

func (h *handler) replayBatch(w http.ResponseWriter, r *http.Request) {
	s, f, err := batchOf(r)
	if err != nil {
		h.errorPage(w, r, http.StatusUnprocessableEntity, "Nothing was replayed: "+err.Error())
		return
	}
	if s.Status == "" {
		f.Status = []store.Status{store.DeadLettered}
	}
	who := userOf(r).who
	from := strings.TrimSpace(r.PostFormValue("from"))
	matched, _, err := h.listBatch(r.Context(), "replay", f, s)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	note := strings.TrimSpace(r.PostFormValue("reason"))
	j := h.jobs.start("replay", who, describe(s), len(matched), func(ctx context.Context, j *job) {
		// One by one with Replay, as ReplayMatching does, so that each
		// attempt's reason names who asked for it.
		for _, run := range matched {
			if ctx.Err() != nil {
				j.fail(run.ID, ctx.Err())
				continue
			}
			step := from
			if step == "" {
				step = run.Step
			}
			reason := "batch replay from " + step + " by " + who
			if note != "" {
				reason += ": " + note
			}
			_, err := h.cfg.Store.Replay(ctx, store.ReplayRequest{RunID: run.ID, From: from, Reason: reason})
			j.step(run.ID, err)
		}
	})
	h.log.Info("plumb: console: batch replay", slog.String("filter", describe(s)), slog.Int("runs", len(matched)), slog.String("by", who), slog.String("job", j.ID))
	http.Redirect(w, r, h.base+"jobs/"+j.ID, http.StatusSeeOther)
}

func (h *handler) cancelBatch(w http.ResponseWriter, r *http.Request) {
	s, f, err := batchOf(r)
	if err != nil {
		h.errorPage(w, r, http.StatusUnprocessableEntity, "Nothing was cancelled: "+err.Error())
		return
	}
	who := userOf(r).who
	reason := strings.TrimSpace(r.PostFormValue("reason"))
	if reason == "" {
		h.errorPage(w, r, http.StatusUnprocessableEntity, "Nothing was cancelled: a cancellation needs a reason, kept on every run. Go back and give one.")
		return
	}
	matched, _, err := h.listBatch(r.Context(), "cancel", f, s)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	j := h.jobs.start("cancel", who, describe(s), len(matched), func(ctx context.Context, j *job) {
		for _, run := range matched {
			_, err := h.cfg.Store.Cancel(ctx, store.CancelRequest{RunID: run.ID, By: who, Reason: reason})
			j.step(run.ID, err)
		}
	})
	h.log.Info("plumb: console: batch cancel", slog.String("filter", describe(s)), slog.Int("runs", len(matched)), slog.String("by", who), slog.String("job", j.ID))
	http.Redirect(w, r, h.base+"jobs/"+j.ID, http.StatusSeeOther)
}

// describe says what a filter selects, in words.
func describe(s search) string {
	var parts []string
	add := func(label, v string) {
		if v != "" {
			parts = append(parts, label+" "+v)
		}
	}
	add("status", s.Status)
	add("pipeline", s.Pipeline)
	add("step", s.Step)
	add("class", s.Class)
	add("external id", s.ExternalID)
	add("idempotency key", s.Key)
	add("updated since", s.Since)
	add("updated until", s.Until)
	if len(parts) == 0 {
		return "every run"
	}
	return strings.Join(parts, ", ")
}

// A job is a batch action running in the background. Jobs live in this
// process's memory: the store has the outcome of every run they touched.
type job struct {
	ID, Kind, By, Filter string
	Started              time.Time
	mu                   sync.Mutex
	total, done          int
	failed               map[string]string
	finished             bool
}

func (j *job) step(id string, err error) {
	j.mu.Lock()
	defer j.mu.Unlock()
	j.done++
	if err != nil {
		j.failed[id] = err.Error()
	}
}

func (j *job) fail(id string, err error) { j.step(id, err) }

type jobs struct {
	mu   sync.Mutex
	now  func() time.Time
	byID map[string]*job
	ids  []string
}

// keptJobs bounds the jobs kept for their pages.
const keptJobs = 100

func newJobs(now func() time.Time) *jobs { return &jobs{now: now, byID: map[string]*job{}} }

func (js *jobs) start(kind, by, filter string, total int, work func(context.Context, *job)) *job {
	var b [8]byte
	_, _ = rand.Read(b[:])
	j := &job{ID: hex.EncodeToString(b[:]), Kind: kind, By: by, Filter: filter, Started: js.now(), total: total, failed: map[string]string{}}
	js.mu.Lock()
	js.byID[j.ID] = j
	js.ids = append(js.ids, j.ID)
	if len(js.ids) > keptJobs {
		delete(js.byID, js.ids[0])
		js.ids = js.ids[1:]
	}
	js.mu.Unlock()
	go func() {
		// The request that started it has ended; the job has its own
		// bound.
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Minute)
		defer cancel()
		work(ctx, j)
		j.mu.Lock()
		j.finished = true
		j.mu.Unlock()
	}()
	return j
}

func (js *jobs) get(id string) *job {
	js.mu.Lock()
	defer js.mu.Unlock()
	return js.byID[id]
}

type jobView struct {
	chrome
	Kind, By, Filter, Started string
	Total, Done, OK           int
	Percent                   int
	Finished                  bool
	Failed                    []jobFailure
}

type jobFailure struct{ ID, Error string }

func (h *handler) jobPage(w http.ResponseWriter, r *http.Request) {
	j := h.jobs.get(r.PathValue("id"))
	if j == nil {
		h.errorPage(w, r, http.StatusNotFound, "No such batch: batches are kept in the memory of the process that ran them, and this one has restarted or forgotten it. The runs' pages show what became of them.")
		return
	}
	j.mu.Lock()
	v := jobView{chrome: h.chromeFor(r, "", j.Kind), Kind: j.Kind, By: j.By, Filter: j.Filter, Started: fmtTime(j.Started),
		Total: j.total, Done: j.done, OK: j.done - len(j.failed), Finished: j.finished}
	v.PollMS = 0 // the page refreshes itself while the job runs, without script
	for id, e := range j.failed {
		v.Failed = append(v.Failed, jobFailure{id, e})
	}
	j.mu.Unlock()
	slices.SortFunc(v.Failed, func(a, b jobFailure) int { return strings.Compare(a.ID, b.ID) })
	if v.Total > 0 {
		v.Percent = 100 * v.Done / v.Total
	} else {
		v.Percent = 100
	}
	verb := map[string]string{"replay": "Batch replay", "cancel": "Batch cancel"}[j.Kind]
	v.Heading = verb
	if j.Kind == "replay" {
		v.Nav = "deadletters"
	} else {
		v.Nav = "runs"
	}
	h.render(w, r, jobTmpl, http.StatusOK, v)
}
