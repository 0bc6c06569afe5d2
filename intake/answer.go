package intake

import (
	"encoding/json"
	"net/http"
	"strconv"

	"github.com/plumb-dev/plumb/contract"
)

// Outcome is what became of a delivery: the Answer's Status and the
// outcome attribute of the plumb.intake.deliveries counter.
type Outcome string

// The outcomes, with the HTTP status each is answered with.
const (
	Accepted         Outcome = "accepted"           // 202: a run was enqueued, or an event kept, durably
	Duplicate        Outcome = "duplicate"          // 200: the delivery id was seen; RunID is the first delivery's run
	Unauthorized     Outcome = "unauthorized"       // 401: the signature failed; nothing is stored
	Invalid          Outcome = "invalid"            // 422: not JSON, or breaks the contract; recorded (a dead letter, or a refused event)
	TooLarge         Outcome = "too_large"          // 413: the body is over Source.MaxBody
	Unsupported      Outcome = "unsupported"        // 415: the content type is not accepted
	RateLimited      Outcome = "rate_limited"       // 429: over Source.RateLimit; Retry-After says when to retry
	Unavailable      Outcome = "unavailable"        // 503 (500 when the handler is misconfigured): nothing was accepted; retry
	NoDeliveryID     Outcome = "no_delivery_id"     // 400: the delivery carries no usable id; recorded like Invalid
	MethodNotAllowed Outcome = "method_not_allowed" // 405: only POST delivers
)

// Answer is the JSON body of every response, whatever its status: one
// shape, so that a sender's logs and a test can read any of them.
//
//	{"status":"accepted","run_id":"01K…"}
//	{"status":"duplicate","run_id":"01K…","duplicate":true}
//	{"status":"invalid","run_id":"01K…","error":"…","violations":[{"path":"/email","keyword":"format","message":"…"}]}
//	{"status":"rate_limited","error":"…","retry_after":3}
//	{"status":"accepted","event_id":"evt_1…","run_id":"01K…"}   (NewEvents: the run it woke)
type Answer struct {
	Status Outcome `json:"status"`
	// RunID is the run the delivery made or found: the accepted run, the
	// first delivery's run for a duplicate, or the dead letter recorded
	// for an invalid body (replay it with `plumb replay <id> --set …`).
	RunID string `json:"run_id,omitempty"`
	// EventID is the event a delivery to NewEvents made or found: its
	// delivery id. RunID is then the run whose wait took it (Accepted: the
	// run it woke; none when no run waits yet and the event is kept).
	EventID string `json:"event_id,omitempty"`
	// Duplicate is true when the delivery id was seen before.
	Duplicate bool `json:"duplicate,omitempty"`
	// Error says what was wrong and what to do, for a refusal.
	Error string `json:"error,omitempty"`
	// Violations lists how an invalid body breaks the pipeline's input
	// contract: each a JSON pointer, a keyword and a message.
	Violations []contract.Violation `json:"violations,omitempty"`
	// RetryAfter repeats the Retry-After header, in seconds.
	RetryAfter int `json:"retry_after,omitempty"`
	// misconfigured answers 500, not 503: the delivery cannot be taken
	// until the operator changes something, and the log says what.
	misconfigured bool
}

// code is the HTTP status of an answer.
func (a *Answer) code(misconfigured bool) int {
	switch a.Status {
	case Accepted:
		return http.StatusAccepted
	case Duplicate:
		return http.StatusOK
	case Unauthorized:
		return http.StatusUnauthorized
	case Invalid:
		return http.StatusUnprocessableEntity
	case TooLarge:
		return http.StatusRequestEntityTooLarge
	case Unsupported:
		return http.StatusUnsupportedMediaType
	case RateLimited:
		return http.StatusTooManyRequests
	case NoDeliveryID:
		return http.StatusBadRequest
	case MethodNotAllowed:
		return http.StatusMethodNotAllowed
	}
	if misconfigured {
		return http.StatusInternalServerError
	}
	return http.StatusServiceUnavailable
}

func write(w http.ResponseWriter, code int, a *Answer) {
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	if a.RetryAfter > 0 {
		h.Set("Retry-After", strconv.Itoa(a.RetryAfter))
	}
	if a.Status == MethodNotAllowed {
		h.Set("Allow", http.MethodPost)
	}
	w.WriteHeader(code)
	b, _ := json.Marshal(a) // an Answer always encodes
	_, _ = w.Write(append(b, '\n'))
}
