package console_test

import (
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"

	"github.com/plumb-dev/plumb/console"
	"github.com/plumb-dev/plumb/store/sqlitestore"
)

// The console mounted under /ops/ of a service, behind an authenticating
// proxy that names the person and their group in headers.
func ExampleNew() {
	dir, _ := os.MkdirTemp("", "console-example")
	defer os.RemoveAll(dir)
	st, err := sqlitestore.Open(filepath.Join(dir, "plumb.db"), sqlitestore.Config{})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer st.Close()

	h, err := console.New(console.Config{
		Store:    st,
		BasePath: "/ops/",
		Authorize: func(r *http.Request) (string, console.Role, bool) {
			who := r.Header.Get("X-Forwarded-User")
			if r.Header.Get("X-Forwarded-Groups") == "ops" {
				return who, console.Operator, who != ""
			}
			return who, console.Viewer, who != ""
		},
		TraceURL: "https://traces.example.com/trace/{trace}",
		Logger:   slog.New(slog.DiscardHandler),
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	mux := http.NewServeMux()
	mux.Handle("/ops/", h)

	req := httptest.NewRequest("GET", "/ops/", nil)
	req.Header.Set("X-Forwarded-User", "ana@example.com")
	rec := httptest.NewRecorder()
	mux.ServeHTTP(rec, req)
	fmt.Println(rec.Code, rec.Header().Get("Content-Type"))

	anonymous := httptest.NewRecorder()
	mux.ServeHTTP(anonymous, httptest.NewRequest("GET", "/ops/", nil))
	fmt.Println(anonymous.Code)

	_, err = console.New(console.Config{Store: st})
	fmt.Println(err)
	// Output:
	// 200 text/html; charset=utf-8
	// 401
	// console: Config.Authorize: required: without it anyone who reaches the console could replay or cancel runs; return the signed-in person's name and role from your own authentication
}
