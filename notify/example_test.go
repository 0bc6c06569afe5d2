package notify_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"time"

	"github.com/plumb-dev/plumb/notify"
	"github.com/plumb-dev/plumb/retry/retrytest"
)

func ExampleNewSlog() {
	logger := slog.New(slog.NewTextHandler(os.Stdout, &slog.HandlerOptions{
		ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
			if a.Key == slog.TimeKey {
				return slog.Attr{} // keep the output stable
			}
			return a
		},
	}))
	n := notify.NewSlog(logger)
	_ = n.Notify(context.Background(), notify.Event{
		Kind:     notify.DeadLettered,
		Pipeline: "leads",
		RunID:    "run-1",
		Step:     "enrich",
		Class:    "contract",
		Reason:   "email: does not match format",
		Link:     "plumb runs show run-1",
	})
	// Output:
	// level=ERROR msg="run dead-lettered" event=dead_lettered pipeline=leads run_id=run-1 step=enrich class=contract reason="email: does not match format" link="plumb runs show run-1"
}

func ExampleNewWebhook() {
	// The sender and the receiver share a Standard Webhooks secret.
	secret := notify.NewSecret()

	// The receiver: check the signature over the raw body before trusting
	// it, then route on the kind in that body: the signature covers it.
	receiver := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		err := notify.VerifySignature(secret, r.Header, body, time.Now(), 5*time.Minute)
		if err != nil {
			fmt.Println("rejected:", err)
			http.Error(w, "bad signature", http.StatusUnauthorized)
			return
		}
		var e notify.Event
		_ = json.Unmarshal(body, &e)
		fmt.Printf("verified %s: %s run %s at step %s\n", e.Kind, e.Pipeline, e.RunID, e.Step)
	}))
	defer receiver.Close()

	hook, err := notify.NewWebhook(notify.WebhookConfig{URL: receiver.URL, Secret: secret})
	if err != nil {
		fmt.Println(err)
		return
	}
	// Notify only queues the event; it never waits for the receiver.
	_ = hook.Notify(context.Background(), notify.Event{
		Kind: notify.DeadLettered, Pipeline: "leads", RunID: "run-1", Step: "enrich",
	})
	// Close delivers what is queued before it returns.
	if err := hook.Close(context.Background()); err != nil {
		fmt.Println(err)
	}

	// A forged request does not pass.
	forged := []byte(`{"event":"paused","pipeline":"leads"}`)
	req, _ := http.NewRequest(http.MethodPost, receiver.URL, bytes.NewReader(forged))
	req.Header, _ = notify.Sign(notify.NewSecret(), "msg_forged", time.Now(), forged)
	if resp, err := http.DefaultClient.Do(req); err == nil {
		resp.Body.Close()
		fmt.Println("forged request:", resp.Status)
	}
	// Output:
	// verified dead_lettered: leads run run-1 at step enrich
	// rejected: notify: bad webhook signature: signature mismatch
	// forged request: 401 Unauthorized
}

func ExampleNewDigest() {
	start := time.Date(2026, 11, 27, 2, 17, 0, 0, time.UTC)
	clock := retrytest.NewClock(start)
	show := notify.Func(func(_ context.Context, e notify.Event) error {
		fmt.Printf("%s | count=%d samples=%v | %s\n", notify.Summary(e), e.Count, e.Samples, e.Reason)
		return nil
	})
	// ManualFlush because this example moves the clock itself; in production
	// the first Notify starts a loop that flushes as windows close.
	d := notify.NewDigest(show, notify.DigestConfig{Window: time.Minute, Clock: clock, ManualFlush: true})

	ctx := context.Background()
	for i := range 500 {
		_ = d.Notify(ctx, notify.Event{
			Kind: notify.DeadLettered, Pipeline: "leads", Step: "enrich", Class: "contract",
			RunID: fmt.Sprintf("run-%d", i), Reason: "upstream sent an empty email",
		})
	}
	clock.Advance(time.Minute)
	_ = d.Flush(clock.Now())
	_ = d.Close(ctx)
	// Output:
	// Run dead-lettered in leads at step enrich (contract) | count=0 samples=[] | upstream sent an empty email
	// Run dead-lettered ×499 in leads at step enrich (contract) | count=499 samples=[run-1 run-2 run-3 run-4 run-5] | 499 more dead_lettered in 1m at step enrich (contract); first: upstream sent an empty email
}

func ExampleNewSilenceWatch() {
	day := func(h, m int) time.Time { return time.Date(2026, 11, 27, h, m, 0, 0, time.UTC) }
	show := notify.Func(func(_ context.Context, e notify.Event) error {
		fmt.Printf("%s: %s\n", notify.Summary(e), e.Reason)
		return nil
	})
	w := notify.NewSilenceWatch(show, notify.SilenceConfig{Clock: retrytest.NewClock(day(0, 0))})
	w.Expect("nightly-report", 2*time.Hour)
	// After a restart, start from the store's last run so the gap is not forgotten.
	w.Seed("nightly-report", day(2, 17))

	_ = w.Check(day(4, 18)) // reports the silence
	_ = w.Check(day(4, 30)) // the same silence: nothing new
	w.Seen("nightly-report", day(4, 45))
	_ = w.Check(day(5, 0)) // runs again: nothing
	// In production: go w.Run(ctx, time.Minute)
	// Output:
	// Pipeline silent in nightly-report: no runs for 2h1m (expected at least one every 2h); last run at 2026-11-27T02:17:00Z
}

func ExampleSlackFormat() {
	hook, err := notify.NewWebhook(notify.WebhookConfig{
		URL:    "https://hooks.slack.com/services/T000/B000/XXXX",
		Format: notify.SlackFormat,
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer hook.Close(context.Background())

	body, _, _ := notify.SlackFormat(notify.Event{Kind: notify.Paused, Pipeline: "leads", Reason: "failure rate 62% over 5m"})
	fmt.Println(string(body))
	// Output:
	// {"text":"Pipeline paused in leads","blocks":[{"type":"section","text":{"type":"mrkdwn","text":":double_vertical_bar: *Pipeline paused in leads*"}},{"type":"section","text":{"type":"mrkdwn","text":"> failure rate 62% over 5m"}}]}
}

func ExampleMulti() {
	logger := slog.New(slog.NewTextHandler(os.Stdout, &slog.HandlerOptions{
		ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
			if a.Key == slog.TimeKey {
				return slog.Attr{}
			}
			return a
		},
	}))
	pager := notify.Func(func(_ context.Context, e notify.Event) error {
		if e.Kind != notify.Silent && e.Kind != notify.Paused {
			return nil // page only for what stops a pipeline
		}
		fmt.Println("page on-call:", notify.Summary(e))
		return nil
	})
	n := notify.Multi(notify.NewSlog(logger), pager)
	_ = n.Notify(context.Background(), notify.Event{Kind: notify.Paused, Pipeline: "leads"})
	// Output:
	// level=WARN msg="pipeline paused" event=paused pipeline=leads
	// page on-call: Pipeline paused in leads
}
