package console

import (
	"html/template"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/plumb-dev/plumb/retry"
	"github.com/plumb-dev/plumb/store"
)

// pageSize is how many runs a search page lists.
const pageSize = 50

// classes lists the error classes a search can pick, in their order.
var classes = []retry.Class{retry.ClassTransient, retry.ClassPermanent, retry.ClassContract, retry.ClassNeedsReview,
	retry.ClassCancelled, retry.ClassBudget, retry.ClassRefusal}

// search is a run filter as a form and a query string carry it.
type search struct {
	Pipeline, Status, Step, Class, ExternalID, Key, Since, Until, Before string
}

const timeForm = "2006-01-02T15:04" // what <input type="datetime-local"> sends, read as UTC

func searchOf(q url.Values) search {
	g := func(k string) string { return strings.TrimSpace(q.Get(k)) }
	return search{Pipeline: g("pipeline"), Status: g("status"), Step: g("step"), Class: g("class"),
		ExternalID: g("external_id"), Key: g("key"), Since: g("since"), Until: g("until"), Before: g("before")}
}

// filter turns the search into the store's filter; problems name the
// field that caused them.
func (s search) filter() (store.RunFilter, map[string]string) {
	f := store.RunFilter{Pipeline: s.Pipeline, Step: s.Step, ExternalID: s.ExternalID, IdempotencyKey: s.Key,
		Before: s.Before, Limit: pageSize}
	bad := map[string]string{}
	if s.Status != "" {
		st := store.Status(s.Status)
		if !st.Valid() {
			bad["status"] = "not a status"
		}
		f.Status = []store.Status{st}
	}
	if s.Class != "" {
		c, ok := retry.ParseClass(s.Class)
		if !ok {
			bad["class"] = "not an error class"
		}
		f.Class = c
	}
	for _, t := range []struct {
		name, v string
		to      *time.Time
	}{{"since", s.Since, &f.Since}, {"until", s.Until, &f.Until}} {
		if t.v == "" {
			continue
		}
		v, err := time.Parse(timeForm, t.v)
		if err != nil {
			if v, err = time.Parse(time.RFC3339, t.v); err != nil {
				bad[t.name] = "not a time (YYYY-MM-DDTHH:MM, UTC)"
				continue
			}
		}
		*t.to = v.UTC()
	}
	return f, bad
}

// query is the search as a query string, without the page cursor.
func (s search) query() string {
	q := url.Values{}
	for k, v := range map[string]string{"pipeline": s.Pipeline, "status": s.Status, "step": s.Step, "class": s.Class,
		"external_id": s.ExternalID, "key": s.Key, "since": s.Since, "until": s.Until} {
		if v != "" {
			q.Set(k, v)
		}
	}
	return q.Encode()
}

type searchView struct {
	chrome
	Search    search
	Query     template.URL
	Bad       map[string]string
	Pipelines []string
	Statuses  []store.Status
	Classes   []string
	Runs      []runRow
	Next      string
	First     bool
	// Cancellable says the search selects runs that have not ended, so
	// that cancelling them by filter is offered.
	Cancellable bool
}

type runRow struct {
	ID, Pipeline, Status, Step, Class, Error, ExternalID, Source, Key string
	Updated                                                           string
	Branch                                                            bool
}

func rowOf(r *store.Run) runRow {
	row := runRow{ID: r.ID, Pipeline: r.Pipeline, Status: string(r.Status), Step: r.Step, Error: firstLine(r.Error, 160),
		ExternalID: r.Trigger.ExternalID, Source: r.Trigger.Source, Key: r.IdempotencyKey, Updated: fmtTime(r.UpdatedAt),
		Branch: r.Parent != nil}
	if r.Class != 0 {
		row.Class = r.Class.String()
	}
	return row
}

func firstLine(s string, n int) string {
	s, _, _ = strings.Cut(s, "\n")
	if r := []rune(s); len(r) > n {
		return string(r[:n]) + "…"
	}
	return s
}

func (h *handler) searchPage(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	s := searchOf(r.URL.Query())
	f, bad := s.filter()
	v := searchView{chrome: h.chromeFor(r, "Runs", "runs"), Search: s, Query: template.URL(s.query()), Bad: bad, Statuses: store.Statuses,
		First: s.Before == ""}
	for _, c := range classes {
		v.Classes = append(v.Classes, c.String())
	}
	defs, err := h.cfg.Store.Pipelines(ctx)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	for _, d := range defs {
		v.Pipelines = append(v.Pipelines, d.Name)
	}
	if len(bad) > 0 {
		h.render(w, r, searchTmpl, http.StatusUnprocessableEntity, v)
		return
	}
	// Keyset paging: the store's cursor (the last id of a page), one more
	// run than shown to know whether a next page exists, and no count of
	// the rest, which a million runs would make slow.
	f.Limit, f.NoCount = pageSize+1, true
	page, err := h.cfg.Store.ListRuns(ctx, f)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	runs := page.Runs
	if len(runs) > pageSize {
		runs = runs[:pageSize]
		v.Next = runs[len(runs)-1].ID
	}
	for i := range runs {
		v.Runs = append(v.Runs, rowOf(&runs[i]))
	}
	v.Cancellable = s.Status == "" || !store.Status(s.Status).Final()
	h.render(w, r, searchTmpl, http.StatusOK, v)
}
