package notify_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/plumb-dev/plumb/notify"
	"github.com/plumb-dev/plumb/retry"
)

// Following a 301 or 302 turns the POST into a body-less GET, and a 200 to
// that GET would count an event as delivered that nobody received. So a
// redirect of any kind is a failed delivery, never followed.
func TestWebhookNeverFollowsRedirects(t *testing.T) {
	for _, code := range []int{
		http.StatusMovedPermanently, http.StatusFound, http.StatusSeeOther,
		http.StatusTemporaryRedirect, http.StatusPermanentRedirect,
	} {
		t.Run(http.StatusText(code), func(t *testing.T) {
			var followed atomic.Int64
			final := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
				followed.Add(1) // answers 200 to whatever arrives
			}))
			t.Cleanup(final.Close)
			rec := newReceiver(t, func(_ int, w http.ResponseWriter) {
				w.Header().Set("Location", final.URL+"/hooks/SECRETTOKEN")
				w.WriteHeader(code)
			})
			client := &http.Client{}
			w, _, h := newWebhook(t, notify.WebhookConfig{URL: rec.URL, HTTPClient: client})
			require.NoError(t, w.Notify(context.Background(), deadLetter))
			closeWebhook(t, w)

			assert.Zero(t, followed.Load(), "the redirect was not followed")
			assert.Len(t, rec.requests(), 1, "a redirect is not retried")
			assert.Nil(t, client.CheckRedirect, "the caller's client is not changed")
			failed := h.errors()
			require.Len(t, failed, 1, "a redirect is reported to OnError")
			err := failed[0].err
			assert.ErrorIs(t, err, notify.ErrDelivery)
			assert.ErrorIs(t, err, notify.ErrRedirect)
			assert.Equal(t, retry.ClassPermanent, retry.Classify(err))
			var re *notify.RedirectError
			require.ErrorAs(t, err, &re)
			assert.Equal(t, code, re.Code)
			assert.Equal(t, final.URL+"/…", re.Location, "the Location's path may hold a token")
			var de *notify.DeliveryError
			require.ErrorAs(t, err, &de)
			assert.Equal(t, code, de.Status)
			assert.Contains(t, err.Error(), "the receiver answered "+strconv.Itoa(code)+" "+http.StatusText(code)+
				" with Location "+final.URL+"/…; webhook deliveries never follow redirects: point the notifier at the final URL")
			assert.NotContains(t, err.Error(), "SECRETTOKEN")
		})
	}
}

// The default client must not follow redirects either.
func TestWebhookDefaultClientNeverFollowsRedirects(t *testing.T) {
	rec := newReceiver(t, func(n int, w http.ResponseWriter) {
		if n == 1 {
			w.Header().Set("Location", "/elsewhere") // relative: resolved against the webhook URL
			w.WriteHeader(http.StatusFound)
		}
	})
	w, _, h := newWebhook(t, notify.WebhookConfig{URL: rec.URL + "/hooks/SECRETTOKEN"})
	require.NoError(t, w.Notify(context.Background(), deadLetter))
	closeWebhook(t, w)
	assert.Len(t, rec.requests(), 1, "the redirect to /elsewhere was not followed")
	failed := h.errors()
	require.Len(t, failed, 1)
	assert.ErrorIs(t, failed[0].err, notify.ErrRedirect)
	var re *notify.RedirectError
	require.ErrorAs(t, failed[0].err, &re)
	assert.Equal(t, rec.URL+"/…", re.Location)
	assert.NotContains(t, failed[0].err.Error(), "SECRETTOKEN")
}
