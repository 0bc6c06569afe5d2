// Package intake turns webhooks into runs, or into the events waiting runs
// need: an http.Handler that verifies
// a sender's signature, deduplicates its retries, checks the body against
// the pipeline's input contract and answers only once the run is stored.
// What it refuses for its content is recorded, never dropped.
//
//	h := intake.New(p, intake.Source{Name: "github", Verify: intake.GitHub(secret)})
//	if err := h.Err(); err != nil {
//		return err // a missing verifier, a malformed secret, a pipeline without a store
//	}
//	mux.Handle("POST /hooks/github", h)
//
// NewEvents makes the handler of a source whose deliveries are events
// (see Events below): the same checks, in the same order, with the same
// answers.
//
// # Signatures
//
// Every Source names a Verifier, and nothing reads a body before it
// passes: StandardWebhooks (https://www.standardwebhooks.com, which Plumb's
// own notify.Webhook signs with), GitHub (X-Hub-Signature-256), Stripe
// (Stripe-Signature, with its timestamp tolerance), Shopify
// (X-Shopify-Hmac-Sha256), HMAC for any other header scheme, and
// VerifyFunc for anything else. Every constructor takes several secrets,
// so that a secret can be rotated without refusing a delivery; MACs are
// compared in constant time. Unsigned accepts unsigned deliveries: it is
// a constructor, so that doing without a signature is written down. A
// delivery that fails is answered 401, counted (outcome unauthorized) and
// logged at warning level, and never stored: it may be a forgery.
//
// # The order of a delivery
//
// Each check answers at once, in this order:
//
//	method       not POST                                 405 method_not_allowed
//	size         over Source.MaxBody (1 MiB)              413 too_large
//	content type not in Source.ContentTypes (JSON)        415 unsupported
//	signature    the Verifier refuses it                  401 unauthorized
//	rate limit   over Source.RateLimit                    429 rate_limited, Retry-After
//	delivery id  none where Source.DeliveryID says        400 no_delivery_id, recorded as a refusal
//	contract     not JSON, or breaks the first step's     422 invalid, recorded as a dead letter
//	submit       the store failed                         503 unavailable, Retry-After
//	             the delivery id was seen                 200 duplicate, the first run's id
//	             stored                                   202 accepted, the run's id
//
// Every answer is an Answer in JSON, {"status": …, "run_id": …}, whose
// status is the outcome above. 202 comes only after Submit returned, which
// is after the store acknowledged the write: a crash after the answer
// loses nothing, and a crash before it makes the sender retry.
//
// # Duplicates
//
// A sender retries a delivery it is not sure arrived, under the same
// delivery id (each scheme says where it is; Source.DeliveryID overrides
// it). The run is submitted with the idempotency key
// "webhook:<name>:<delivery id>", so that the store makes one run per id,
// however many copies arrive at once, on however many hosts; a copy is
// answered 200 with the first run's id and "duplicate": true. A copy
// whose body differs is still that delivery: one resent after a refusal,
// its body corrected, finds the dead letter (replay that), and one
// resent after an acceptance with a body that now breaks the contract
// finds the accepted run.
//
// # Nothing refused is lost
//
// A body that is not JSON, or that breaks the input contract, is answered
// 422 with the violations (a JSON pointer, a keyword and a message each),
// and recorded in the store as a dead-lettered run of the pipeline at its
// first step, with the body as its input (a body that is not JSON is kept
// as a JSON string of its text, or of its base64 when it is not text), the
// trigger and the same idempotency key: a resent bad delivery finds that
// record instead of making a second one. The pipeline's definition is
// recorded first (Pipeline.Register), so that a replay finds what the
// record names even before any run was submitted. `plumb deadletters list` lists it;
// `plumb replay <run id> --set /email=ada@example.com` patches it, and a
// worker runs it like any other run.
//
// A delivery that passed its signature check but carries no usable
// delivery id (none where Source.DeliveryID says, two, or one that is too
// long; a body that is not JSON has no id in it) is answered 400
// no_delivery_id, and recorded the same way, under the delivery id
// "sha256:" and the first 16 bytes of the body's SHA-256 in hex: the same
// body resent finds that record. What a sender signed is never dropped
// for a missing id.
//
// # Events
//
// A run whose await step waits for an event (pipeline.Await: a payment
// confirmed, a reply) is woken by a webhook through NewEvents:
//
//	h := intake.NewEvents(rt, intake.Source{Name: "stripe", Verify: intake.Stripe(0, secret)},
//		intake.EventRoute{Name: "payment", Key: "/data/object/invoice", KeyPrefix: "invoice:", Payload: "/data/object"})
//
// Each delivery that passes the checks up to the rate limit is the event
// Name, its key read from the body at Key (after KeyPrefix; or by
// KeyFunc), its payload the body (or the part at Payload), its ID the
// delivery id and its Source "webhook:<name>": Runtime.SendEvent checks
// the payload against the await steps' contract and keeps it. The
// answers differ from a run's only in what they name:
//
//	contract     not JSON, no key, or breaks the contract  422 invalid, recorded as a refused event
//	send         no step awaits the event                  500 unavailable, the reason in the log
//	             the store failed                          503 unavailable, Retry-After
//	             the delivery id was seen                  200 duplicate, the event and the run that took it
//	             kept                                      202 accepted, the event's id and the run it woke, if any
//
// An event that comes before its wait is kept for it (EventRoute.Keep).
// A refused delivery is kept in the store as an event in the refused
// state (store.NewEvent.Refused) with its payload, given to no wait:
// `plumb events list --refused` lists it, and `plumb events send` with the
// corrected payload and its --source and --id (or the sender's own retry,
// once fixed) takes its place and wakes the run. An event nobody awaits
// is Err at build: no pipeline bound to the runtime has an await step for
// it, and no definition registered in the store does (read once at
// build; a store that cannot be read then is only a warning, and the
// handler answers 500 while nothing awaits the event). Silence goes to the
// runtime's notifier.
//
// # Silence
//
// A source that stops delivering is the failure nobody hears of. With
// Source.ExpectEvery, Handler.Watch sends one notify.Silent event naming
// "webhook:<name>" when no valid delivery arrived for that long, counting
// from the store's last run of the source after a restart. The event goes
// through Pipeline.Notify: the pipeline's notifier (its Policy's, else its
// runtime's), with its digest, like the pipeline's own events; a pipeline
// without one logs a warning at every check while the silence lasts.
//
// # The runtime's settings
//
// A Handler has no clock, telemetry or logger of its own: it takes its
// pipeline's runtime's (Runtime.Config), so that a delivery is stamped by
// the clock its run is stamped with, and a test that moves the runtime's
// clock (pipelinetest's Kit hands one out) moves the handler's signature
// tolerance, rate limit and silence watch too.
//
// # Telemetry
//
// On the runtime's telemetry, the counter plumb.intake.deliveries has the
// attributes plumb.source ("webhook:<name>") and plumb.outcome (the
// Answer's status); each delivery has a server span "plumb.intake
// webhook:<name>" with the run's id (plumb.run.id), its outcome and its
// HTTP status, in error only when the store failed.
package intake
