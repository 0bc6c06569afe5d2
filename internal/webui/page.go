package webui

import (
	"bytes"
	"errors"
	"html/template"
	"net/http"
)

// Render executes t's "layout" with v into a buffer first, so that a
// template error is a clean 500 instead of half a page; it returns that
// error for the caller's log.
func Render(w http.ResponseWriter, t *template.Template, status int, v any) error {
	b, err := Page(t, v)
	if err != nil {
		http.Error(w, "internal error: the server log has the details", http.StatusInternalServerError)
		return err
	}
	Write(w, status, b)
	return nil
}

// Page executes t's "layout" with v.
func Page(t *template.Template, v any) ([]byte, error) {
	var buf bytes.Buffer
	if err := t.ExecuteTemplate(&buf, "layout", v); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// Write answers with a rendered page.
func Write(w http.ResponseWriter, status int, page []byte) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write(page)
}

// ParseForm reads a form POST of at most max bytes. When it cannot, it
// returns the status to answer with (413 for a body too large, else 400)
// and why.
func ParseForm(w http.ResponseWriter, r *http.Request, max int64) (status int, err error) {
	r.Body = http.MaxBytesReader(w, r.Body, max)
	if err := r.ParseForm(); err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return http.StatusRequestEntityTooLarge, err
		}
		return http.StatusBadRequest, err
	}
	return 0, nil
}

// BadToken is what a form whose anti-forgery token failed (Tokens.Valid)
// is answered with.
const BadToken = "This form is missing its anti-forgery token, or the token expired or belongs to someone else. Go back, reload the page, and try again."
