package intake

import (
	"errors"
	"fmt"
	"math"
	"mime"
	"strings"
	"time"
)

// DefaultMaxBody is the largest body a Source accepts when it names no
// limit.
const DefaultMaxBody = 1 << 20

// Source describes one sender of webhooks: how its deliveries are signed,
// identified and limited. Its zero value is not usable: Name and Verify
// are required. Every other field is optional.
type Source struct {
	// Name names the sender ("github", "stripe", "typeform"). Runs it
	// submits have the trigger source "webhook:<name>", which the CLI,
	// the inbox, the silence watch and the telemetry show. Required:
	// letters, digits, '.', '_' and '-'.
	Name string
	// Verify checks every delivery's signature. Required: a delivery whose
	// signature fails is answered 401, counted and logged, and never
	// stored. Unsigned() accepts deliveries without one, on purpose.
	Verify *Verifier
	// DeliveryID is where a delivery carries its id, which stays the same
	// when the sender retries it; a second delivery with the same id
	// returns the first one's run. Defaults to the scheme's own
	// (webhook-id, X-GitHub-Delivery, the Stripe event's "id",
	// X-Shopify-Webhook-Id); required with HMAC, VerifyFunc and Unsigned
	// unless the scheme names one. A delivery without an id is refused
	// with 400.
	DeliveryID DeliveryID
	// ExternalID is a JSON pointer to the item's id in the body ("/lead/id"),
	// recorded as the run's trigger external id, so that `plumb runs find
	// <id>` finds it. Defaults to none. A handler of events (NewEvents)
	// has no run to record it on, and ignores it.
	ExternalID string
	// MaxBody is the largest body accepted, in bytes; a larger one is
	// answered 413. Defaults to DefaultMaxBody (1 MiB).
	MaxBody int64
	// ContentTypes are the media types accepted; another is answered 415.
	// Defaults to application/json.
	ContentTypes []string
	// RateLimit bounds the deliveries accepted from this source; one over
	// it is answered 429 with Retry-After. Defaults to no limit. The
	// bucket is the handler's, in its process: behind a load balancer, N
	// processes accept up to N times the rate, so give each its share.
	RateLimit RateLimit
	// ExpectEvery declares how often a valid delivery is expected: when
	// none arrives for longer, Watch sends one notify.Silent event naming
	// "webhook:<name>" through the pipeline's notifier (its Policy's, else
	// its runtime's: Pipeline.Notify). Defaults to no expectation.
	ExpectEvery time.Duration
}

// DeliveryID says where a delivery carries its id: in a header, or in
// the body at a JSON pointer. Set one of the two.
type DeliveryID struct {
	// Header names the header ("X-GitHub-Delivery").
	Header string
	// Field is a JSON pointer into the body ("/id"); the value must be a
	// string or a number.
	Field string
}

func (d DeliveryID) zero() bool { return d.Header == "" && d.Field == "" }

func (d DeliveryID) String() string {
	if d.Header != "" {
		return "header " + d.Header
	}
	return "body field " + d.Field
}

// RateLimit is a token bucket: Rate deliveries a second on average, in
// bursts of up to Burst.
type RateLimit struct {
	// Rate is the deliveries per second refilled. Zero means no limit.
	Rate float64
	// Burst is the bucket's size. Defaults to Rate rounded up (at least 1).
	Burst int
}

// maxDeliveryID bounds a delivery id: it becomes part of an idempotency
// key.
const maxDeliveryID = 200

// resolved is a Source with its defaults applied.
type resolved struct {
	Source
	trigger string // "webhook:<name>"
	types   []string
}

func resolve(src Source) (resolved, error) {
	r := resolved{Source: src, trigger: "webhook:" + src.Name}
	var errs []error
	if !validName(src.Name) {
		errs = append(errs, fmt.Errorf("intake: Source.Name %q: give the sender a short name of letters, digits, '.', '_' or '-' (\"github\"): runs record it as their trigger", src.Name))
	}
	switch {
	case src.Verify == nil:
		errs = append(errs, errors.New("intake: Source.Verify is nil: name the sender's scheme (intake.StandardWebhooks, GitHub, Stripe, Shopify, HMAC, VerifyFunc), or intake.Unsigned() to accept deliveries nobody signed"))
	case src.Verify.err != nil:
		errs = append(errs, src.Verify.err)
	}
	if r.DeliveryID.zero() && src.Verify != nil {
		r.DeliveryID = src.Verify.id
	}
	switch {
	case r.DeliveryID.Header != "" && r.DeliveryID.Field != "":
		errs = append(errs, errors.New("intake: Source.DeliveryID names both a header and a body field: set one"))
	case r.DeliveryID.zero() && src.Verify != nil:
		errs = append(errs, fmt.Errorf("intake: source %s: the %s scheme has no delivery id of its own: set Source.DeliveryID to the header or body field that stays the same when the sender retries", src.Name, src.Verify.scheme))
	case r.DeliveryID.Field != "":
		if _, err := parsePointer(r.DeliveryID.Field); err != nil {
			errs = append(errs, fmt.Errorf("intake: Source.DeliveryID.Field: %w", err))
		}
	}
	if src.ExternalID != "" {
		if _, err := parsePointer(src.ExternalID); err != nil {
			errs = append(errs, fmt.Errorf("intake: Source.ExternalID: %w", err))
		}
	}
	if r.MaxBody <= 0 {
		r.MaxBody = DefaultMaxBody
	}
	if len(src.ContentTypes) == 0 {
		r.types = []string{"application/json"}
	}
	for _, t := range src.ContentTypes {
		mt, _, err := mime.ParseMediaType(t)
		if err != nil || !strings.Contains(mt, "/") {
			errs = append(errs, fmt.Errorf("intake: Source.ContentTypes: %q is not a media type (\"application/json\")", t))
			continue
		}
		r.types = append(r.types, mt)
	}
	if rl := src.RateLimit; rl.Rate < 0 || math.IsNaN(rl.Rate) || math.IsInf(rl.Rate, 0) || rl.Burst < 0 {
		errs = append(errs, fmt.Errorf("intake: Source.RateLimit %+v: give a positive rate per second (and burst), or leave it zero for none", rl))
	} else if rl.Rate > 0 && rl.Burst == 0 {
		r.RateLimit.Burst = max(1, int(math.Ceil(rl.Rate)))
	}
	if src.ExpectEvery < 0 {
		errs = append(errs, fmt.Errorf("intake: Source.ExpectEvery %v is negative", src.ExpectEvery))
	}
	return r, errors.Join(errs...)
}

func validName(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	return !strings.ContainsFunc(s, func(c rune) bool {
		return !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-')
	})
}
