package main

import (
	"encoding/json"
	"math"
	"slices"
	"strings"
	"time"

	exmodels "github.com/plumb-dev/plumb/examples/internal/models"
	"github.com/plumb-dev/plumb/llm"
	"github.com/plumb-dev/plumb/llm/llmtest"
)

// models returns the model and a cheaper fallback: the real provider when
// an API key is set, else scripted models with injected faults, each article
// meeting its own (see models.Pick).
func models(seed int64, overlong string) (primary, cheap llm.Model, desc string, err error) {
	s := script{seed: uint64(seed), overlong: overlong}
	return exmodels.Pick(exmodels.Scripted{
		Key: func(req llm.Request) string { it, _ := briefOf(req); return it.Article.ID },
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
func briefOf(req llm.Request) (Brief, bool) {
	return exmodels.FromPrompt[Brief](req, "Article brief: ")
}

// script writes posts like a competent model, and makes the field-level
// mistakes real models make, each decided by the post's id and the seed.
// On one article (see overlong) it writes the X post at LinkedIn length,
// which no re-ask catches: the draft's contract allows it, and only X's
// own rules, checked when the post is formatted, refuse it.
type script struct {
	seed     uint64
	overlong string
}

// roll is a number in [0, 1) fixed by the seed, the item and the purpose.
func (s script) roll(id, purpose string) float64 {
	return exmodels.Roll(s.seed, id, purpose)
}

// unsure says whether the model is unsure of one of the article's posts.
func (s script) unsure(articleID string) bool { return s.roll(articleID, "unsure") < 0.08 }

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

// mistakeFor decides the mistake of one post in an answer. About one first
// answer in eight has one; re-asked, the model fixes it, except on the
// stubborn posts, which go on to the cheaper model; on a few of those, it
// fails too.
func (s script) mistakeFor(postID string, cheap bool, turn int) mistake {
	slips := exmodels.Slips{Seed: s.seed, Rate: 0.12, Stubborn: 0.35, Both: 0.3}
	return mistake(slips.Pick(postID, cheap, turn, int(mistakes)))
}

func (s script) respond(cheap bool) func(llm.Request) llmtest.Answer {
	return func(req llm.Request) llmtest.Answer {
		b, ok := briefOf(req)
		if !ok {
			return llmtest.Text("I can only write posts from an article brief.")
		}
		turn := exmodels.Turn(req)
		var ans Drafts
		var drop []int // posts whose publish_date the answer leaves out
		for _, ch := range b.Channels {
			id := postID(b.Article.ID, ch)
			d := s.write(b, ch, cheap)
			m := s.mistakeFor(id, cheap, turn)
			if b.Article.ID == s.overlong {
				m = noMistake // its one mistake is the X post's length
			}
			switch m {
			case brokenURL:
				if s.roll(id, "url") < 0.5 {
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
				d.Text = strings.Repeat(b.Article.Summary+" ", 1+3000/len(b.Article.Summary))
			case percentConfidence:
				d.Confidence = math.Round(d.Confidence * 100)
			case hashtagWithSpace:
				d.Hashtags[0] = "#" + strings.ReplaceAll(b.Article.Title, ":", "")
			case missingField:
				drop = append(drop, len(ans.Posts))
			}
			ans.Posts = append(ans.Posts, d)
		}
		if len(drop) > 0 {
			return withoutDates(ans, drop)
		}
		return llmtest.JSON(ans)
	}
}

// withoutDates answers with the publish_date of some posts left out: the
// dropped required field a contract has to catch.
func withoutDates(ans Drafts, posts []int) llmtest.Answer {
	var obj struct {
		Posts []map[string]any `json:"posts"`
	}
	raw, _ := json.Marshal(ans)
	_ = json.Unmarshal(raw, &obj)
	for _, i := range posts {
		delete(obj.Posts[i], "publish_date")
	}
	return llmtest.JSON(obj)
}

// write drafts the post a careful model would.
func (s script) write(b Brief, ch string, cheap bool) Draft {
	a := b.Article
	id := postID(a.ID, ch)
	d := Draft{Channel: ch, URL: a.URL + "?utm_source=" + ch + "&utm_campaign=repurpose",
		PublishDate: b.Slot, Status: "scheduled"}
	for _, t := range a.Tags {
		d.Hashtags = append(d.Hashtags, "#"+strings.ToUpper(t[:1])+t[1:])
	}
	first, _, _ := strings.Cut(a.Summary, ". ")
	switch {
	case ch == "x" && a.ID == s.overlong:
		d.Text = longText(a)
	case cheap || ch == "x":
		d.Text = fit(a.Title+": "+strings.TrimSuffix(first, ".")+".", room(d))
	case ch == "mastodon":
		d.Text = fit(a.Title+"\n\n"+a.Summary, room(d))
	default:
		d.Text = longText(a)
	}
	published, _ := time.Parse(time.DateOnly, a.Date)
	switch {
	case flagged(a):
		d.Status, d.Note = "needs_edit", flagNote(a)
	case ch == "linkedin" && today.Sub(published) > 180*24*time.Hour:
		d.Status = "draft" // evergreen long-form: hold it for a quiet week
	}
	d.Confidence = 0.74 + 0.24*s.roll(id, "confidence")
	if ch == "mastodon" && s.unsure(a.ID) {
		d.Confidence = 0.41 + 0.17*s.roll(id, "confidence")
	}
	if cheap {
		d.Confidence = 0.62 + 0.2*s.roll(id, "confidence")
	}
	d.Confidence = math.Round(d.Confidence*100) / 100
	return d
}

// longText is a LinkedIn post: the article's title, its summary and a
// question for the comments.
func longText(a Article) string {
	return "New on the blog: " + a.Title + "\n\n" + a.Summary + "\n\nWhat would you add? Tell us in the comments: we read every one."
}

// flagged says whether the article's posts need a person before they go
// out: a customer named before their case study is approved, a price
// change before its date is confirmed.
func flagged(a Article) bool { return flagNote(a) != "" }

func flagNote(a Article) string {
	switch {
	case strings.Contains(a.Summary, "before the case study is approved"):
		return "It names a customer whose case study is not approved yet: check with them before it goes out."
	case slices.Contains(a.Tags, "pricing"):
		return "It announces a price change: check the date with product marketing."
	}
	return ""
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
