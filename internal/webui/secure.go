package webui

import (
	"context"
	"net/http"
	"strings"
)

type nonceKey struct{}

// Secure sets the headers every response carries and gives the request a
// fresh CSP nonce (Nonce). Pages hold payloads that may be sensitive and
// come from models or users: nothing is cached, framed, sniffed or leaked
// in a Referer, and the Content-Security-Policy lets only the page's own
// style and script (by nonce) run. extra adds directives to the policy
// ("img-src 'self'; connect-src 'self'").
func Secure(next http.Handler, extra string) http.Handler {
	if extra != "" && !strings.HasSuffix(extra, "; ") {
		extra = strings.TrimSuffix(extra, ";") + "; "
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		nonce := NewNonce()
		hd := w.Header()
		hd.Set("Content-Security-Policy", "default-src 'none'; script-src 'nonce-"+nonce+"'; style-src 'nonce-"+nonce+
			"'; "+extra+"form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
		hd.Set("X-Content-Type-Options", "nosniff")
		// same-origin, not no-referrer: with no-referrer a browser sends
		// "Origin: null" on a form POST, which an origin check cannot match.
		hd.Set("Referrer-Policy", "same-origin")
		hd.Set("X-Frame-Options", "DENY")
		hd.Set("Cross-Origin-Opener-Policy", "same-origin")
		hd.Set("Cross-Origin-Resource-Policy", "same-origin")
		hd.Set("Cache-Control", "no-store")
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), nonceKey{}, nonce)))
	})
}

// Nonce returns the CSP nonce Secure gave the request.
func Nonce(r *http.Request) string {
	s, _ := r.Context().Value(nonceKey{}).(string)
	return s
}

// CrossOrigin returns the cross-origin check with the trusted origins
// added; bad is the first origin it refused, with err.
func CrossOrigin(trusted []string) (cop *http.CrossOriginProtection, bad string, err error) {
	cop = http.NewCrossOriginProtection()
	for _, o := range trusted {
		if err := cop.AddTrustedOrigin(o); err != nil {
			return nil, o, err
		}
	}
	return cop, "", nil
}

// CleanBase gives a mount path its slashes ("" is "/"), and reports false
// for one that is not a clean URL path. Characters that mean something in
// a ServeMux pattern are refused rather than escaped: no sensible mount
// point needs them.
func CleanBase(p string) (string, bool) {
	if p == "" {
		return "/", true
	}
	if !strings.HasPrefix(p, "/") {
		p = "/" + p
	}
	if !strings.HasSuffix(p, "/") {
		p += "/"
	}
	if strings.ContainsAny(p, "{}%?# \t\r\n") || strings.Contains(p, "//") || strings.Contains(p, "/../") || strings.Contains(p, "/./") {
		return p, false
	}
	return p, true
}
