package reviewhttp

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/plumb-dev/plumb/internal/webui"
	"github.com/plumb-dev/plumb/store"
)

// Config configures the review inbox. Store and Authorize are required; the
// other fields' zero values mean their defaults.
type Config struct {
	// Store is the application's store, where runs wait for review. The
	// inbox only reads it and writes decisions; a worker of the
	// application's own binary resumes an approved run. Required.
	Store store.Ops
	// Authorize says who sends a request: the reviewer's name (an email,
	// say), recorded with every decision, and ok=false to refuse the
	// request. Every request goes through it, pages and API alike. Wire it
	// to the service's own authentication: a session cookie, a header set
	// by an authenticating proxy, Basic auth. Required: New refuses to
	// build an inbox anyone could approve from.
	Authorize func(r *http.Request) (reviewer string, ok bool)
	// CanDecide says whether the person a request comes from (Authorize
	// let it in) may approve or reject. Those it says no to read the
	// inbox as it is, with no decision form, and their decisions, pages
	// and API alike, are refused with 403. Defaults to nil: everyone
	// Authorize lets in may decide.
	CanDecide func(r *http.Request) bool
	// Unauthorized answers the requests Authorize refused: a redirect to
	// the service's login page, or a 401 with a WWW-Authenticate header for
	// Basic auth. Defaults to a bare 401 (a JSON error under api/).
	Unauthorized http.Handler
	// Pipelines limits the inbox to these pipelines: runs of others are
	// neither listed nor shown (404), nor decided. Defaults to every
	// pipeline in the store.
	Pipelines []string
	// BasePath is the path the handler is mounted at, used for its routes
	// and links. Mount the handler there without stripping the prefix:
	// mux.Handle("/review/", h) with BasePath "/review/". A missing
	// trailing slash is added. Defaults to "/".
	BasePath string
	// Title names the inbox in page titles and headings. Defaults to
	// "Plumb review".
	Title string
	// Logger receives every decision (who approved or rejected which run)
	// and internal errors. Defaults to slog.Default().
	Logger *slog.Logger
	// Now is the clock ages, deadlines and form tokens are measured
	// against. Defaults to time.Now.
	Now func() time.Time
	// CSRFKey signs the forms' anti-forgery tokens; use 32 random bytes or
	// more, kept secret. Defaults to a random key made by New: then a form
	// opened before a restart, or served by another replica behind a load
	// balancer, must be reloaded before it is submitted.
	CSRFKey []byte
	// SecureCookies marks the inbox's cookie (the one-time message shown
	// after a decision) Secure, so that a browser never sends it over plain
	// HTTP. Defaults to false, in which case it is marked Secure only on
	// requests that reached this process over TLS; set it when a proxy in
	// front of the inbox ends TLS and forwards plain HTTP.
	SecureCookies bool
	// TrustedOrigins are origins ("https://admin.example.com") allowed to
	// send state-changing requests although they are not the request's
	// own origin (see http.CrossOriginProtection.AddTrustedOrigin).
	// Defaults to none: only same-origin browser requests, and non-browser
	// clients, may approve or reject.
	TrustedOrigins []string
}

// DefaultTitle is the inbox's title when Config.Title is empty.
const DefaultTitle = "Plumb review"

// maxBody bounds request bodies: an edited output is one JSON document.
const maxBody = 4 << 20

// handler is the inbox. Requests pass, in order: security headers, the
// cross-origin check, Authorize, then the routes.
type handler struct {
	cfg    Config
	base   string
	allow  map[string]bool // nil: every pipeline
	tokens tokens
	log    *slog.Logger
	root   http.Handler
	mux    *http.ServeMux
}

// New returns the review inbox as an http.Handler: HTML pages for people
// and a JSON API for programs, over cfg.Store. It fails when the
// configuration is unusable (no Store, no Authorize, a bad BasePath or
// trusted origin).
func New(cfg Config) (http.Handler, error) {
	if cfg.Store == nil {
		return nil, errors.New("reviewhttp: Config.Store is required: pass the store your pipelines run on")
	}
	if cfg.Authorize == nil {
		return nil, errors.New("reviewhttp: Config.Authorize is required: without it anyone who reaches the handler could approve or reject runs; return the signed-in reviewer's name from your own authentication")
	}
	base, err := normalizeBase(cfg.BasePath)
	if err != nil {
		return nil, err
	}
	cfg.BasePath = base
	if cfg.Title == "" {
		cfg.Title = DefaultTitle
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	key := cfg.CSRFKey
	if len(key) == 0 {
		key = make([]byte, 32)
		if _, err := rand.Read(key); err != nil {
			return nil, fmt.Errorf("reviewhttp: make a CSRF key: %w", err)
		}
	}
	h := &handler{cfg: cfg, base: base, log: cfg.Logger, tokens: tokens{key: key, now: cfg.Now}}
	if len(cfg.Pipelines) > 0 {
		h.allow = map[string]bool{}
		for _, p := range cfg.Pipelines {
			h.allow[p] = true
		}
	}
	mux, err := h.routes()
	if err != nil {
		return nil, err
	}
	cop, bad, err := webui.CrossOrigin(cfg.TrustedOrigins)
	if err != nil {
		return nil, fmt.Errorf("reviewhttp: trusted origin %q: %w", bad, err)
	}
	cop.SetDenyHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.fail(w, r, http.StatusForbidden, "cross-origin request refused: decisions must come from the inbox's own pages", nil)
	}))
	h.root = h.secure(cop.Handler(h.authenticate(mux)))
	return h, nil
}

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) { h.root.ServeHTTP(w, r) }

// normalizeBase checks a BasePath and gives it its slashes
// (webui.CleanBase).
func normalizeBase(p string) (string, error) {
	p, ok := webui.CleanBase(p)
	if !ok {
		return "", fmt.Errorf("reviewhttp: BasePath %q is not a clean URL path", p)
	}
	return p, nil
}

// routes registers the pages and the API under the base path.
func (h *handler) routes() (mux *http.ServeMux, err error) {
	defer func() {
		// ServeMux panics on a pattern it cannot parse; normalizeBase
		// should have caught it, but a library does not panic on input.
		if v := recover(); v != nil {
			mux, err = nil, fmt.Errorf("reviewhttp: BasePath %q: %v", h.base, v)
		}
	}()
	b := h.base
	mux = http.NewServeMux()
	mux.HandleFunc("GET "+b+"{$}", h.inboxPage)
	mux.HandleFunc("GET "+b+"reviews/{id}", h.reviewPage)
	mux.HandleFunc("POST "+b+"reviews/{id}/approve", h.decider(h.formApprove))
	mux.HandleFunc("POST "+b+"reviews/{id}/reject", h.decider(h.formReject))
	mux.HandleFunc("GET "+b+"api/reviews", h.apiList)
	mux.HandleFunc("GET "+b+"api/reviews/{id}", h.apiGet)
	mux.HandleFunc("POST "+b+"api/reviews/{id}/approve", h.decider(h.apiApprove))
	mux.HandleFunc("POST "+b+"api/reviews/{id}/reject", h.decider(h.apiReject))
	// A run whose id cannot be a path segment (see runURL).
	mux.HandleFunc("GET "+b+"reviews/{$}", h.reviewPage)
	mux.HandleFunc("POST "+b+"reviews/approve", h.decider(h.formApprove))
	mux.HandleFunc("POST "+b+"reviews/reject", h.decider(h.formReject))
	mux.HandleFunc(b, h.unrouted)
	h.mux = mux
	return mux, nil
}

// unrouted answers a request no route takes, in the inbox's own shapes (a
// JSON error under api/, a page elsewhere) where ServeMux would answer
// plain text: 405 with an Allow header when the path has routes for other
// methods, else 404.
func (h *handler) unrouted(w http.ResponseWriter, r *http.Request) {
	var allow []string
	for _, m := range []string{http.MethodGet, http.MethodPost} {
		probe := &http.Request{Method: m, URL: r.URL, Host: r.Host, Header: http.Header{}}
		if _, pattern := h.mux.Handler(probe); pattern != "" && pattern != h.base {
			allow = append(allow, m)
			if m == http.MethodGet {
				allow = append(allow, http.MethodHead)
			}
		}
	}
	if len(allow) == 0 {
		h.fail(w, r, http.StatusNotFound, "nothing is at "+r.URL.Path, nil)
		return
	}
	w.Header().Set("Allow", strings.Join(allow, ", "))
	h.fail(w, r, http.StatusMethodNotAllowed, r.Method+" is not allowed on "+r.URL.Path+": use "+strings.Join(allow, " or "), nil)
}

type ctxKey int

const reviewerKey ctxKey = 0

// secure sets the headers every response carries and the CSP nonce
// (webui.Secure).
func (h *handler) secure(next http.Handler) http.Handler { return webui.Secure(next, "") }

// authenticate asks Authorize about every request.
func (h *handler) authenticate(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		reviewer, ok := h.cfg.Authorize(r)
		if ok && reviewer == "" {
			// A decision must name who took it; an anonymous yes is a no.
			h.log.Error("plumb: reviewhttp: Authorize said ok but named no reviewer; refusing the request", slog.String("path", r.URL.Path))
			ok = false
		}
		if !ok {
			if h.cfg.Unauthorized != nil {
				h.cfg.Unauthorized.ServeHTTP(w, r)
				return
			}
			h.fail(w, r, http.StatusUnauthorized, "authentication required", nil)
			return
		}
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), reviewerKey, reviewer)))
	})
}

// canDecide reports whether Config.CanDecide lets r's sender decide.
func (h *handler) canDecide(r *http.Request) bool {
	return h.cfg.CanDecide == nil || h.cfg.CanDecide(r)
}

// decider refuses a decision from someone Config.CanDecide says may only
// read, before anything of the request is read.
func (h *handler) decider(next http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if !h.canDecide(r) {
			h.fail(w, r, http.StatusForbidden, "you may read the inbox but not decide reviews: ask someone who may to approve or reject", nil)
			return
		}
		next(w, r)
	}
}

func reviewerOf(r *http.Request) string {
	s, _ := r.Context().Value(reviewerKey).(string)
	return s
}

func nonceOf(r *http.Request) string { return webui.Nonce(r) }

// isAPI reports whether r is for the JSON API, whose errors are JSON.
func (h *handler) isAPI(r *http.Request) bool {
	return strings.HasPrefix(r.URL.Path, h.base+"api/")
}

// fail answers with an error: JSON for the API, a page for people.
func (h *handler) fail(w http.ResponseWriter, r *http.Request, status int, msg string, err error) {
	if status >= 500 {
		h.log.Error("plumb: reviewhttp: "+msg, slog.String("path", r.URL.Path), slog.Any("error", err))
	}
	if h.isAPI(r) {
		writeJSON(w, status, apiError{Error: msg})
		return
	}
	h.errorPage(w, r, status, msg)
}

// visible reports whether the inbox shows runs of the pipeline.
func (h *handler) visible(pipeline string) bool { return h.allow == nil || h.allow[pipeline] }
