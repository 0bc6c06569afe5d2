package intake_test

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/plumb-dev/plumb/intake"
	"github.com/plumb-dev/plumb/pipeline"
	"github.com/plumb-dev/plumb/step"
	"github.com/plumb-dev/plumb/store/sqlitestore"
)

// Issue is what the pipeline reads of GitHub's "issues" event; the rest
// of the payload is ignored.
type Issue struct {
	Action string `json:"action" jsonschema:"enum=opened,enum=edited,enum=closed,enum=reopened"`
	Issue  struct {
		Number int    `json:"number" jsonschema:"minimum=1"`
		Title  string `json:"title"`
	} `json:"issue"`
}

// exampleRuntime is a runtime on a SQLite file in a temporary directory.
func exampleRuntime() (*pipeline.Runtime, func()) {
	dir, _ := os.MkdirTemp("", "intake-example")
	st, err := sqlitestore.Open(filepath.Join(dir, "plumb.db"), sqlitestore.Config{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		panic(err)
	}
	rt := pipeline.NewRuntime(pipeline.RuntimeConfig{Store: st, Logger: slog.New(slog.DiscardHandler)})
	return rt, func() { _ = st.Close(); _ = os.RemoveAll(dir) }
}

// send posts a delivery and prints the answer, without the run's id.
func send(url string, header http.Header, body string) {
	req, _ := http.NewRequest(http.MethodPost, url, bytes.NewReader([]byte(body)))
	req.Header = header
	req.Header.Set("Content-Type", "application/json")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		panic(err)
	}
	defer res.Body.Close()
	var a intake.Answer
	_ = json.NewDecoder(res.Body).Decode(&a)
	fmt.Print(res.StatusCode, " ", a.Status)
	if a.RunID != "" {
		fmt.Print(" run_id=…")
	}
	if a.Duplicate {
		fmt.Print(" duplicate")
	}
	for _, v := range a.Violations {
		fmt.Printf(" %s %s: %s", v.Path, v.Keyword, v.Message)
	}
	if a.Status == intake.Unauthorized {
		fmt.Print(": ", a.Error)
	}
	fmt.Println()
}

// A GitHub webhook into a pipeline: the signature is checked with the
// webhook's secret, the delivery id deduplicates GitHub's redeliveries,
// and the body is checked against the pipeline's input contract.
func Example_gitHub() {
	rt, done := exampleRuntime()
	defer done()
	triage := step.New("triage", func(_ context.Context, in Issue) (string, error) {
		return fmt.Sprintf("#%d %s", in.Issue.Number, in.Action), nil
	}, step.Config{})
	p := pipeline.New(rt, "issues", triage, pipeline.Policy{})

	h := intake.New(p, intake.Source{Name: "github", Verify: intake.GitHub("the webhook's secret")})
	if err := h.Err(); err != nil {
		panic(err)
	}
	srv := httptest.NewServer(h)
	defer srv.Close()

	// What GitHub sends.
	body := `{"action":"opened","issue":{"number":7,"title":"Crash on start"},"sender":{"login":"ada"}}`
	mac := hmac.New(sha256.New, []byte("the webhook's secret"))
	mac.Write([]byte(body))
	header := http.Header{
		"X-Hub-Signature-256": {"sha256=" + hex.EncodeToString(mac.Sum(nil))},
		"X-Github-Delivery":   {"72d3162e-cc78-11e3-81ab-4c9367dc0958"},
	}
	send(srv.URL, header, body)
	send(srv.URL, header, body) // a redelivery
	header.Set("X-Hub-Signature-256", "sha256=00")
	send(srv.URL, header, body) // a forgery
	// Output:
	// 202 accepted run_id=…
	// 200 duplicate run_id=… duplicate
	// 401 unauthorized: bad github signature (signature mismatch): check that the sender signs with this endpoint's secret
}

// PaymentEvent is what the pipeline reads of a Stripe event.
type PaymentEvent struct {
	ID   string `json:"id" jsonschema:"pattern=^evt_"`
	Type string `json:"type" jsonschema:"enum=payment_intent.succeeded,enum=payment_intent.payment_failed"`
}

// A Stripe webhook: the delivery id is the event's id, and a body that
// breaks the contract is answered 422 and kept as a dead letter to patch
// and replay.
func Example_stripe() {
	rt, done := exampleRuntime()
	defer done()
	record := step.New("record", func(_ context.Context, e PaymentEvent) (string, error) { return e.Type, nil }, step.Config{})
	p := pipeline.New(rt, "payments", record, pipeline.Policy{})
	h := intake.New(p, intake.Source{Name: "stripe", Verify: intake.Stripe(5*time.Minute, "whsec_endpoint_secret")})
	if err := h.Err(); err != nil {
		panic(err)
	}
	srv := httptest.NewServer(h)
	defer srv.Close()

	stripeHeader := func(body string) http.Header {
		t := strconv.FormatInt(time.Now().Unix(), 10)
		mac := hmac.New(sha256.New, []byte("whsec_endpoint_secret"))
		mac.Write([]byte(t + "." + body))
		return http.Header{"Stripe-Signature": {"t=" + t + ",v1=" + hex.EncodeToString(mac.Sum(nil))}}
	}
	ok := `{"id":"evt_1","type":"payment_intent.succeeded"}`
	send(srv.URL, stripeHeader(ok), ok)
	unknown := `{"id":"evt_2","type":"charge.refunded"}`
	send(srv.URL, stripeHeader(unknown), unknown)
	// Output:
	// 202 accepted run_id=…
	// 422 invalid run_id=… /type enum: "charge.refunded" is not one of "payment_intent.succeeded", "payment_intent.payment_failed"
}

// A sender with a scheme of its own: the HMAC-SHA256 of the timestamp
// header and the body, in hex after "v1=", with the delivery id in a
// header.
func Example_customHMAC() {
	rt, done := exampleRuntime()
	defer done()
	p := pipeline.New(rt, "forms", step.New("save", func(_ context.Context, l Lead) (Lead, error) { return l, nil }, step.Config{}), pipeline.Policy{})
	h := intake.New(p, intake.Source{
		Name: "forms",
		Verify: intake.HMAC(intake.HMACScheme{
			Name: "forms", Header: "X-Forms-Signature", Prefix: "v1=", Encoding: intake.Hex,
			Secrets: []string{"new secret", "old secret"},
			Signed: func(r *http.Request, body []byte) []byte {
				return append([]byte(r.Header.Get("X-Forms-Timestamp")+"."), body...)
			},
			DeliveryID: intake.DeliveryID{Header: "X-Forms-Delivery"},
		}),
		ExternalID: "/id", // `plumb runs find lead-1` finds the run
	})
	if err := h.Err(); err != nil {
		panic(err)
	}
	srv := httptest.NewServer(h)
	defer srv.Close()

	body := `{"id":"lead-1","email":"ada@example.com"}`
	mac := hmac.New(sha256.New, []byte("old secret"))
	mac.Write([]byte("1700000000." + body))
	send(srv.URL, http.Header{
		"X-Forms-Signature": {"v1=" + hex.EncodeToString(mac.Sum(nil))},
		"X-Forms-Timestamp": {"1700000000"},
		"X-Forms-Delivery":  {"f-81"},
	}, body)
	// Output:
	// 202 accepted run_id=…
}
