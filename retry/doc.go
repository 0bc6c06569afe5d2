// Package retry classifies failures and decides when to try again.
//
// # Classes
//
// Every failure in Plumb has a Class, and the class decides its path:
// ClassTransient is retried with backoff; ClassPermanent is not retried and
// goes to fallbacks; ClassContract (a value that broke its contract) is
// re-asked or repaired, then falls back; ClassNeedsReview goes straight to a
// human; ClassCancelled means the context ended and the run stays
// resumable; ClassBudget means a token, cost or attempt budget is spent;
// ClassRefusal is a model that declined to answer.
//
// Each class has a sentinel (ErrTransient, ErrPermanent, ...) and errors are
// classified by constructors that wrap them: Permanent(err), Transient(err),
// After(err, d) for a server that said when to come back. Classify reads the
// class back from any error chain; errors.Is(err, retry.ErrContract) works on
// every error Plumb returns.
//
// # Known and unclassified errors
//
// An error nobody classified (errors.New("field x is malformed")) is
// transient to Classify, so a step's retry policy retries it: a flaky call
// that returns a bare error still gets its second chance. But nothing says
// it will pass, and an hour in the queue turns a data bug into something
// that looks like an outage. Known tells the two apart: it is true for
// errors marked with a class (Transient, Permanent, After, the model
// adapters' errors), context errors, network timeouts, reset, refused and
// aborted connections, broken pipes, io.ErrUnexpectedEOF and the attempt
// timeout. A step that gives up on an unclassified error reports it as
// permanent, and a pipeline dead-letters it instead of waiting out its
// outage schedule. Wrap an error with Transient if retrying later can help,
// with Permanent if it cannot.
//
// # Policies
//
// A Policy is exponential backoff with jitter (on cenkalti/backoff/v4), a
// maximum number of attempts, a maximum elapsed time and a per-attempt
// timeout. Its zero value is a sensible default. A wait asked for by the
// other side (an error with a RetryAfter() time.Duration method, as an HTTP
// 429 carries) is honoured: the next attempt starts no sooner.
//
// Policy.Do runs a function under the policy; Policy.Start returns a
// Schedule for callers that run their own loop (the step runner does).
// A cancelled context stops at once: the error is ClassCancelled, never a
// failure of the work itself.
//
// # Time
//
// Policies read time through a Clock. Tests use retrytest.Clock, whose
// Sleep advances time instantly and records the wait, so no test sleeps.
package retry
