// Package notify tells people when something needs them: a run that was
// dead-lettered, a decision waiting in the review inbox, a pipeline that
// paused itself or went quiet. It is how Plumb keeps its promise that nothing
// fails silently.
//
// # Events
//
// An Event says what happened (its Kind), where (pipeline, step, run id),
// why (error class and reason) and where a person can look (Link: a review
// inbox URL or a CLI command). The kinds are dead_lettered, review_needed,
// review_overdue (a review passed its deadline), paused, resumed,
// budget_exceeded, sink_failed (a dead-letter sink refused a letter; the
// store still holds it), silent (a pipeline received no runs when it
// should have), cancelled, and held (a worker of a changed definition
// held a run its records break: the reason says what broke and how to
// replay it). Routine success is never notified.
//
// A Notifier receives events. NewSlog logs them; NewWebhook posts them; Func
// adapts a function; Multi fans out to several, so that one broken channel
// does not silence the others. Digest and SilenceWatch wrap a Notifier.
//
// # Never blocking
//
// Notify is called on the pipeline's own path, so a slow or dead receiver
// must not slow the pipeline. A Webhook's Notify only puts the event on a
// bounded queue and returns; one goroutine delivers the queue, with a
// timeout per attempt and retries with backoff (honouring Retry-After on 429
// and 503; a 4xx other than 408 and 429 is not retried). When the queue is
// full the event is dropped, never silently: a warning is logged, OnDrop is
// called so telemetry can count it, and Notify returns ErrQueueFull. An event
// that fails for good is logged and passed to OnError. Close drains the
// queue, for as long as its context allows.
//
// A Webhook never follows a redirect. A client that follows a 301 or 302
// turns the POST into a GET without the body, and a 200 to that GET would
// count as delivered an event nobody received. Any 3xx is a failed delivery,
// not retried, passed to OnError as a *RedirectError (ErrRedirect) that says
// where the receiver pointed: configure that final URL instead.
//
// # Signing
//
// A Webhook with a Secret signs every request as the Standard Webhooks
// specification says (https://www.standardwebhooks.com), so a receiver can
// tell Plumb's requests from forgeries and replays, with VerifySignature or
// any Standard Webhooks library:
//
//	webhook-id:        <delivery id, the same across retries>
//	webhook-timestamp: <unix seconds of the attempt>
//	webhook-signature: v1,<base64 HMAC-SHA256(key, "<id>.<timestamp>.<body>")>
//
// The secret is "whsec_" and the base64 of the key (NewSecret makes one).
// The MAC covers the delivery id, so a captured request replayed with a
// fresh id (to get past a receiver's duplicate check) fails; it covers the
// timestamp, so a receiver can refuse a request more than a few minutes
// old; and it covers the raw body, which carries the event's kind (the
// "event" field of JSONFormat, the text of SlackFormat), so a receiver that
// routes on the kind in the verified body routes on signed data. There is
// no unsigned header to route on. A receiver recomputes the MAC over the
// body as received, before parsing it, and compares in constant time;
// VerifySignature does all of that, using the Standard Webhooks reference
// library for the MAC. A custom Format should put the kind in its body too.
//
// The body is the Event as JSON by default (JSONFormat). SlackFormat makes a
// Slack-style incoming-webhook message instead; any function of the same
// shape can be the Format.
//
// # Digests
//
// A broken upstream can dead-letter hundreds of runs a minute, and a page per
// run teaches people to mute the channel. NewDigest groups events by kind,
// pipeline, step and class: the first of a group goes out at once, the rest
// of its window (a minute by default) go out as one digest event with a
// count, a few sample run ids and the first reason. 500 dead letters in a
// minute make two messages.
//
// # Silence
//
// Some failures make no event at all: the cron job that stopped, the form
// that lost its webhook. NewSilenceWatch knows how often each pipeline
// expects a run (Expect), is told of every run (Seen), and sends one silent
// event when a pipeline has gone quiet for longer than expected. Seed starts
// it from the store's last run time after a restart, so a restart does not
// hide a silence.
package notify
