package console

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
	"github.com/plumb-dev/plumb/review/reviewhttp"
	"github.com/plumb-dev/plumb/store"
)

// Store is what the console needs of a store: the Ops half, and the pause
// switch an operator throws. Every store in this module implements it.
type Store interface {
	store.Ops
	SetPause(ctx context.Context, p store.Pause) error
	ClearPause(ctx context.Context, r store.Resume) (bool, error)
	GetPause(ctx context.Context, pipeline string) (*store.Pause, error)
}

// Role is what a signed-in person may do in the console.
type Role int

// The roles. The zero Role is none: a request Authorize gives it is
// refused, so that forgetting to set one never grants anything.
const (
	// Viewer sees every page but takes no action: no action is offered,
	// and a POST is refused with 403.
	Viewer Role = iota + 1
	// Operator also replays, patches, cancels, pauses, resumes and
	// decides reviews.
	Operator
)

func (r Role) String() string {
	switch r {
	case Viewer:
		return "viewer"
	case Operator:
		return "operator"
	}
	return "none"
}

// Config configures the console. Store and Authorize are required; the
// other fields' zero values mean their defaults.
type Config struct {
	// Store is the application's store. The console reads it and writes
	// intents (replays, cancellations, pauses, decisions); a worker of the
	// application's own binary carries them out. Required.
	Store Store
	// Authorize says who sends a request and with which role; ok=false
	// refuses it. Every request goes through it, the inbox's included.
	// The name is recorded with every action taken. Wire it to the
	// service's own authentication. Required: New refuses to build a
	// console anyone could act from.
	Authorize func(r *http.Request) (who string, role Role, ok bool)
	// Unauthorized answers the requests Authorize refused. Defaults to a
	// bare 401 page.
	Unauthorized http.Handler
	// BasePath is the path the handler is mounted at; mount it there
	// without stripping the prefix. The review inbox is under
	// BasePath+"review/". Defaults to "/".
	BasePath string
	// Title names the console in page titles. Defaults to "Plumb console".
	Title string
	// TraceURL links a run to its trace: "{trace}" is replaced with the
	// trace id ("https://jaeger.example/trace/{trace}"). Defaults to no
	// link (the id is shown).
	TraceURL string
	// Poll is how often open pages refresh their live parts. Defaults to
	// 5 s; negative turns live updates off.
	Poll time.Duration
	// Logger receives every action (who did what) and internal errors.
	// Defaults to slog.Default().
	Logger *slog.Logger
	// Now is the clock. Defaults to time.Now.
	Now func() time.Time
	// CSRFKey signs the forms' anti-forgery tokens (32 random bytes or
	// more, secret). Defaults to a random key made by New.
	CSRFKey []byte
	// SecureCookies marks the inbox's cookie Secure (see reviewhttp).
	SecureCookies bool
	// TrustedOrigins are other origins allowed to post to the console (see
	// http.CrossOriginProtection.AddTrustedOrigin). Defaults to none.
	TrustedOrigins []string
}

// DefaultTitle is the console's title when Config.Title is empty.
const DefaultTitle = "Plumb console"

const maxBody = 4 << 20

// ErrConfig is matched by every error New returns.
var ErrConfig = errors.New("console: bad configuration")

// ConfigError says which field of a Config is unusable and why.
type ConfigError struct {
	Field string
	Msg   string
}

func (e *ConfigError) Error() string { return "console: Config." + e.Field + ": " + e.Msg }

// Is makes a *ConfigError match ErrConfig.
func (e *ConfigError) Is(target error) bool { return target == ErrConfig }

type handler struct {
	cfg    Config
	base   string
	tokens tokens
	log    *slog.Logger
	root   http.Handler
	inbox  http.Handler
	jobs   *jobs
}

// New returns the console as an http.Handler over cfg.Store. It fails when
// the configuration is unusable (no Store, no Authorize, a bad BasePath or
// trusted origin).
func New(cfg Config) (http.Handler, error) {
	if cfg.Store == nil {
		return nil, &ConfigError{"Store", "required: pass the store your pipelines run on"}
	}
	if cfg.Authorize == nil {
		return nil, &ConfigError{"Authorize", "required: without it anyone who reaches the console could replay or cancel runs; return the signed-in person's name and role from your own authentication"}
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
	if cfg.Poll == 0 {
		cfg.Poll = 5 * time.Second
	}
	if cfg.TraceURL != "" && !strings.Contains(cfg.TraceURL, "{trace}") {
		return nil, &ConfigError{"TraceURL", fmt.Sprintf("%q has no {trace} for the trace id", cfg.TraceURL)}
	}
	key := cfg.CSRFKey
	if len(key) == 0 {
		key = make([]byte, 32)
		if _, err := rand.Read(key); err != nil {
			return nil, fmt.Errorf("console: make a CSRF key: %w", err)
		}
	}
	h := &handler{cfg: cfg, base: base, log: cfg.Logger, tokens: tokens{key: key, now: cfg.Now},
		jobs: newJobs(cfg.Now)}
	cop, bad, err := webui.CrossOrigin(cfg.TrustedOrigins)
	if err != nil {
		return nil, &ConfigError{"TrustedOrigins", fmt.Sprintf("%q: %v", bad, err)}
	}
	inbox, err := reviewhttp.New(reviewhttp.Config{
		Store: cfg.Store, BasePath: base + "review/", Title: cfg.Title + " · review",
		// The console asked Authorize already; the inbox reads its answer.
		Authorize: func(r *http.Request) (string, bool) { u := userOf(r); return u.who, u.who != "" },
		// Viewers read the inbox without decision forms; their
		// decisions are refused with 403.
		CanDecide:    func(r *http.Request) bool { return userOf(r).role == Operator },
		Unauthorized: cfg.Unauthorized, Logger: cfg.Logger, Now: cfg.Now, CSRFKey: key,
		SecureCookies: cfg.SecureCookies, TrustedOrigins: cfg.TrustedOrigins,
	})
	if err != nil {
		return nil, fmt.Errorf("console: the review inbox: %w", err)
	}
	h.inbox = inbox
	mux, err := h.routes()
	if err != nil {
		return nil, err
	}
	cop.SetDenyHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.errorPage(w, r, http.StatusForbidden, "Cross-origin request refused: actions must come from the console's own pages.")
	}))
	h.root = h.secure(cop.Handler(h.authenticate(mux)))
	return h, nil
}

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) { h.root.ServeHTTP(w, r) }

func normalizeBase(p string) (string, error) {
	p, ok := webui.CleanBase(p)
	if !ok {
		return "", &ConfigError{"BasePath", fmt.Sprintf("%q is not a clean URL path", p)}
	}
	return p, nil
}

func (h *handler) routes() (mux *http.ServeMux, err error) {
	defer func() {
		if v := recover(); v != nil {
			mux, err = nil, &ConfigError{"BasePath", fmt.Sprintf("%q: %v", h.base, v)}
		}
	}()
	b := h.base
	mux = http.NewServeMux()
	mux.HandleFunc("GET "+b+"{$}", h.overviewPage)
	mux.HandleFunc("GET "+b+"runs", h.searchPage)
	mux.HandleFunc("GET "+b+"runs/{id}", h.runPage)
	mux.HandleFunc("POST "+b+"runs/{id}/replay", h.operator(h.replayRun))
	mux.HandleFunc("POST "+b+"runs/{id}/cancel", h.operator(h.cancelRun))
	mux.HandleFunc("GET "+b+"deadletters", h.deadLettersPage)
	mux.HandleFunc("GET "+b+"replay", h.replayPreview)
	mux.HandleFunc("POST "+b+"replay", h.operator(h.replayBatch))
	mux.HandleFunc("GET "+b+"cancel", h.cancelPreview)
	mux.HandleFunc("POST "+b+"cancel", h.operator(h.cancelBatch))
	mux.HandleFunc("POST "+b+"pipelines/{name}/pause", h.operator(h.pause))
	mux.HandleFunc("POST "+b+"pipelines/{name}/resume", h.operator(h.resume))
	mux.HandleFunc("GET "+b+"jobs/{id}", h.jobPage)
	mux.HandleFunc("GET "+b+"assets/{file}", h.asset)
	mux.Handle(b+"review/", h.inbox)
	mux.HandleFunc(b, func(w http.ResponseWriter, r *http.Request) {
		h.errorPage(w, r, http.StatusNotFound, "Nothing is at "+r.URL.Path+".")
	})
	return mux, nil
}

type ctxKey int

const userKey ctxKey = 0

type user struct {
	who  string
	role Role
}

func userOf(r *http.Request) user {
	u, _ := r.Context().Value(userKey).(user)
	return u
}

func nonceOf(r *http.Request) string { return webui.Nonce(r) }

// secure sets the headers every response carries (webui.Secure); the
// console's CSP also lets the live script fetch the page (connect-src).
func (h *handler) secure(next http.Handler) http.Handler {
	return webui.Secure(next, "img-src 'self'; connect-src 'self'")
}

// authenticate asks Authorize about every request. A yes without a name
// or a role is a no: every action must say who took it.
func (h *handler) authenticate(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		who, role, ok := h.cfg.Authorize(r)
		if ok && (who == "" || role != Viewer && role != Operator) {
			h.log.Error("plumb: console: Authorize said ok but named no one or no role; refusing the request", slog.String("path", r.URL.Path))
			ok = false
		}
		if !ok {
			if h.cfg.Unauthorized != nil {
				h.cfg.Unauthorized.ServeHTTP(w, r)
				return
			}
			h.errorPage(w, r, http.StatusUnauthorized, "Authentication required.")
			return
		}
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), userKey, user{who: who, role: role})))
	})
}

// operator refuses a viewer's action, then checks the form's token.
func (h *handler) operator(next http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		u := userOf(r)
		if u.role != Operator {
			h.errorPage(w, r, http.StatusForbidden, "You are signed in as a viewer: only operators can act.")
			return
		}
		if status, err := webui.ParseForm(w, r, maxBody); err != nil {
			h.errorPage(w, r, status, "The form could not be read: "+err.Error())
			return
		}
		if !h.tokens.valid(u.who, r.PostFormValue("csrf")) {
			h.errorPage(w, r, http.StatusForbidden, webui.BadToken)
			return
		}
		next(w, r)
	}
}
