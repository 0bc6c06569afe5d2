package main

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/plumb-dev/plumb/console"
	"github.com/plumb-dev/plumb/pipeline"
)

// serveConsole is -serve: once the batch is through, the operator's
// console (with its review inbox) is served on the address while a worker
// carries out what is done there (replays, approvals), until Ctrl-C.
func serveConsole(ctx context.Context, w io.Writer, st console.Store, rt *pipeline.Runtime, o options) error {
	ln, err := net.Listen("tcp", o.serve)
	if err != nil {
		return err
	}
	defer ln.Close()
	password := o.password
	if password == "" {
		b := make([]byte, 9)
		_, _ = rand.Read(b)
		password = hex.EncodeToString(b)
	}
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	h, err := console.New(console.Config{
		Store: st, Title: "Lead follow-up", Logger: logger, TraceURL: o.traceURL,
		Authorize: func(r *http.Request) (string, console.Role, bool) {
			u, p, ok := r.BasicAuth()
			userOK := subtle.ConstantTimeCompare([]byte(u), []byte(o.user)) == 1
			passOK := subtle.ConstantTimeCompare([]byte(p), []byte(password)) == 1
			// An example only: one operator. Use your own sign-in, give
			// most people console.Viewer, and serve over TLS.
			return u, console.Operator, ok && userOK && passOK
		},
		Unauthorized: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("WWW-Authenticate", `Basic realm="Plumb console", charset="UTF-8"`)
			http.Error(w, "sign in to the console", http.StatusUnauthorized)
		}),
	})
	if err != nil {
		return err
	}
	host := ln.Addr().String()
	if strings.HasPrefix(o.serve, ":") {
		_, port, _ := net.SplitHostPort(host)
		host = "localhost:" + port
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	workCtx, stopWork := context.WithCancel(ctx)
	worked := make(chan error, 1)
	go func() {
		worked <- rt.Work(workCtx, pipeline.WorkerConfig{Concurrency: o.concurrency, Poll: 100 * time.Millisecond})
	}()
	fmt.Fprintf(w, "\nConsole: http://%s/ (user %q, password %q); Ctrl-C to stop\n", host, o.user, password)
	<-ctx.Done()
	shut, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	err = srv.Shutdown(shut)
	stopWork()
	if werr := <-worked; werr != nil && !errors.Is(werr, context.Canceled) {
		err = errors.Join(err, werr)
	}
	if serr := <-served; serr != nil && !errors.Is(serr, http.ErrServerClosed) {
		err = errors.Join(err, serr)
	}
	return err
}
