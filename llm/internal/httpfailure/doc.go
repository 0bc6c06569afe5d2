// Package httpfailure turns the failed calls of a provider's SDK into
// classified *llm.Error values, the same way for every model adapter: what
// Plumb's retry layer decides on (transient, permanent, cancelled) must not
// depend on which provider failed.
//
// # Classifying a failure
//
// A Classifier holds what differs between providers: their name, and a
// Refine hook that reads the provider's own error types (OpenAI's
// insufficient_quota, Anthropic's overloaded_error) from the parsed error
// body. Everything else is shared: the caller's context decides first
// (cancelled, deadline passed), then the HTTP status through
// llm.ClassOfStatus, then the kind of transport error (timeout, connection,
// bad certificate, unreadable body, request never sent). An x-should-retry
// header, which the providers' own SDKs honour, has the last word on the
// class.
//
// # Error bodies
//
// ParseBody reads an error body in whichever shape the server used: the
// {"error": {"message", "type", "code"}} envelope OpenAI and Anthropic
// share, a gateway's {"error": "text"}, {"message": ...} or {"detail": ...},
// or plain text and HTML from a proxy. Messages are clipped to a readable
// size without splitting a UTF-8 sequence.
//
// # Waits
//
// RetryAfter reads the standard headers: retry-after-ms, then retry-after in
// seconds or as an HTTP date. A provider with more headers (OpenAI's
// x-ratelimit-reset-*) sets Classifier.Wait and builds on RetryAfter and
// ParseWait. Every wait is bounded by MaxWait, so that a silly value cannot
// overflow.
package httpfailure
