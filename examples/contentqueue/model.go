package main

import (
	"math"
	"strings"
	"time"

	exmodels "github.com/plumb-dev/plumb/examples/internal/models"
	"github.com/plumb-dev/plumb/llm"
	"github.com/plumb-dev/plumb/llm/llmtest"
)

// models returns the model and a cheaper fallback: the real provider when
// an API key is set, else scripted models with injected faults, each item
// meeting its own (see models.Pick).
func models(seed int64) (primary, cheap llm.Model, desc string, err error) {
	s := script{seed: uint64(seed)}
	return exmodels.Pick(exmodels.Scripted{
		Key: func(req llm.Request) string { it, _ := briefOf(req); return it.PostID },
		Primary: llmtest.Config{Model: "scripted-large", Respond: s.respond(false), Latency: 2 * time.Millisecond,
			// On top of the field mistakes script makes: prose around
			// broken JSON, dropped fields, wrong enums, answers cut
			// off, 429s, 500s, timeouts, refusals.
			Faults: llmtest.Faults{Seed: seed, MalformedJSON: 0.03, MissingField: 0.02, WrongEnum: 0.03, Truncated: 0.01,
				RateLimited: 0.03, ServerError: 0.02, Timeout: 0.01, Refusal: 0.01, RetryAfter: 20 * time.Millisecond}},
		Cheap: llmtest.Config{Model: "scripted-small", Respond: s.respond(true), Latency: time.Millisecond,
			Faults: llmtest.Faults{Seed: seed + 1, MalformedJSON: 0.02, WrongEnum: 0.02, Refusal: 0.01}},
	})
}

// briefOf reads the brief back from the prompt.
func briefOf(req llm.Request) (Brief, bool) { return exmodels.FromPrompt[Brief](req, "Post brief: ") }

// script writes posts like a competent model, and makes the field-level
// mistakes real models make, each decided by the post's id and the seed.
type script struct{ seed uint64 }

// roll is a number in [0, 1) fixed by the seed, the post and the purpose.
func (s script) roll(postID, purpose string) float64 {
	return exmodels.Roll(s.seed, postID, purpose)
}

type mistake int

const (
	noMistake mistake = iota
	brokenURL
	dateInWords
	pastDate
	inventedStatus
	tooLong
	missingField
	percentConfidence
	hashtagWithSpace
	mistakes // how many kinds there are
)

// mistakeFor decides the mistake of one answer. About one first answer in
// five has one; re-asked, the model fixes it, except on the stubborn posts,
// which go on to the cheaper model; on a few of those, it fails too.
func (s script) mistakeFor(b Brief, cheap bool, turn int) mistake {
	slips := exmodels.Slips{Seed: s.seed, Rate: 0.2, Stubborn: 0.35, Both: 0.45}
	m := mistake(slips.Pick(b.PostID, cheap, turn, int(mistakes)))
	if m == tooLong && b.Channel == "linkedin" {
		m = dateInWords // 3,000 characters is hard to overrun
	}
	return m
}

func (s script) respond(cheap bool) func(llm.Request) llmtest.Answer {
	return func(req llm.Request) llmtest.Answer {
		b, ok := briefOf(req)
		if !ok {
			return llmtest.Text("I can only write a post from a brief.")
		}
		turn := exmodels.Turn(req)
		d := s.write(b, cheap)
		switch s.mistakeFor(b, cheap, turn) {
		case brokenURL:
			if s.roll(b.PostID, "url") < 0.5 {
				d.URL = strings.TrimPrefix(d.URL, "https://")
			} else {
				d.URL = "https://blog.plumb.dev/posts/" + b.Article.Title
			}
		case dateInWords:
			d.PublishDate = "next Tuesday"
		case pastDate:
			d.PublishDate = b.Article.Date
		case inventedStatus:
			d.Status = "ready_to_post"
		case tooLong:
			d.Text = strings.Repeat(b.Article.Summary+" ", 1+maxChars[b.Channel]/len(b.Article.Summary))
		case percentConfidence:
			d.Confidence = math.Round(d.Confidence * 100)
		case hashtagWithSpace:
			d.Hashtags[0] = "#" + strings.ReplaceAll(b.Article.Title, ":", "")
		case missingField:
			return exmodels.Without(d, "publish_date")
		}
		return llmtest.JSON(d)
	}
}

// write drafts the post a careful model would.
func (s script) write(b Brief, cheap bool) Draft {
	a := b.Article
	d := Draft{Channel: b.Channel, URL: a.URL + "?utm_source=" + b.Channel + "&utm_campaign=repurpose",
		PublishDate: b.Slot, Status: "scheduled"}
	first, _, _ := strings.Cut(a.Summary, ". ")
	switch {
	case cheap:
		d.Text = fit(a.Title+": "+strings.TrimSuffix(first, ".")+".", maxChars[b.Channel])
	case b.Channel == "x":
		d.Text = fit(a.Title+": "+strings.TrimSuffix(first, ".")+".", maxChars["x"])
	case b.Channel == "mastodon":
		d.Text = fit(a.Title+"\n\n"+a.Summary, maxChars["mastodon"])
	default:
		d.Text = "New on the blog: " + a.Title + "\n\n" + a.Summary + "\n\nWhat would you add? The link is in the first comment."
	}
	for _, t := range a.Tags {
		d.Hashtags = append(d.Hashtags, "#"+strings.ToUpper(t[:1])+t[1:])
	}
	published, _ := time.Parse(time.DateOnly, a.Date)
	switch {
	case strings.Contains(a.Summary, "before the case study is approved"):
		d.Status, d.Note = "needs_edit", "It names a customer whose case study is not approved yet: check with them before it goes out."
	case strings.Contains(strings.Join(a.Tags, ","), "pricing"):
		d.Status, d.Note = "needs_edit", "It announces a price change: check the date with product marketing."
	case b.Channel == "linkedin" && today.Sub(published) > 180*24*time.Hour:
		d.Status = "draft" // evergreen long-form: hold it for a quiet week
	}
	d.Confidence = 0.74 + 0.24*s.roll(b.PostID, "confidence")
	if s.roll(b.PostID, "unsure") < 0.07 {
		d.Confidence = 0.41 + 0.17*s.roll(b.PostID, "confidence")
	}
	if cheap {
		d.Confidence = 0.62 + 0.2*s.roll(b.PostID, "confidence")
	}
	d.Confidence = math.Round(d.Confidence*100) / 100
	return d
}

// fit cuts s to at most n characters, at a word, with an ellipsis.
func fit(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	cut := string(r[:n-1])
	if i := strings.LastIndexByte(cut, ' '); i > 0 {
		cut = cut[:i]
	}
	return cut + "…"
}
