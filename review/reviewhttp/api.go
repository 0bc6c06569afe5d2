package reviewhttp

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"mime"
	"net/http"
	"strings"
	"time"

	"github.com/plumb-dev/plumb/contract"
	"github.com/plumb-dev/plumb/store"
)

// apiError is the body of every API error.
type apiError struct {
	Error      string               `json:"error"`
	Violations []contract.Violation `json:"violations,omitempty"`
}

// apiReview summarises a pending review in the list.
type apiReview struct {
	RunID    string `json:"run_id"`
	Pipeline string `json:"pipeline"`
	Step     string `json:"step"`
	Reason   string `json:"reason"`
	Attempt  int    `json:"attempt"`
	// Source and ExternalID are the run's trigger's: where the item came
	// from and its id there, so that a reviewer can tell whose it is.
	Source         string          `json:"source"`
	ExternalID     string          `json:"external_id"`
	IdempotencyKey string          `json:"idempotency_key"`
	OpenedAt       time.Time       `json:"opened_at"`
	Deadline       time.Time       `json:"deadline,omitzero"`
	Overdue        bool            `json:"overdue"`
	Escalated      bool            `json:"escalated"`
	Proposed       json.RawMessage `json:"proposed,omitempty"`
	// URL is the review's page, for links in notifications.
	URL string `json:"url"`
}

type apiList struct {
	Reviews []apiReview `json:"reviews"`
	// Truncated says more reviews wait than the inbox lists at once.
	Truncated bool `json:"truncated"`
}

// approveBody is POST api/reviews/{id}/approve's body. Every field is
// optional: an empty body approves the proposal.
type approveBody struct {
	// Output is the edited output; absent or null approves the proposal.
	Output json.RawMessage `json:"output"`
	// Attempt and Step, when set, make the decision apply only to the
	// review the client looked at (409 otherwise).
	Attempt int    `json:"attempt"`
	Step    string `json:"step"`
}

type rejectBody struct {
	Reason  string `json:"reason"`
	Attempt int    `json:"attempt"`
	Step    string `json:"step"`
}

type decided struct {
	Run *store.Run `json:"run"`
}

func (h *handler) apiList(w http.ResponseWriter, r *http.Request) {
	runs, truncated, err := h.pending(r.Context(), queryOf(r))
	if err != nil {
		h.apiFail(w, r, err)
		return
	}
	now := h.cfg.Now()
	out := apiList{Reviews: make([]apiReview, 0, len(runs)), Truncated: truncated}
	for _, run := range runs {
		rv := run.Review
		out.Reviews = append(out.Reviews, apiReview{
			RunID: run.ID, Pipeline: run.Pipeline, Step: rv.Step, Reason: rv.Reason, Attempt: run.Attempt,
			Source: run.Trigger.Source, ExternalID: run.Trigger.ExternalID, IdempotencyKey: run.IdempotencyKey,
			OpenedAt: rv.CreatedAt, Deadline: rv.Deadline, Overdue: overdue(rv, now), Escalated: rv.Escalated,
			Proposed: rv.Proposed, URL: h.pageURL(run.ID),
		})
	}
	writeJSON(w, http.StatusOK, out)
}

func (h *handler) apiGet(w http.ResponseWriter, r *http.Request) {
	d, err := h.load(r.Context(), r.PathValue("id"))
	if err != nil {
		h.apiFail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, d)
}

func (h *handler) apiApprove(w http.ResponseWriter, r *http.Request) {
	var body approveBody
	if !h.decodeBody(w, r, &body) {
		return
	}
	d, err := h.load(r.Context(), r.PathValue("id"))
	if err != nil {
		h.apiFail(w, r, err)
		return
	}
	var edited json.RawMessage
	if len(body.Output) > 0 && !bytes.Equal(body.Output, []byte("null")) {
		edited = body.Output
	}
	run, err := h.approve(r.Context(), d, reviewerOf(r), seen{body.Attempt, body.Step}, edited)
	if err != nil {
		h.apiFail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, decided{Run: run})
}

func (h *handler) apiReject(w http.ResponseWriter, r *http.Request) {
	var body rejectBody
	if !h.decodeBody(w, r, &body) {
		return
	}
	body.Reason = strings.TrimSpace(body.Reason)
	if body.Reason == "" {
		writeJSON(w, http.StatusBadRequest, apiError{Error: `a rejection needs a reason: send {"reason": "..."}`})
		return
	}
	d, err := h.load(r.Context(), r.PathValue("id"))
	if err != nil {
		h.apiFail(w, r, err)
		return
	}
	run, err := h.reject(r.Context(), d, reviewerOf(r), seen{body.Attempt, body.Step}, body.Reason)
	if err != nil {
		h.apiFail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, decided{Run: run})
}

// decodeBody reads a JSON body strictly: a typo in a field name is an
// error, not a silent approval of the proposal. The content type must be
// JSON, which a cross-site HTML form cannot send: a second guard against
// forgery behind the cross-origin check.
func (h *handler) decodeBody(w http.ResponseWriter, r *http.Request, v any) bool {
	mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if mt != "application/json" {
		writeJSON(w, http.StatusUnsupportedMediaType, apiError{Error: "send the body as Content-Type: application/json"})
		return false
	}
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxBody))
	dec.DisallowUnknownFields()
	err := dec.Decode(v)
	if errors.Is(err, io.EOF) {
		return true // an empty body: every field is optional
	}
	if err == nil {
		if _, terr := dec.Token(); !errors.Is(terr, io.EOF) {
			err = errors.New("text after the JSON value")
		}
	}
	if err != nil {
		status := http.StatusBadRequest
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			status = http.StatusRequestEntityTooLarge
		}
		writeJSON(w, status, apiError{Error: "malformed body: " + err.Error()})
		return false
	}
	return true
}

// apiFail answers a failed operation with its status and, for a refused
// edit, its violations.
func (h *handler) apiFail(w http.ResponseWriter, r *http.Request, err error) {
	status, msg := statusOf(err)
	if status >= 500 {
		h.fail(w, r, status, msg, err)
		return
	}
	writeJSON(w, status, apiError{Error: msg, Violations: violationsOf(err)})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}

// showLimit bounds the listing: the oldest reviews are the most urgent,
// and the store lists them first (store.RunFilter.ReviewOrder).
const showLimit = 1000

// query is what a listing asks for: one pipeline, and one customer's
// item (an id matched against the trigger's external id and the
// idempotency key). Zero fields select everything.
type query struct {
	pipeline, id string
}

// queryOf reads the listing's query parameters: pipeline, and q for the
// customer's id.
func queryOf(r *http.Request) query {
	v := r.URL.Query()
	return query{pipeline: v.Get("pipeline"), id: strings.TrimSpace(v.Get("q"))}
}

// pending returns the runs awaiting review, oldest review first, of one
// pipeline (only) or of every visible one, and with q.id of the runs
// whose trigger's external id or idempotency key is that id.
func (h *handler) pending(ctx context.Context, q query) (runs []store.Run, truncated bool, err error) {
	names := []string{""}
	switch {
	case q.pipeline != "" && !h.visible(q.pipeline):
		return nil, false, nil
	case q.pipeline != "":
		names = []string{q.pipeline}
	case h.allow != nil:
		names = names[:0]
		for p := range h.allow {
			names = append(names, p)
		}
	}
	filters := []store.RunFilter{{}}
	if q.id != "" {
		filters = []store.RunFilter{{ExternalID: q.id}, {IdempotencyKey: q.id}}
	}
	seen := map[string]bool{}
	for _, name := range names {
		for _, f := range filters {
			// The oldest pending reviews first, from the store's index of
			// them (store.RunFilter.ReviewOrder): one page, however many
			// reviews wait.
			f.Pipeline, f.Status, f.Limit, f.ReviewOrder = name, []store.Status{store.AwaitingReview}, showLimit+1, true
			listed, err := h.cfg.Store.ListRuns(ctx, f)
			if err != nil {
				return nil, false, err
			}
			if len(listed.Runs) > showLimit {
				truncated = true
			}
			for _, run := range listed.Runs {
				if run.Review != nil && h.visible(run.Pipeline) && !seen[run.ID] {
					seen[run.ID] = true
					runs = append(runs, run)
				}
			}
		}
	}
	sortPending(runs)
	if len(runs) > showLimit {
		runs, truncated = runs[:showLimit], true
	}
	return runs, truncated, nil
}

func overdue(rv *store.Review, now time.Time) bool {
	return !rv.Deadline.IsZero() && now.After(rv.Deadline)
}
