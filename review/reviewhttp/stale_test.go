package reviewhttp_test

import (
	"context"
	"encoding/json"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/plumb-dev/plumb/review/reviewhttp"
	"github.com/plumb-dev/plumb/store"
)

// heldOpen is a store whose first GetRun, once answered, lets another
// decision and the run's next review happen before the inbox decides: a
// decision held open while the run moves on.
type heldOpen struct {
	store.Store
	once    sync.Once
	between func()
}

func (s *heldOpen) GetRun(ctx context.Context, id string) (*store.RunDetail, error) {
	d, err := s.Store.GetRun(ctx, id)
	s.once.Do(s.between)
	return d, err
}

func TestADecisionHeldOpenWhileTheNextReviewOpensIsAConflict(t *testing.T) {
	for _, api := range []bool{true, false} {
		name := map[bool]string{true: "api", false: "form"}[api]
		t.Run(name, func(t *testing.T) {
			held := &heldOpen{between: func() {}}
			f := newFixture(t, func(c *reviewhttp.Config) { held.Store = c.Store.(store.Store); c.Store = held })
			id := f.park("pricing")
			form := f.formValues(id)
			held.once = sync.Once{}
			st := f.kit.Store
			held.between = func() {
				// Another reviewer approves; a worker resumes the run and
				// stops it for review again, at the next step.
				ctx := context.Background()
				_, err := st.Decide(ctx, id, store.Decision{Review: store.ReviewRef{Attempt: 1, Index: 0}, Approved: true, Reviewer: "bob"})
				require.NoError(t, err)
				c, err := st.Claim(ctx, store.ClaimRequest{Worker: "w", Pipelines: []string{"leads"}, Limit: 1, Lease: time.Minute})
				require.NoError(t, err)
				require.Len(t, c, 1)
				require.NoError(t, st.Finish(ctx, c[0].Lease, store.Outcome{Status: store.AwaitingReview, Step: "send",
					Review: &store.Review{Step: "send", Index: 1, Reason: "check", Proposed: json.RawMessage(`{"to":"bob@example.com","subject":"x"}`)}}))
			}
			edit := `{"to":"bob@example.com","subject":"Re: pricing, edited","confidence":0.9}`
			var res response
			if api {
				// As proposed: only the store's own check can refuse it.
				res = f.postJSON("/review/api/reviews/"+id+"/approve", "")
			} else {
				form.Set("output", edit)
				res = f.postForm("/review/reviews/"+id+"/approve", form)
			}
			assert.Equal(t, http.StatusConflict, res.status, res.body)
			if api {
				assert.Contains(t, res.header.Get("Content-Type"), "application/json")
			}
			d := f.kit.Get(id)
			assert.Equal(t, store.AwaitingReview, d.Run.Status)
			require.NotNil(t, d.Run.Review)
			assert.Equal(t, "send", d.Run.Review.Step)
			assert.Nil(t, d.Run.Review.Decision, "the held decision did not land on the new review")
		})
	}
}
