// Package reviewhttp is the review inbox for people: an http.Handler that a
// service mounts to let its reviewers see the runs waiting for a human
// decision, and approve (as proposed, or edited) or reject them. It serves
// HTML pages for people and a JSON API for programs, over the store alone:
// it never runs step code. A decision is an intent written to the store; a
// worker of the application's own binary resumes an approved run at the
// next step, and a rejected run is dead-lettered with the reviewer's reason.
//
// # Mounting
//
// Build the handler with New and mount it at its BasePath, without
// stripping the prefix:
//
//	inbox, err := reviewhttp.New(reviewhttp.Config{
//		Store:     st, // the store the pipelines run on
//		BasePath:  "/review/",
//		Authorize: func(r *http.Request) (string, bool) { return currentUser(r) },
//	})
//	mux.Handle("/review/", inbox)
//
// Config.Pipelines limits the inbox to some pipelines (runs of others are
// 404s), so that a team sees only its own. Approved runs are picked up by
// the workers' polling (pipeline.WorkerConfig.Poll, one second by
// default), or at once on a store that wakes workers.
//
// # Authentication
//
// Config.Authorize is required: New refuses to build an inbox without it.
// Every request, page or API, goes through it; it returns the reviewer's
// name, which the store records with each decision ("approved by
// ana@example.com"), or ok=false, which answers 401 (or whatever
// Config.Unauthorized does: a redirect to a login page, a Basic auth
// challenge). Authorize saying ok with an empty name is refused too: a
// decision must name who took it. Config.CanDecide tells those who may
// only read apart: they see the inbox and each review with its proposal,
// with no decision form and no token, and their decisions, pages and API
// alike, are refused with 403 (the console gives it to its viewers).
// Authorization finer than that is the application's, in Authorize or in
// Config.Pipelines.
//
// # CSRF design
//
// A reviewer's browser holds the credentials (a session cookie, a Basic
// auth cache), so a hostile page could try to make it post a decision.
// Two independent layers refuse that:
//
//  1. Every request passes Go's http.CrossOriginProtection, which refuses
//     state-changing requests a browser marks as cross-origin (the
//     Sec-Fetch-Site header, or an Origin that is not the request's host).
//     Requests without either header come from non-browser clients and
//     pass: they hold no ambient credentials. Config.TrustedOrigins admits
//     other origins of your own.
//  2. The HTML forms carry a token: the time it was issued and an
//     HMAC-SHA256, under Config.CSRFKey, of the reviewer's name and that
//     time. POSTs of the forms are refused (403) without a valid token for
//     the same reviewer, issued less than 12 hours ago. It needs no
//     server-side session, works with any authentication, and a token
//     leaked from one reviewer's page is useless to anyone else. With the
//     default random key, pages opened before a restart (or served by
//     another replica) must be reloaded; set CSRFKey to share one.
//
// The JSON API requires Content-Type: application/json on its POSTs, which
// no HTML form can send cross-site without a CORS preflight the handler
// never grants: a third guard for it. Forms and API bodies also name the
// review they decide (run attempt and step); a decision on a review that
// was decided meanwhile, or replaced by a later one, is refused with 409
// rather than applied to something the reviewer never saw.
//
// Every response carries a Content-Security-Policy that allows no script
// or style but the page's own, by a per-response nonce (no
// 'unsafe-inline'), refuses framing (frame-ancestors 'none'), and limits
// form targets to the inbox; plus X-Content-Type-Options: nosniff,
// Referrer-Policy: same-origin and Cache-Control: no-store. Everything
// shown (payloads, reasons, errors, raw model answers) is escaped by
// html/template: a payload holding <script> is shown, not run. Text from
// users and models is also isolated (<bdi>), and its directional control
// characters (U+202A–U+202E, U+2066–U+2069) are shown by name, or as \u
// escapes in JSON, instead of applied: a reason of "\u202egnp.exe" reads
// as it is written, not as "exe.png".
//
// The one cookie, the message shown once after a decision, is HttpOnly,
// SameSite=Lax and Secure over TLS; set Config.SecureCookies when a proxy
// in front of the inbox ends TLS.
//
// # What reviewers see
//
// The inbox ({base}) lists the pending reviews, oldest first: run,
// pipeline, step, why it needs a person, how long it has waited, and its
// deadline (overdue ones stand out, escalated ones are marked). A review's
// page ({base}reviews/{id}) shows the step's input, the reason, the
// proposed output in an editable JSON textarea (empty when the step failed
// and the reviewer must write it), the output's contract, and the run's
// whole timeline: each attempt of the run, each step with its attempts,
// errors and their class, contract violations, raw model answers, tokens,
// durations, and who did what. Approve sends the textarea (unchanged, it
// approves the proposal); Reject needs a reason. After a decision the
// browser is sent back to the inbox with a message; an edit that breaks
// the contract shows the page again with the violations (path: message)
// next to the reviewer's text, which is kept. A decided review's page
// shows the decision: who, when, edited or not, and why. The pages work
// without JavaScript; a little inline script checks the JSON as it is
// typed and resets it to the proposal. They fit a phone's screen: below
// 640 pixels the inbox's table becomes one card per review.
//
// Run ids "." and ".." cannot be path segments (browsers drop them, even
// percent-encoded); stores refuse them, and the pages link a run a store
// holds from before as {base}reviews/?id=.. instead.
//
// # JSON API
//
// All routes are under the base path and answer JSON:
//
//	GET  {base}api/reviews[?pipeline=name]
//	     200 {"reviews": [{"run_id", "pipeline", "step", "reason", "attempt",
//	          "opened_at", "deadline", "overdue", "escalated", "proposed",
//	          "url"}], "truncated": false}
//	GET  {base}api/reviews/{id}
//	     200 the run with its whole timeline (store.RunDetail)
//	POST {base}api/reviews/{id}/approve  {"output": <edited JSON>, "attempt": 1, "step": "draft"}
//	     every field optional: no output (or null) approves the proposal
//	     200 {"run": <store.Run>}
//	POST {base}api/reviews/{id}/reject   {"reason": "...", "attempt": 1, "step": "draft"}
//	     the reason is required
//	     200 {"run": <store.Run>}
//
// Errors are {"error": "...", "violations": [{"path", "keyword", "message",
// "value"}]} (violations only for 422) with the status saying what went
// wrong: 400 a malformed body (bad JSON, an unknown field, a missing
// reason), 401 Authorize refused, 403 a cross-origin request or a
// reader Config.CanDecide says may not decide, 404 an
// unknown run (or one of a pipeline outside Config.Pipelines) or route,
// 405 a method the route does not take (with Allow), 409 a run
// not awaiting review, already decided, or at another review than the one
// named, 413 a body over 4 MiB, 415 a body that is not application/json,
// 422 an output that breaks the step's contract (or none, when the step
// proposed none), 503 a closed store. The list shows at most 1,000
// reviews, oldest first, and says when there are more.
package reviewhttp
