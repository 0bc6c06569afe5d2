package main

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/plumb-dev/plumb/intake"
	"github.com/plumb-dev/plumb/store"
)

// A webhook delivery refused for its content is a dead letter the CLI
// lists, and replays into the pipeline once patched.
func TestIntakeDeadLetterListedAndReplayed(t *testing.T) {
	f := newFixture(t, nil)
	const secret = "it's a secret to everybody"
	h := intake.New(f.p, intake.Source{Name: "forms", Verify: intake.GitHub(secret)})
	require.NoError(t, h.Err())
	srv := httptest.NewServer(h)
	defer srv.Close()

	body := []byte(`{"id":"lead-7","text":""}`) // text breaks minLength=1
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write(body)
	req, err := http.NewRequest(http.MethodPost, srv.URL, bytes.NewReader(body))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-GitHub-Delivery", "d-7")
	req.Header.Set("X-Hub-Signature-256", "sha256="+hex.EncodeToString(mac.Sum(nil)))
	res, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer res.Body.Close()
	var a intake.Answer
	require.NoError(t, json.NewDecoder(res.Body).Decode(&a))
	require.Equal(t, http.StatusUnprocessableEntity, res.StatusCode)
	require.NotEmpty(t, a.RunID)

	list := f.ok("deadletters", "list").stdout
	assert.Contains(t, list, a.RunID)
	assert.Contains(t, list, "intake webhook:forms: delivery d-7 refused")
	d := f.get(a.RunID)
	assert.Equal(t, store.DeadLettered, d.Run.Status)
	assert.Equal(t, "webhook:forms", d.Run.Trigger.Source)

	r := f.ok("replay", a.RunID, "--set", "/text=Ada Lovelace <ada@example.com>")
	assert.Contains(t, r.stdout, "Queued attempt 2 of run "+a.RunID)
	f.drain()
	assert.Equal(t, store.Succeeded, f.get(a.RunID).Run.Status, "the patched delivery ran through the pipeline")
}
