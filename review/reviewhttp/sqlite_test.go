package reviewhttp_test

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/plumb-dev/plumb/pipeline"
	"github.com/plumb-dev/plumb/review/reviewhttp"
	"github.com/plumb-dev/plumb/store"
	"github.com/plumb-dev/plumb/store/sqlitestore"
)

// TestOnSQLite runs a review through the embedded default store, whose
// records go through SQL and JSON, to a worker that resumes the run.
func TestOnSQLite(t *testing.T) {
	st, err := sqlitestore.Open(filepath.Join(t.TempDir(), "plumb.db"), sqlitestore.Config{})
	require.NoError(t, err)
	t.Cleanup(func() { _ = st.Close() })
	p := newPipeline(pipeline.NewRuntime(pipeline.RuntimeConfig{Store: st, Logger: slog.New(slog.DiscardHandler)}), "leads")
	h, err := reviewhttp.New(reviewhttp.Config{Store: st, Authorize: headerAuth, Logger: slog.New(slog.DiscardHandler)})
	require.NoError(t, err)

	ctx := t.Context()
	_, err = p.Run(ctx, Lead{Email: "bob@example.com", Note: "pricing <3"}, pipeline.RunOptions{})
	var pe *pipeline.PendingError
	require.True(t, errors.As(err, &pe), "want a pending run, got %v", err)
	id := pe.RunID

	do := func(method, path, body string) *httptest.ResponseRecorder {
		req := httptest.NewRequest(method, path, strings.NewReader(body))
		req.Header.Set("X-Reviewer", reviewer)
		req.Header.Set("Content-Type", "application/json")
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		return rec
	}
	list := do("GET", "/api/reviews", "")
	require.Equal(t, http.StatusOK, list.Code)
	assert.Contains(t, list.Body.String(), `"run_id": "`+id+`"`)
	page := do("GET", "/reviews/"+id, "")
	require.Equal(t, http.StatusOK, page.Code)
	assert.Contains(t, page.Body.String(), "pricing &lt;3")

	bad := do("POST", "/api/reviews/"+id+"/approve", `{"output":{"to":"bob@example.com","subject":"","confidence":0.5}}`)
	assert.Equal(t, http.StatusUnprocessableEntity, bad.Code, bad.Body.String())
	ok := do("POST", "/api/reviews/"+id+"/approve", `{"output":{"to":"bob@example.com","subject":"Pricing","confidence":0.9}}`)
	require.Equal(t, http.StatusOK, ok.Code, ok.Body.String())

	wctx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() {
		done <- p.Runtime().Work(wctx, pipeline.WorkerConfig{Poll: 10 * time.Millisecond, PruneEvery: -1})
	}()
	defer func() { stop(); require.NoError(t, <-done) }()
	deadline := time.Now().Add(10 * time.Second)
	for {
		d, err := st.GetRun(ctx, id)
		require.NoError(t, err)
		if d.Run.Status == store.Succeeded {
			assert.JSONEq(t, `{"to":"bob@example.com","subject":"Pricing"}`, string(d.Run.Output))
			assert.Equal(t, reviewer, d.Run.Review.Decision.Reviewer)
			break
		}
		require.True(t, time.Now().Before(deadline), "run %s is %s, want succeeded", id, d.Run.Status)
		time.Sleep(10 * time.Millisecond)
	}
	page = do("GET", "/reviews/"+id, "")
	assert.Contains(t, page.Body.String(), "edited and approved by "+reviewer)
}
