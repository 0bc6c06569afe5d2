package main

import (
	"context"
	"crypto/subtle"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/plumb-dev/plumb/console"
)

// basePath is where the review inbox is: inside the console, which is
// served at the root.
const basePath = "/review/"

// inboxServer is the review inbox's address, and its listener when it is
// served.
type inboxServer struct {
	ln  net.Listener // nil when not serving
	url string
}

// listen opens the inbox's listener when -serve is set. Without it, the
// URL is where the inbox would be on the default port, for the summary to
// point at.
func listen(o options) (*inboxServer, error) {
	if o.serve == "" {
		return &inboxServer{url: "http://localhost:8080" + basePath}, nil
	}
	ln, err := net.Listen("tcp", o.serve)
	if err != nil {
		return nil, err
	}
	host := ln.Addr().String()
	if strings.HasPrefix(o.serve, ":") {
		// Listening on every interface: localhost is the address to open.
		_, port, _ := net.SplitHostPort(host)
		host = "localhost:" + port
	}
	return &inboxServer{ln: ln, url: "http://" + host + basePath}, nil
}

// start serves the console, with the review inbox inside it, until the
// returned function is called.
func (s *inboxServer) start(st console.Store, o options, logger *slog.Logger) (stop func()) {
	if s.ln == nil {
		return func() {}
	}
	ops, err := console.New(console.Config{
		Store:        st,
		BasePath:     "/",
		Title:        "Support triage",
		Authorize:    operatorAuth(basicAuth(o.user, o.password)),
		Unauthorized: challenge,
		Logger:       logger,
	})
	if err != nil {
		// The configuration above is fixed: only a programming error
		// gets here.
		logger.Error("console", slog.String("error", err.Error()))
		return func() {}
	}
	mux := http.NewServeMux()
	mux.Handle("/", ops)
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		if err := srv.Serve(s.ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			logger.Error("review inbox stopped", slog.String("error", err.Error()))
		}
	}()
	return func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
	}
}

// basicAuth is the example's sign-in: one user and password, compared in
// constant time; the user name is recorded as the reviewer of each
// decision. An example only: use your own authentication (a session, an
// authenticating proxy's header) in production, and serve over TLS.
func basicAuth(user, password string) func(*http.Request) (string, bool) {
	return func(r *http.Request) (string, bool) {
		u, p, ok := r.BasicAuth()
		userOK := subtle.ConstantTimeCompare([]byte(u), []byte(user)) == 1
		passOK := subtle.ConstantTimeCompare([]byte(p), []byte(password)) == 1
		if !ok || !userOK || !passOK || password == "" {
			return "", false
		}
		return u, true
	}
}

// operatorAuth makes the one signed-in user an operator of the console:
// they may decide reviews, replay, cancel and pause. A real service gives
// most people console.Viewer.
func operatorAuth(auth func(*http.Request) (string, bool)) func(*http.Request) (string, console.Role, bool) {
	return func(r *http.Request) (string, console.Role, bool) {
		who, ok := auth(r)
		return who, console.Operator, ok
	}
}

// challenge makes the browser ask for the user and password.
var challenge = http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("WWW-Authenticate", `Basic realm="Plumb review", charset="UTF-8"`)
	http.Error(w, "sign in to review", http.StatusUnauthorized)
})
