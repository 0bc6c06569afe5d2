// Package adaptertest is the conformance suite every model adapter passes:
// Run(t, Provider{...}) drives an adapter against a local httptest server that
// speaks the provider's wire format, one scenario at a time, and checks that
// each outcome is classified the way Plumb's retry, re-ask and review paths
// expect.
//
// # What a provider supplies
//
// An adapter's test supplies three things: New, which builds the adapter
// against a base URL; Serve, which returns an http.Handler answering a
// Scenario in the provider's own wire format (status, body, error envelope);
// and Decode, which reads a request body back into the provider-neutral
// Request, so the suite can assert on what was really sent (the model, the
// system prompt, the token cap, and the schema of a structured-output call).
//
// Fake servers answer with the fixtures this package exports (AnswerText,
// ServedModel, InputTokens...), which lets the suite check that the adapter
// read the text, the model, the id and the usage from the body rather than
// echoing its request.
//
// # What the suite does itself
//
// Rate-limit headers (retry-after in seconds, as an HTTP date, and
// retry-after-ms) are added by the suite around the provider's handler, so
// every adapter is held to the same values. Failures that have no wire format
// (a server that never answers before the deadline, a caller that cancels, a
// refused or reset connection, an HTML page from a proxy) are served by the
// suite. Every scenario also asserts that exactly one HTTP request was made:
// the SDKs' own retries must be off, because Plumb's retry layer owns retries
// and must see every failure.
package adaptertest
