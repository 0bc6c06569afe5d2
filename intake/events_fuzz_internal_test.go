package intake

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/plumb-dev/plumb/pipeline"
	"github.com/plumb-dev/plumb/store"
	"github.com/plumb-dev/plumb/store/memstore"
)

// FuzzEventDeliveries sends arbitrary bodies to an events handler that
// reads the key and the payload by pointer: none panics, each is answered
// 202, 200 or 422, and every 422 is kept as a refused event.
func FuzzEventDeliveries(f *testing.F) {
	for _, s := range []string{
		`{"data":{"object":{"invoice":"in_1","amount":5}}}`,
		`{"data":{"object":{"invoice":7,"amount":5}}}`,
		`{"data":{"object":{"invoice":"","amount":5}}}`,
		`{"data":{"object":{"invoice":{"id":1}}}}`,
		`{"data":[1,2]}`, `[]`, `null`, `"x"`, `{`, "\xff\xfe", `{"data":{"object":{"invoice":"in_1"}}} {}`,
	} {
		f.Add([]byte(s))
	}
	log := slog.New(slog.DiscardHandler)
	// A registered definition awaits the event: the handler sends through
	// the store's contracts (store.DeliverEvent).
	def := store.PipelineDef{Name: "invoices", Steps: []store.StepDef{{Name: "pay", Event: "payment",
		EventSchema: json.RawMessage(`{"type":"object","required":["invoice","amount"],"properties":{"invoice":{"type":"string","minLength":1},"amount":{"type":"integer","minimum":1}}}`)}}}
	route := EventRoute{Name: "payment", Key: "/data/object/invoice", KeyPrefix: "invoice:", Payload: "/data/object"}
	f.Fuzz(func(t *testing.T, body []byte) {
		st := memstore.New(memstore.Config{}) // a store per body, so that each check reads one event
		if err := st.RegisterPipeline(context.Background(), def); err != nil {
			t.Fatal(err)
		}
		rt := pipeline.NewRuntime(pipeline.RuntimeConfig{Store: st, Logger: log})
		h := NewEvents(rt, Source{Name: "fuzz", Verify: Unsigned(), DeliveryID: DeliveryID{Header: "X-Id"}}, route)
		if h.Err() != nil {
			t.Fatal(h.Err())
		}
		const id = "d-1"
		r := httptest.NewRequest(http.MethodPost, "/", bytes.NewReader(body))
		r.Header.Set("Content-Type", "application/json")
		r.Header.Set("X-Id", id)
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		var a Answer
		if err := json.Unmarshal(w.Body.Bytes(), &a); err != nil {
			t.Fatalf("%q: the answer is not JSON: %s", body, w.Body.Bytes())
		}
		switch w.Code {
		case http.StatusAccepted, http.StatusOK:
		case http.StatusUnprocessableEntity:
			l, err := st.Events(context.Background(), store.EventFilter{Refused: true})
			if err != nil {
				t.Fatal(err)
			}
			if len(l.Events) != 1 || l.Events[0].ID != id || a.EventID != id {
				t.Fatalf("%q: refused (%+v) but not kept", body, a)
			}
		default:
			t.Fatalf("%q: answered %d %+v", body, w.Code, a)
		}
	})
}
