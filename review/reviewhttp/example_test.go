package reviewhttp_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"

	"github.com/plumb-dev/plumb/pipeline"
	"github.com/plumb-dev/plumb/review/reviewhttp"
	"github.com/plumb-dev/plumb/step"
	"github.com/plumb-dev/plumb/store/memstore"
)

type Ticket struct {
	From string `json:"from"`
}

type Reply struct {
	To   string `json:"to"`
	Text string `json:"text" jsonschema:"minLength=1"`
}

// Mount the inbox in your service behind your own authentication, then
// decide through its JSON API (or its pages, at /review/).
func ExampleNew() {
	ctx := context.Background()
	st := memstore.New(memstore.Config{}) // sqlitestore or pgstore in production

	// A pipeline whose replies a person approves before they are used.
	draft := step.New("draft", func(_ context.Context, t Ticket) (Reply, error) {
		return Reply{To: t.From, Text: "Thanks for writing!"}, nil
	}, step.Config{Review: step.ReviewRule{Always: true}})
	p := pipeline.New(pipeline.NewRuntime(pipeline.RuntimeConfig{Store: st}), "replies", draft, pipeline.Policy{})
	_, err := p.Run(ctx, Ticket{From: "ada@example.com"}, pipeline.RunOptions{RunID: "run-1"})
	fmt.Println(err)

	inbox, err := reviewhttp.New(reviewhttp.Config{
		Store:    st,
		BasePath: "/review/",
		// Your authentication; here, Basic auth with one fixed account.
		Authorize: func(r *http.Request) (string, bool) {
			user, pass, ok := r.BasicAuth()
			return user, ok && user == "ana@example.com" && pass == "s3cret"
		},
		Logger: slog.New(slog.DiscardHandler),
	})
	if err != nil {
		log.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("/review/", inbox)
	srv := httptest.NewServer(mux)
	defer srv.Close()

	call := func(method, path, body string, auth bool) []byte {
		req, _ := http.NewRequest(method, srv.URL+path, strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		if auth {
			req.SetBasicAuth("ana@example.com", "s3cret")
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			log.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		fmt.Println(method, path, res.Status)
		return b
	}

	call("GET", "/review/api/reviews", "", false)

	var list struct {
		Reviews []struct {
			RunID  string `json:"run_id"`
			Step   string `json:"step"`
			Reason string `json:"reason"`
		} `json:"reviews"`
	}
	_ = json.Unmarshal(call("GET", "/review/api/reviews", "", true), &list)
	for _, r := range list.Reviews {
		fmt.Printf("  %s at %s: %s\n", r.RunID, r.Step, r.Reason)
	}

	// An edit that breaks the output's contract is refused with its
	// violations; a good one is approved.
	var refused struct {
		Error      string `json:"error"`
		Violations []struct {
			Path    string `json:"path"`
			Message string `json:"message"`
		} `json:"violations"`
	}
	_ = json.Unmarshal(call("POST", "/review/api/reviews/run-1/approve", `{"output":{"to":"ada@example.com","text":""}}`, true), &refused)
	fmt.Println(" ", refused.Error)
	for _, v := range refused.Violations {
		fmt.Printf("  %s: %s\n", v.Path, v.Message)
	}
	call("POST", "/review/api/reviews/run-1/approve", `{"output":{"to":"ada@example.com","text":"Thanks, Ada!"}}`, true)

	// The decision is in the store; a worker (p.Work) resumes the run.
	d, _ := st.GetRun(ctx, "run-1")
	dc := d.Run.Review.Decision
	fmt.Println(d.Run.Status, "by", dc.Reviewer, "edited:", dc.Edited)
	// Output:
	// run run-1 awaits review at step "draft": approval required before draft's output is used
	// GET /review/api/reviews 401 Unauthorized
	// GET /review/api/reviews 200 OK
	//   run-1 at draft: approval required before draft's output is used
	// POST /review/api/reviews/run-1/approve 422 Unprocessable Entity
	//   the output breaks the step's contract
	//   /text: has 0 characters, want at least 1
	// POST /review/api/reviews/run-1/approve 200 OK
	// queued by ana@example.com edited: true
}

// Readers who may look but not decide (an auditor, a client) get the
// inbox without decision forms; their decisions are refused with 403.
func ExampleConfig_canDecide() {
	ctx := context.Background()
	st := memstore.New(memstore.Config{})
	draft := step.New("draft", func(_ context.Context, t Ticket) (Reply, error) {
		return Reply{To: t.From, Text: "Thanks for writing!"}, nil
	}, step.Config{Review: step.ReviewRule{Always: true}})
	p := pipeline.New(pipeline.NewRuntime(pipeline.RuntimeConfig{Store: st}), "replies", draft, pipeline.Policy{})
	_, _ = p.Run(ctx, Ticket{From: "ada@example.com"}, pipeline.RunOptions{RunID: "run-1"})

	inbox, err := reviewhttp.New(reviewhttp.Config{
		Store:    st,
		BasePath: "/review/",
		// Your authentication: here a header an authenticating proxy sets.
		Authorize: func(r *http.Request) (string, bool) {
			who := r.Header.Get("X-User")
			return who, who != ""
		},
		// Only the support team decides.
		CanDecide: func(r *http.Request) bool { return strings.HasSuffix(r.Header.Get("X-User"), "@support.example.com") },
		Logger:    slog.New(slog.DiscardHandler),
	})
	if err != nil {
		log.Fatal(err)
	}
	for _, who := range []string{"client@example.com", "ana@support.example.com"} {
		req := httptest.NewRequest("POST", "/review/api/reviews/run-1/approve", strings.NewReader(`{}`))
		req.Header.Set("X-User", who)
		req.Header.Set("Content-Type", "application/json")
		rec := httptest.NewRecorder()
		inbox.ServeHTTP(rec, req)
		fmt.Println(who, rec.Code)
	}
	// Output:
	// client@example.com 403
	// ana@support.example.com 200
}
