// Package console is the operator's console of a Plumb deployment: an
// http.Handler that shows every pipeline, finds runs, shows a run's whole
// record and recovers the failed ones, in the browser, with the review
// inbox (package reviewhttp) mounted inside it.
//
// It is the web face of the store's Ops half, as the plumb CLI is its
// terminal face: it never runs step code. A replay, a cancellation, a
// pause or a review decision is an intent written to the store, carried
// out by a worker of the application's own binary.
//
// # Pages
//
//   - Overview: each pipeline's queued, running, waiting, awaiting review,
//     dead-lettered and held runs, its pause, its recent pauses and resumes
//     with who took each and why (store.Ops.PipelineLog: an operator's, or
//     the breaker's as "breaker:<step>"), the mean recovery time (dead
//     letter to success), and each step's failure rate per hour over the
//     last 24 hours as an SVG chart drawn on the server, readable without
//     colour (hatched bars, labelled axes, a title on every bar).
//   - Runs: a search by pipeline, status, step, error class, external id,
//     idempotency key and time of the last update, paged by the store's
//     keyset cursor (never an offset, never a count of the rest).
//   - A run: the timeline `plumb runs show` prints — the trigger, every
//     attempt of the run and why it started (who replayed it), each step
//     with its attempts, errors, classes and violations, raw model answers
//     and a line diff of each re-ask's answer against the answer it
//     corrects, the review, the tree of branch runs, and a link to the
//     trace (Config.TraceURL).
//   - Dead letters: grouped by pipeline, step and error class.
//
// # Acting
//
// Operators replay a run from a step, with an edited input that is checked
// against the step's input contract (store.ValidateJSON, then
// store.ReplayRun) before anything is written: a patch that breaks it
// comes back with each violation at its JSON pointer. They replay a group
// of dead letters, or cancel the runs a search matches, after a dry run
// that lists and counts them; the batch then runs in the background with a
// page that shows its progress. They pause and resume pipelines with a
// reason, which both forms require. Every action records who took it
// where the store keeps it, and the console shows it: the replayed
// attempt's reason ("replay from parse by ana@example.com") and the run's
// cancellation on the run's page, the decision in its review, and the
// pause or resume (store.Pause.By, store.Resume.By) in the pipeline's log
// on the overview.
//
// # Security
//
// Config.Authorize is required and sees every request: it names the
// person and their Role. A Viewer sees every page and is offered no
// action; a POST from one is refused with 403. The inbox inside reads the
// same for a viewer: the review and its proposal, no decision form
// (reviewhttp.Config.CanDecide), and a decision sent anyway is a 403. Every form carries an anti-forgery token bound to the person
// (an HMAC, no session), and http.CrossOriginProtection refuses
// cross-origin posts (both as in the inbox: the code is internal/webui's).
// Responses carry a Content-Security-Policy that runs
// only the console's own stylesheet and script, by nonce; nothing comes
// from a CDN (the assets are embedded). Text from users and models is
// escaped and isolated, with directional controls shown by name.
//
// # Live pages
//
// Pages are rendered on the server and work without JavaScript. A small
// embedded script refreshes their figures every Config.Poll by fetching
// the page again and replacing the parts that changed, never while the
// person is typing; a batch's progress page refreshes itself without
// script. The poll is a conditional request: the page's ETag is a hash of
// it without its nonce and form token, and while the page says the same
// the answer is a 304 with no body to send, parse or compare.
package console
