package intake_test

import (
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/plumb-dev/plumb/intake"
	"github.com/plumb-dev/plumb/notify"
	"github.com/plumb-dev/plumb/pipelinetest"
	"github.com/plumb-dev/plumb/store"
)

// On the test kit's in-memory store and clock: a delivery resent with its
// body corrected after a refusal finds the dead letter, as on the SQL
// stores, and the handler stamps and checks signatures on the runtime's
// clock, the kit's.
func TestKitResendAfterRefusalFindsTheDeadLetter(t *testing.T) {
	k := pipelinetest.New(t)
	stdSecret := notify.NewSecret()
	p := leadPipeline(k.Runtime)
	h := intake.New(p, intake.Source{Name: "crm", Verify: intake.StandardWebhooks(stdSecret)})
	require.NoError(t, h.Err())
	url := newServer(t, h)
	send := func(id string, body []byte) reply {
		return post(t, http.DefaultClient, url, stdSign(t, stdSecret, id, k.Clock.Now(), body), body)
	}

	bad := []byte(`{"id":"lead-1","email":"ada at example"}`)
	r := send("d-1", bad)
	require.Equal(t, http.StatusUnprocessableEntity, r.code, "%+v", r.answer)
	dl := r.answer.RunID
	assert.Equal(t, pipelinetest.Start, k.Get(dl).Run.Trigger.ReceivedAt.UTC(), "stamped by the kit's clock")

	k.Clock.Advance(time.Hour) // the sender signs with the moved clock too
	r = send("d-1", leadBody("lead-1", "ada@example.com"))
	assert.Equal(t, intake.Answer{Status: intake.Duplicate, RunID: dl, Duplicate: true}, r.answer)
	page, err := k.Store.ListRuns(k.Context(), store.RunFilter{Pipeline: p.Name()})
	require.NoError(t, err)
	assert.Len(t, page.Runs, 1, "one run per delivery id, on memstore too")
}
