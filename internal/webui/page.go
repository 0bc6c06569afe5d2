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
	var buf bytes.Buffer
	if err := t.ExecuteTemplate(&buf, "layout", v); err != nil {
		http.Error(w, "internal error: the server log has the details", http.StatusInternalServerError)
		return err
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
	return nil
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
