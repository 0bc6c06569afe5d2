package reviewhttp

import (
	"embed"
	"encoding/base64"
	"html/template"
	"log/slog"
	"net/http"
	"strconv"
	"strings"

	"github.com/plumb-dev/plumb/internal/webui"
	"github.com/plumb-dev/plumb/store"
)

//go:embed templates/*.html
var templateFS embed.FS

// Each page is its own template set (the layout plus the page), so that
// every page can define "content".
var (
	inboxTmpl  = page("inbox.html")
	reviewTmpl = page("review.html")
	errorTmpl  = page("error.html")
)

func page(name string) *template.Template {
	return template.Must(template.New(name).Funcs(template.FuncMap{"iso": isolate}).
		ParseFS(templateFS, "templates/layout.html", "templates/"+name))
}

// flashCookie carries the message shown once on the inbox after a
// decision. A cookie, not a query parameter: a link cannot put words in
// the inbox's mouth.
const flashCookie = "plumb_review_flash"

func (h *handler) chromeFor(r *http.Request, heading string) chrome {
	return chrome{Title: h.cfg.Title, Heading: heading, Base: h.base, Nonce: nonceOf(r), Reviewer: reviewerOf(r)}
}

func (h *handler) inboxPage(w http.ResponseWriter, r *http.Request) {
	q := queryOf(r)
	runs, truncated, err := h.pending(r.Context(), q)
	if err != nil {
		h.pageFail(w, r, err)
		return
	}
	v := h.inboxView(runs, truncated, q, h.cfg.Now())
	v.chrome = h.chromeFor(r, "Inbox")
	v.Flash = h.takeFlash(w, r)
	h.render(w, r, inboxTmpl, http.StatusOK, v)
}

func (h *handler) reviewPage(w http.ResponseWriter, r *http.Request) {
	d, err := h.load(r.Context(), runIDOf(r))
	if err != nil {
		h.pageFail(w, r, err)
		return
	}
	h.showReview(w, r, d, http.StatusOK, form{})
}

// showReview renders a run's page, with what the reviewer sent when an
// action was refused.
func (h *handler) showReview(w http.ResponseWriter, r *http.Request, d *store.RunDetail, status int, f form) {
	v := h.pageView(d, reviewerOf(r), h.canDecide(r), h.cfg.Now(), f)
	v.chrome = h.chromeFor(r, "Run "+d.Run.ID)
	h.render(w, r, reviewTmpl, status, v)
}

func (h *handler) formApprove(w http.ResponseWriter, r *http.Request) {
	d, sn, ok := h.readForm(w, r)
	if !ok {
		return
	}
	text := r.PostFormValue("output")
	f := form{edit: text, editSet: true}
	if err := pendingCheck(d, sn); err != nil {
		h.refused(w, r, d, err, f)
		return
	}
	var edited []byte
	var err error
	if _, sent := r.PostForm["output"]; sent {
		// A form without the field (a one-click approve button) approves
		// the proposal; an emptied textarea is a mistake, refused.
		edited, err = editFromText(text, d.Run.Review.Proposed)
	}
	if err == nil {
		_, err = h.approve(r.Context(), d, reviewerOf(r), sn, edited)
	}
	if err != nil {
		h.refused(w, r, d, err, f)
		return
	}
	msg := "Approved run " + d.Run.ID + " at step " + d.Run.Review.Step
	if edited != nil {
		msg += " with your edit"
	}
	h.done(w, r, msg+". A worker resumes it at the next step.")
}

func (h *handler) formReject(w http.ResponseWriter, r *http.Request) {
	d, sn, ok := h.readForm(w, r)
	if !ok {
		return
	}
	reason := strings.TrimSpace(r.PostFormValue("reason"))
	f := form{reason: reason}
	if err := pendingCheck(d, sn); err != nil {
		h.refused(w, r, d, err, f)
		return
	}
	if reason == "" {
		f.rejectErr = "A rejection needs a reason: it is kept in the run's history for whoever replays it."
		h.showReview(w, r, d, http.StatusUnprocessableEntity, f)
		return
	}
	if _, err := h.reject(r.Context(), d, reviewerOf(r), sn, reason); err != nil {
		h.refused(w, r, d, err, f)
		return
	}
	h.done(w, r, "Rejected run "+d.Run.ID+" at step "+d.Run.Review.Step+": it is dead-lettered with your reason.")
}

// readForm checks a form POST's anti-forgery token and loads its run.
func (h *handler) readForm(w http.ResponseWriter, r *http.Request) (*store.RunDetail, seen, bool) {
	if status, err := webui.ParseForm(w, r, maxBody); err != nil {
		h.errorPage(w, r, status, "The form could not be read: "+err.Error())
		return nil, seen{}, false
	}
	if !h.tokens.valid(reviewerOf(r), r.PostFormValue("csrf")) {
		h.errorPage(w, r, http.StatusForbidden, webui.BadToken)
		return nil, seen{}, false
	}
	d, err := h.load(r.Context(), runIDOf(r))
	if err != nil {
		h.pageFail(w, r, err)
		return nil, seen{}, false
	}
	attempt, _ := strconv.Atoi(r.PostFormValue("attempt"))
	return d, seen{Attempt: attempt, Step: r.PostFormValue("step")}, true
}

// refused shows the run's page again with why the action was refused: a
// bad edit's violations next to the kept text, or a conflict above the
// (reloaded) review.
func (h *handler) refused(w http.ResponseWriter, r *http.Request, d *store.RunDetail, err error, f form) {
	status, msg := statusOf(err)
	switch {
	case status == http.StatusUnprocessableEntity:
		f.violations = violationsOf(err)
	case status == http.StatusConflict:
		f.err, f.editSet = msg+".", false
		if fresh, lerr := h.load(r.Context(), d.Run.ID); lerr == nil {
			d = fresh
		}
	default:
		h.pageFail(w, r, err)
		return
	}
	h.showReview(w, r, d, status, f)
}

// done ends a successful action: back to the inbox, with a message.
func (h *handler) done(w http.ResponseWriter, r *http.Request, msg string) {
	http.SetCookie(w, &http.Cookie{Name: flashCookie, Value: base64.RawURLEncoding.EncodeToString([]byte(msg)),
		Path: h.base, MaxAge: 60, HttpOnly: true, Secure: h.secureCookies(r), SameSite: http.SameSiteLaxMode})
	http.Redirect(w, r, h.base, http.StatusSeeOther)
}

// secureCookies reports whether cookies must be marked Secure: always
// over TLS to this process, and when configured for TLS that a proxy in
// front of it ends.
func (h *handler) secureCookies(r *http.Request) bool { return h.cfg.SecureCookies || r.TLS != nil }

// takeFlash returns the flash message, if any, and clears it.
func (h *handler) takeFlash(w http.ResponseWriter, r *http.Request) string {
	c, err := r.Cookie(flashCookie)
	if err != nil {
		return ""
	}
	http.SetCookie(w, &http.Cookie{Name: flashCookie, Path: h.base, MaxAge: -1, HttpOnly: true, Secure: h.secureCookies(r),
		SameSite: http.SameSiteLaxMode})
	b, err := base64.RawURLEncoding.DecodeString(c.Value)
	if err != nil || len(b) > 500 {
		return ""
	}
	return string(b)
}

// runIDOf returns the run a page request names: in the path, or in the
// query for the ids runURL cannot put in a path.
func runIDOf(r *http.Request) string {
	if id := r.PathValue("id"); id != "" {
		return id
	}
	return r.URL.Query().Get("id")
}

func (h *handler) pageFail(w http.ResponseWriter, r *http.Request, err error) {
	status, msg := statusOf(err)
	h.fail(w, r, status, msg, err)
}

type errorView struct {
	chrome
	Status  int
	Text    string
	Message string
}

func (h *handler) errorPage(w http.ResponseWriter, r *http.Request, status int, msg string) {
	v := errorView{chrome: h.chromeFor(r, http.StatusText(status)), Status: status, Text: http.StatusText(status), Message: msg}
	h.render(w, r, errorTmpl, status, v)
}

// render executes a page into a buffer first, so that a template error
// is a clean 500 instead of half a page.
func (h *handler) render(w http.ResponseWriter, r *http.Request, t *template.Template, status int, v any) {
	if err := webui.Render(w, t, status, v); err != nil {
		h.log.Error("plumb: reviewhttp: render a page", slog.String("path", r.URL.Path), slog.Any("error", err))
	}
}
