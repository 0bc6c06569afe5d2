package notify

import (
	"errors"
	"net/http"
	"net/url"
	"strconv"
)

// ErrRedirect is matched by every *RedirectError.
var ErrRedirect = errors.New("webhook receiver redirected")

// RedirectError says the receiver answered with a redirect. A Webhook never
// follows one: a client following a 301 or 302 turns the POST into a GET
// without the body, and a 200 to that GET would count an event as delivered
// that nobody received. A redirect is a failed delivery, not retried.
type RedirectError struct {
	// Code is the 3xx status.
	Code int
	// Location is the scheme and host the receiver pointed to, followed by
	// "/…" when it named a path: the path is left out because chat webhook
	// URLs carry their token there.
	Location string
}

func (e *RedirectError) Error() string {
	s := "the receiver answered " + strconv.Itoa(e.Code) + " " + http.StatusText(e.Code)
	if e.Location != "" {
		s += " with Location " + e.Location
	}
	return s + "; webhook deliveries never follow redirects: point the notifier at the final URL"
}

// Is reports whether target is ErrRedirect.
func (e *RedirectError) Is(target error) bool { return target == ErrRedirect }

// noRedirects returns a copy of c (or of a default client) that hands a
// redirect back instead of following it. The caller's client is not changed.
func noRedirects(c *http.Client) *http.Client {
	var nc http.Client
	if c != nil {
		nc = *c
	}
	nc.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return &nc
}

// redirectError describes resp, a 3xx, without the path of its Location.
func redirectError(resp *http.Response) *RedirectError {
	e := &RedirectError{Code: resp.StatusCode}
	if loc, err := resp.Location(); err == nil && loc.Host != "" {
		e.Location = (&url.URL{Scheme: loc.Scheme, Host: loc.Host}).String()
		if loc.Path != "" && loc.Path != "/" || loc.RawQuery != "" || loc.Fragment != "" {
			e.Location += "/…"
		}
	}
	return e
}
