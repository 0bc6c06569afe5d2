package main

import (
	"context"
	"encoding/json"
	"fmt"
	"time"
	"unicode/utf8"

	"github.com/plumb-dev/plumb/contract"
	"github.com/plumb-dev/plumb/llm"
	"github.com/plumb-dev/plumb/retry"
)

// Draft is what the model writes for one post: every field has a contract.
type Draft struct {
	// Channel echoes the brief's channel: the length limit depends on it.
	Channel     string   `json:"channel" jsonschema:"enum=x,enum=linkedin,enum=mastodon"`
	URL         string   `json:"url" jsonschema:"format=uri"`
	PublishDate string   `json:"publish_date" jsonschema:"format=date"`
	Status      string   `json:"status" jsonschema:"enum=draft,enum=scheduled,enum=needs_edit"`
	Confidence  float64  `json:"confidence" jsonschema:"minimum=0,maximum=1"`
	Text        string   `json:"text" jsonschema:"minLength=40,maxLength=3000"`
	Hashtags    []string `json:"hashtags" jsonschema:"minItems=1,maxItems=5,pattern=^#[A-Za-z][A-Za-z0-9_]+$"`
	// Note says why the model flagged the post needs_edit.
	Note string `json:"note,omitempty" jsonschema:"maxLength=300"`
}

// Validate holds what a schema cannot say: the channel's own length limit,
// and no publish date before today. Each violation names its field, so the
// model is re-asked with it like any other.
func (d Draft) Validate() error {
	var vs []contract.Violation
	if limit, n := maxChars[d.Channel], utf8.RuneCountInString(d.Text); n > limit {
		vs = append(vs, contract.Violation{Path: "/text", Keyword: "validate",
			Message: fmt.Sprintf("the text is %d characters long; %s allows at most %d", n, d.Channel, limit)})
	}
	if day, err := time.Parse(time.DateOnly, d.PublishDate); err == nil && day.Before(today) {
		vs = append(vs, contract.Violation{Path: "/publish_date", Keyword: "validate",
			Message: fmt.Sprintf("%s is in the past (today is %s): pick a day from today on", d.PublishDate, today.Format(time.DateOnly))})
	}
	if len(vs) == 0 {
		return nil
	}
	return &contract.ValidationError{Type: "Draft", Violations: vs}
}

// Post is a drafted post with the ids it belongs to.
type Post struct {
	PostID    string `json:"post_id" jsonschema:"minLength=1"`
	ArticleID string `json:"article_id" jsonschema:"minLength=1"`
	Draft     Draft  `json:"draft"`
}

// Scheduled is the post as the content calendar holds it: the pipeline's
// output.
type Scheduled struct {
	PostID      string `json:"post_id" jsonschema:"minLength=1"`
	Channel     string `json:"channel" jsonschema:"enum=x,enum=linkedin,enum=mastodon"`
	URL         string `json:"url" jsonschema:"format=uri"`
	PublishDate string `json:"publish_date" jsonschema:"format=date"`
	// Status is scheduled (goes out on PublishDate) or draft (kept for a
	// gap in the calendar, or for an edit).
	Status     string `json:"status" jsonschema:"enum=scheduled,enum=draft"`
	CalendarID string `json:"calendar_id" jsonschema:"minLength=1"`
}

// draftPrompt asks for one post. The brief goes in as JSON: models read it
// well, and the scripted model reads it back exactly.
func draftPrompt(b Brief) []llm.Message {
	brief, _ := json.Marshal(b)
	return []llm.Message{
		llm.System(fmt.Sprintf("You repurpose blog articles into social posts. Today is %s. Write one post for the channel "+
			"in the brief (x: at most 280 characters, mastodon: 500, linkedin: 3000), linking to the article's URL with "+
			"utm_source set to the channel. publish_date is an ISO date (YYYY-MM-DD), on or after today; use the brief's "+
			"slot unless there is a reason not to. status is scheduled, draft (evergreen, hold for a gap) or needs_edit "+
			"(a person must change something first: say what in note). confidence is 0 to 1. Hashtags start with # "+
			"and have no spaces. Answer with JSON only.", today.Format(time.DateOnly))),
		llm.User("Post brief: " + string(brief)),
	}
}

// intoPost attaches the ids to the model's draft. A draft for another
// channel is a contract failure: its length was checked against the wrong
// limit, so it must not pass on.
func intoPost(b Brief, d Draft) (Post, error) {
	if d.Channel != b.Channel {
		return Post{}, retry.Mark(retry.ClassContract, fmt.Errorf("post %s: the draft is for %s, the brief asked for %s", b.PostID, d.Channel, b.Channel))
	}
	return Post{PostID: b.PostID, ArticleID: b.Article.ID, Draft: d}, nil
}

// calendar is the content calendar the posts are scheduled in.
type calendar struct {
	// gone holds the articles unpublished since the batch was planned.
	gone map[string]bool
}

// schedule puts a post in the calendar: scheduled when the draft says so,
// else kept as a draft. A post whose article is gone fails for good: no
// retry brings the article back, and a person decides what to do.
func (c *calendar) schedule(_ context.Context, p Post) (Scheduled, error) {
	if c.gone[p.ArticleID] {
		return Scheduled{}, retry.Permanent(fmt.Errorf("post %s links to article %s, which was unpublished after the batch was planned (410 Gone)", p.PostID, p.ArticleID))
	}
	status := "scheduled"
	if p.Draft.Status != "scheduled" {
		// needs_edit reaches here only when a reviewer approved it as is:
		// keep it as a draft rather than publish what was flagged.
		status = "draft"
	}
	return Scheduled{PostID: p.PostID, Channel: p.Draft.Channel, URL: p.Draft.URL, PublishDate: p.Draft.PublishDate,
		Status: status, CalendarID: "cal-" + p.PostID}, nil
}

// needsReview sends a person the posts the model is unsure of or flagged.
func needsReview(p Post) (string, bool) {
	switch {
	case p.Draft.Status == "needs_edit":
		return "the model flagged the post needs_edit: " + p.Draft.Note, true
	case p.Draft.Confidence < minConfidence:
		return fmt.Sprintf("confidence %.2f is below %.2f", p.Draft.Confidence, minConfidence), true
	}
	return "", false
}

// minConfidence is the confidence below which a person reads the post
// before it is scheduled.
const minConfidence = 0.6
