package console

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/base64"
	"errors"
	"html/template"
	"io/fs"
	"log/slog"
	"mime"
	"net/http"
	"net/url"
	"path"
	"strings"

	"github.com/plumb-dev/plumb/contract"
	"github.com/plumb-dev/plumb/internal/webui"
	"github.com/plumb-dev/plumb/store"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed assets
var assetFS embed.FS

var funcs = template.FuncMap{
	"iso":    isolate,
	"pretty": func(b []byte) string { return pretty(b) },
	"when":   fmtTime,
	"dur":    fmtDur,
	"esc":    url.PathEscape,
	"query":  url.QueryEscape,
	"plural": plural,
	"tree":   func(base string, c []branchNode, more int) treeArg { return treeArg{base, c, more} },
}

// Each page is the layout plus its own file, so every page defines
// "content".
var (
	overviewTmpl    = page("overview.html", "pauselog.html")
	searchTmpl      = page("runs.html")
	runTmpl         = page("run.html")
	deadLettersTmpl = page("deadletters.html")
	previewTmpl     = page("preview.html")
	jobTmpl         = page("job.html")
	errorTmpl       = page("error.html")
)

func page(name string, more ...string) *template.Template {
	files := []string{"templates/layout.html", "templates/" + name}
	for _, m := range more {
		files = append(files, "templates/"+m)
	}
	return template.Must(template.New(name).Funcs(funcs).ParseFS(templateFS, files...))
}

// chrome is what every page's layout needs.
type chrome struct {
	Title, Heading, Base, Nonce string
	Who, Role                   string
	Operator                    bool
	CSRF                        string
	// Nav names the section the page belongs to.
	Nav string
	// PollMS is the live refresh interval; 0 turns it off.
	PollMS int64
}

func (h *handler) chromeFor(r *http.Request, heading, nav string) chrome {
	u := userOf(r)
	c := chrome{Title: h.cfg.Title, Heading: heading, Base: h.base, Nonce: nonceOf(r), Who: u.who, Role: u.role.String(),
		Operator: u.role == Operator, Nav: nav}
	if c.Operator {
		c.CSRF = h.tokens.mint(u.who)
	}
	if h.cfg.Poll > 0 {
		c.PollMS = h.cfg.Poll.Milliseconds()
	}
	return c
}

// render executes a page into a buffer first, so a template error is a
// clean 500, not half a page.
func (h *handler) render(w http.ResponseWriter, r *http.Request, t *template.Template, status int, v any) {
	b, err := webui.Page(t, v)
	if err != nil {
		h.log.Error("plumb: console: render a page", slog.String("path", r.URL.Path), slog.Any("error", err))
		http.Error(w, "internal error: the server log has the details", http.StatusInternalServerError)
		return
	}
	if r.Header.Get(liveHeader) != "" && status == http.StatusOK {
		// The live script's poll: a page that says what the last one
		// said is answered 304, with no body to send, parse or compare.
		tag := liveTag(b, v)
		w.Header().Set("ETag", tag)
		if r.Header.Get("If-None-Match") == tag {
			w.WriteHeader(http.StatusNotModified)
			return
		}
	}
	webui.Write(w, status, b)
}

// secrets are the parts of a page that differ on every render though it
// says the same: the CSP nonce and the form token.
func (c chrome) secrets() []string { return []string{c.Nonce, c.CSRF} }

// liveTag is a page's ETag for the live poll: a hash of the page without
// its secrets.
func liveTag(page []byte, v any) string {
	hash := sha256.New()
	rest := page
	if s, ok := v.(interface{ secrets() []string }); ok {
		for _, sec := range s.secrets() {
			if sec != "" {
				rest = bytes.ReplaceAll(rest, []byte(sec), nil)
			}
		}
	}
	hash.Write(rest)
	return `"` + base64.RawURLEncoding.EncodeToString(hash.Sum(nil)[:18]) + `"`
}

type errorView struct {
	chrome
	Status  int
	Text    string
	Message string
}

func (h *handler) errorPage(w http.ResponseWriter, r *http.Request, status int, msg string) {
	v := errorView{chrome: h.chromeFor(r, http.StatusText(status), ""), Status: status, Text: http.StatusText(status), Message: msg}
	v.PollMS = 0
	h.render(w, r, errorTmpl, status, v)
}

// fail answers a store error with the page its kind calls for.
func (h *handler) fail(w http.ResponseWriter, r *http.Request, err error) {
	status, msg := statusOf(err)
	if status >= 500 {
		h.log.Error("plumb: console: "+msg, slog.String("path", r.URL.Path), slog.Any("error", err))
	}
	h.errorPage(w, r, status, msg)
}

func statusOf(err error) (int, string) {
	var ve *contract.ValidationError
	switch {
	case errors.As(err, &ve):
		return http.StatusUnprocessableEntity, err.Error()
	case errors.Is(err, store.ErrNotFound):
		return http.StatusNotFound, "Not found: " + err.Error()
	case errors.Is(err, store.ErrConflict), errors.Is(err, store.ErrFinal), errors.Is(err, store.ErrNeedsInput):
		return http.StatusConflict, err.Error()
	}
	return http.StatusInternalServerError, "The store could not answer; the server log has the details."
}

// asset serves the embedded stylesheet and script.
func (h *handler) asset(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("file")
	b, err := fs.ReadFile(assetFS, "assets/"+path.Base(name))
	if err != nil || strings.Contains(name, "/") {
		h.errorPage(w, r, http.StatusNotFound, "Nothing is at "+r.URL.Path+".")
		return
	}
	w.Header().Set("Content-Type", mime.TypeByExtension(path.Ext(name)))
	w.Header().Set("Cache-Control", "public, max-age=3600")
	_, _ = w.Write(b)
}

// treeArg is one level of a branch tree, for the recursive template.
type treeArg struct {
	Base     string
	Children []branchNode
	More     int
}
