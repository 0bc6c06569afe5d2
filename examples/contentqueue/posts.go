package main

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"time"
)

// today is the day the queue is planned from. It is fixed, so that a post
// "in the past" is the same post on every run of the example.
var today = time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC)

// channels are where posts go, with the longest text each accepts.
var (
	channels = []string{"x", "linkedin", "mastodon"}
	maxChars = map[string]int{"x": 280, "linkedin": 3000, "mastodon": 500}
)

// Article is a blog article, as the CMS exports it.
type Article struct {
	ID      string   `json:"id" jsonschema:"minLength=1"`
	Title   string   `json:"title" jsonschema:"minLength=1,maxLength=200"`
	URL     string   `json:"url" jsonschema:"format=uri"`
	Date    string   `json:"date" jsonschema:"format=date"`
	Summary string   `json:"summary" jsonschema:"minLength=20"`
	Tags    []string `json:"tags" jsonschema:"minItems=1"`
}

// Brief asks for one article's posts: the article, the channels to post
// it on, and the calendar's next free slot. It is the input of an article's
// run.
type Brief struct {
	Article  Article  `json:"article"`
	Channels []string `json:"channels" jsonschema:"minItems=1,maxItems=3"`
	Slot     string   `json:"slot" jsonschema:"format=date"`
}

var articleTopics = []struct{ title, summary, tags string }{
	{"Why retries lie to you", "Retries hide outages until the day they make them worse. We measured what exponential backoff with jitter does to a struggling API, and when to stop retrying and dead-letter instead.", "reliability,retries"},
	{"Contracts for model output", "A JSON Schema generated from your Go types catches the answers a model gets subtly wrong: the invented enum value, the date written in words, the field it forgot.", "ai,golang,schemas"},
	{"Customer story: how Northwind cut triage time", "Northwind's support team classifies 3,000 messages a day with a model and a review inbox. Their numbers, before the case study is approved.", "customers,support"},
	{"The dead-letter queue is a feature", "Failures you keep whole are failures you can fix. How we group dead letters by step and error class, and replay forty of them after one patch.", "reliability,queues"},
	{"Human review without the bottleneck", "Send only the uncertain five percent to a person, give them a deadline, and let everything else flow on. Notes from running a review inbox for a year.", "ai,operations"},
	{"Budgets for LLM calls", "Token budgets per step and per run stop one runaway conversation from spending a week's allowance in an afternoon.", "ai,costs"},
	{"SQLite is enough for your queue", "WAL mode, group commit and leases make one SQLite file a durable queue for hundreds of runs a second, with no server to run.", "sqlite,golang,queues"},
	{"Pricing changes for teams", "From April the team plan includes review seats and a larger token allowance. What changes for existing customers.", "pricing,product"},
	{"Circuit breakers for AI pipelines", "When the failure rate says upstream is broken, stop feeding it. Half-open probes tell you when it healed.", "reliability,ai"},
	{"Tracing a model call end to end", "OpenTelemetry's GenAI conventions name the tokens, the model and the finish reason, so one trace shows why a run was slow and what it cost.", "observability,ai"},
	{"Idempotency keys, explained", "A webhook delivered twice should make one run. How idempotency keys in the store turn at-least-once delivery into exactly-once work.", "reliability,apis"},
	{"Replaying from the failed step", "Checkpoints after every step mean a replay starts where the run broke, and the expensive steps before it are not paid for twice.", "reliability,ai"},
	{"Fallback models that earn their keep", "A cheaper model answering when the big one is down or confused: how to choose it, and how to know it was used.", "ai,costs"},
	{"Testing pipelines with fault injection", "A scripted model that returns malformed JSON, 429s and refusals on a seed makes every failure path a unit test.", "testing,golang"},
	{"What our support queue taught us about SLAs", "Four hours sounds generous until a billing question sits behind a hundred feature requests. Routing by urgency changed our numbers.", "support,operations"},
	{"Leases, heartbeats and crashed workers", "A worker that dies mid-run must not lose the run or do it twice. Leases with fencing tokens make both true.", "golang,queues"},
	{"Structured output across providers", "OpenAI's strict JSON schema, Anthropic's forced tool call and plain instructions: one contract check behind all three.", "ai,apis"},
	{"Silence is a failure too", "The cron job that quietly stopped produces no error to alert on. Expecting runs, and noticing when they stop, catches it.", "observability,operations"},
	{"Redacting payloads in traces", "Model inputs hold customer data. Hashes, size caps and a redaction hook keep traces useful without leaking it.", "security,observability"},
	{"Batch replays after a bad deploy", "One bad field poisoned forty runs. Group, patch, replay, and watch the recovery time metric fall.", "reliability,operations"},
}

// makeArticles builds the CMS export: n articles, newest first, with a few
// that matter to the story: one naming a customer before the case study
// is approved (a model should flag it), one announcing prices (likewise).
func makeArticles(n int, seed uint64) []Article {
	rng := rand.New(rand.NewPCG(seed, 11))
	out := make([]Article, 0, n)
	date := today.AddDate(0, 0, -2)
	for i := 0; i < n; i++ {
		t := articleTopics[i%len(articleTopics)]
		title := t.title
		if i >= len(articleTopics) {
			title = fmt.Sprintf("%s, part %d", t.title, i/len(articleTopics)+1)
		}
		out = append(out, Article{
			ID:      fmt.Sprintf("a%02d", i+1),
			Title:   title,
			URL:     "https://blog.plumb.dev/posts/" + slug(title),
			Date:    date.Format(time.DateOnly),
			Summary: t.summary,
			Tags:    strings.Split(t.tags, ","),
		})
		date = date.AddDate(0, 0, -(3 + rng.IntN(9)))
	}
	return out
}

// makeBriefs asks for a post on every channel for each of n articles,
// each article with the next free weekday as its suggested slot.
func makeBriefs(n int, seed uint64) []Brief {
	briefs := make([]Brief, 0, n)
	slot := today
	for _, a := range makeArticles(n, seed) {
		slot = nextWeekday(slot)
		briefs = append(briefs, Brief{Article: a, Channels: channels, Slot: slot.Format(time.DateOnly)})
	}
	return briefs
}

// overlong picks the article whose X post the scripted model writes at
// LinkedIn length: the one post of the batch that breaks its platform's
// contract. It is an article the model is sure of and has nothing to flag,
// so that its posts are published, all but that one.
func overlong(n int, seed uint64) string {
	var fits []string
	for _, a := range makeArticles(n, seed) {
		// Long enough that no cut of the X post's formatting hides it.
		d := Draft{Channel: "x", URL: a.URL + "?utm_source=x&utm_campaign=repurpose", Hashtags: []string{"#" + a.Tags[0]}}
		if !flagged(a) && !(script{seed: seed}).unsure(a.ID) && len([]rune(longText(a))) > room(d)+20 {
			fits = append(fits, a.ID)
		}
	}
	if len(fits) == 0 {
		return ""
	}
	return fits[rand.New(rand.NewPCG(seed, 13)).IntN(len(fits))]
}

// postID names an article's post on a channel.
func postID(articleID, channel string) string { return articleID + "-" + channel }

func nextWeekday(t time.Time) time.Time {
	t = t.AddDate(0, 0, 1)
	for t.Weekday() == time.Saturday || t.Weekday() == time.Sunday {
		t = t.AddDate(0, 0, 1)
	}
	return t
}

func slug(title string) string {
	var b strings.Builder
	dash := false
	for _, r := range strings.ToLower(title) {
		switch {
		case r >= 'a' && r <= 'z' || r >= '0' && r <= '9':
			b.WriteRune(r)
			dash = false
		case !dash && b.Len() > 0:
			b.WriteByte('-')
			dash = true
		}
	}
	return strings.TrimSuffix(b.String(), "-")
}
