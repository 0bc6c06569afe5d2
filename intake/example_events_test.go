package intake_test

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"time"

	"github.com/plumb-dev/plumb/intake"
	"github.com/plumb-dev/plumb/pipeline"
	"github.com/plumb-dev/plumb/step"
	"github.com/plumb-dev/plumb/store"
)

// A Stripe payment event resumes the invoice run that waits for it: the
// key is "invoice:" and the invoice's id in the event, the payload its
// data.object, checked against the await step's contract.
func ExampleNewEvents() {
	rt, done := exampleRuntime()
	defer done()
	type Invoice struct {
		ID     string `json:"id"`
		Amount int    `json:"amount"`
	}
	type Payment struct {
		Invoice        string `json:"invoice"`
		AmountReceived int    `json:"amount_received" jsonschema:"minimum=1"`
	}
	issue := step.New("issue", func(_ context.Context, in Invoice) (Invoice, error) { return in, nil }, step.Config{})
	p := pipeline.Await(pipeline.New(rt, "invoices", issue, pipeline.Policy{}), "pay",
		func(in Invoice) string { return "invoice:" + in.ID },
		pipeline.AwaitOptions{Within: 14 * 24 * time.Hour, Event: "payment"},
		func(in Invoice, pay Payment) (string, error) {
			return fmt.Sprintf("%s paid %d of %d", in.ID, pay.AmountReceived, in.Amount), nil
		},
		func(in Invoice) (string, error) { return in.ID + " unpaid: send a reminder", nil })

	h := intake.NewEvents(rt, intake.Source{Name: "stripe", Verify: intake.Stripe(5*time.Minute, "whsec_endpoint_secret")},
		intake.EventRoute{Name: "payment", Key: "/data/object/invoice", KeyPrefix: "invoice:", Payload: "/data/object"})
	if err := h.Err(); err != nil {
		panic(err) // no step awaits "payment", a bad secret, …
	}
	mux := http.NewServeMux()
	mux.Handle("POST /hooks/stripe", h)
	srv := httptest.NewServer(mux)
	defer srv.Close()

	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	go func() { _ = rt.Work(ctx, pipeline.WorkerConfig{Poll: 10 * time.Millisecond}) }()
	runID, err := p.Submit(ctx, Invoice{ID: "in_42", Amount: 4200}, pipeline.SubmitOptions{})
	if err != nil {
		panic(err)
	}
	for { // until the run waits, holding no worker
		l, _ := rt.Store().Events(ctx, store.EventFilter{RunID: runID})
		if len(l.Waits) == 1 {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}

	// What Stripe sends.
	stripeHeader := func(body string) http.Header {
		t := strconv.FormatInt(time.Now().Unix(), 10)
		mac := hmac.New(sha256.New, []byte("whsec_endpoint_secret"))
		mac.Write([]byte(t + "." + body))
		return http.Header{"Stripe-Signature": {"t=" + t + ",v1=" + hex.EncodeToString(mac.Sum(nil))}}
	}
	short := `{"id":"evt_0","type":"payment_intent.succeeded","data":{"object":{"invoice":"in_42","amount_received":0}}}`
	send(srv.URL+"/hooks/stripe", stripeHeader(short), short) // refused, and kept as a refused event
	paid := `{"id":"evt_1","type":"payment_intent.succeeded","data":{"object":{"invoice":"in_42","amount_received":4200}}}`
	send(srv.URL+"/hooks/stripe", stripeHeader(paid), paid) // wakes the run
	send(srv.URL+"/hooks/stripe", stripeHeader(paid), paid) // Stripe's retry

	out, err := p.Wait(ctx, runID)
	fmt.Println(out, err)
	// Output:
	// 422 invalid /amount_received minimum: must be at least 1, got 0
	// 202 accepted run_id=…
	// 200 duplicate run_id=… duplicate
	// in_42 paid 4200 of 4200 <nil>
}
