package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/plumb-dev/plumb/contract"
	"github.com/plumb-dev/plumb/llm"
	"github.com/plumb-dev/plumb/retry"
)

// Draft is what the model writes for one post. Its contract is what every
// channel asks of a post; each platform's own rule, its length limit, is
// checked where the post is formatted for it.
type Draft struct {
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

// Validate holds what a schema cannot say: a link that says which channel
// the click came from, and no publish date before today. Each violation
// names its field, so the model is re-asked with it like any other.
func (d Draft) Validate() error {
	var vs []contract.Violation
	if u, err := url.Parse(d.URL); err == nil && u.Query().Get("utm_source") != d.Channel {
		vs = append(vs, contract.Violation{Path: "/url", Keyword: "validate",
			Message: fmt.Sprintf("utm_source is %q, want %q: clicks would be counted for the wrong channel", u.Query().Get("utm_source"), d.Channel)})
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

// Drafts is the model's answer for one article: a post per channel asked
// for, in the brief's order.
type Drafts struct {
	Posts []Draft `json:"posts" jsonschema:"minItems=1,maxItems=3"`
}

// Post is a drafted post with the ids it belongs to: the input of its
// branch run.
type Post struct {
	PostID    string `json:"post_id" jsonschema:"minLength=1"`
	ArticleID string `json:"article_id" jsonschema:"minLength=1"`
	Draft     Draft  `json:"draft"`
}

// Formatted is a post as its platform will show it. Its contract holds
// the platform's rules.
type Formatted struct {
	PostID      string `json:"post_id" jsonschema:"minLength=1"`
	ArticleID   string `json:"article_id" jsonschema:"minLength=1"`
	Channel     string `json:"channel" jsonschema:"enum=x,enum=linkedin,enum=mastodon"`
	Body        string `json:"body" jsonschema:"minLength=1"`
	Link        string `json:"link" jsonschema:"format=uri"`
	PublishDate string `json:"publish_date" jsonschema:"format=date"`
	Status      string `json:"status" jsonschema:"enum=draft,enum=scheduled,enum=needs_edit"`
}

// Validate holds the platform's rule: the body, hashtags included, within
// its length limit.
func (f Formatted) Validate() error {
	if limit, n := maxChars[f.Channel], utf8.RuneCountInString(f.Body); n > limit {
		return &contract.ValidationError{Type: "Formatted", Violations: []contract.Violation{{Path: "/body", Keyword: "validate",
			Message: fmt.Sprintf("the post is %d characters long with its hashtags; %s allows at most %d", n, f.Channel, limit)}}}
	}
	return nil
}

// Published is a post as its platform's scheduler holds it: a branch run's
// output.
type Published struct {
	PostID      string `json:"post_id" jsonschema:"minLength=1"`
	ArticleID   string `json:"article_id" jsonschema:"minLength=1"`
	Channel     string `json:"channel" jsonschema:"enum=x,enum=linkedin,enum=mastodon"`
	PublishDate string `json:"publish_date" jsonschema:"format=date"`
	// Status is scheduled (goes out on PublishDate) or draft (kept in the
	// platform's drafts, for a gap in the calendar or an edit).
	Status    string `json:"status" jsonschema:"enum=scheduled,enum=draft"`
	Permalink string `json:"permalink" jsonschema:"format=uri"`
}

// Shared is an article marked as shared in the CMS, with its posts: an
// article run's output.
type Shared struct {
	ArticleID string      `json:"article_id" jsonschema:"minLength=1"`
	Posts     []Published `json:"posts" jsonschema:"minItems=1"`
}

// draftPrompt asks for one article's posts. The brief goes in as JSON:
// models read it well, and the scripted model reads it back exactly.
func draftPrompt(b Brief) []llm.Message {
	brief, _ := json.Marshal(b)
	return []llm.Message{
		llm.System(fmt.Sprintf("You repurpose blog articles into social posts. Today is %s. Write one post for each channel "+
			"in the brief, in its order (x: at most 280 characters with the hashtags, mastodon: 500, linkedin: 3000), each "+
			"linking to the article's URL with utm_source set to the channel. publish_date is an ISO date (YYYY-MM-DD), on or "+
			"after today; use the brief's slot unless there is a reason not to. status is scheduled, draft (evergreen, hold "+
			"for a gap) or needs_edit (a person must change something first: say what in note). confidence is 0 to 1. "+
			"Hashtags start with # and have no spaces. Answer with JSON only: {\"posts\": [...]}.", today.Format(time.DateOnly))),
		llm.User("Article brief: " + string(brief)),
	}
}

// intoPosts attaches the ids to the model's drafts. Posts for other
// channels than asked are a contract failure: each would be checked
// against the wrong platform's rules.
func intoPosts(b Brief, d Drafts) ([]Post, error) {
	got := make([]string, len(d.Posts))
	for i, p := range d.Posts {
		got[i] = p.Channel
	}
	if !slices.Equal(got, b.Channels) {
		return nil, retry.Mark(retry.ClassContract, fmt.Errorf("article %s: the posts are for %s, the brief asked for %s",
			b.Article.ID, strings.Join(got, ", "), strings.Join(b.Channels, ", ")))
	}
	posts := make([]Post, len(d.Posts))
	for i, p := range d.Posts {
		posts[i] = Post{PostID: postID(b.Article.ID, p.Channel), ArticleID: b.Article.ID, Draft: p}
	}
	return posts, nil
}

// needsReview sends a person an article whose posts the model is unsure
// of or flagged, before any of them goes out.
func needsReview(posts []Post) (string, bool) {
	for _, p := range posts {
		switch {
		case p.Draft.Status == "needs_edit":
			return fmt.Sprintf("the model flagged post %s needs_edit: %s", p.PostID, p.Draft.Note), true
		case p.Draft.Confidence < minConfidence:
			return fmt.Sprintf("post %s: confidence %.2f is below %.2f", p.PostID, p.Draft.Confidence, minConfidence), true
		}
	}
	return "", false
}

// minConfidence is the confidence below which a person reads an article's
// posts before they are published.
const minConfidence = 0.6

// format lays a post out the way its platform shows it: X and Mastodon
// carry the hashtags in the text, LinkedIn puts the link in the text.
// Formatted's contract then holds the platform's rules.
func format(_ context.Context, p Post) (Formatted, error) {
	d := p.Draft
	return Formatted{PostID: p.PostID, ArticleID: p.ArticleID, Channel: d.Channel, Body: d.Text + suffix(d), Link: d.URL,
		PublishDate: d.PublishDate, Status: d.Status}, nil
}

// suffix is what format adds to a post's text on its channel.
func suffix(d Draft) string {
	if d.Channel == "linkedin" {
		return "\n\n" + d.URL + "\n\n" + strings.Join(d.Hashtags, " ")
	}
	return " " + strings.Join(d.Hashtags, " ")
}

// room is how many characters of text a post may have on its channel,
// once format has added its suffix.
func room(d Draft) int { return maxChars[d.Channel] - utf8.RuneCountInString(suffix(d)) }

// publish hands a formatted post to its platform's scheduler: scheduled
// when the draft says so, else kept in the platform's drafts.
func publish(_ context.Context, f Formatted) (Published, error) {
	status := "scheduled"
	if f.Status != "scheduled" {
		// needs_edit reaches here only when a reviewer approved it as is:
		// keep it as a draft rather than publish what was flagged.
		status = "draft"
	}
	return Published{PostID: f.PostID, ArticleID: f.ArticleID, Channel: f.Channel, PublishDate: f.PublishDate, Status: status,
		Permalink: "https://" + f.Channel + ".example/@plumb/scheduled/" + f.PostID}, nil
}

// markShared records in the CMS that the article went out on every
// channel.
func markShared(_ context.Context, posts []Published) (Shared, error) {
	if len(posts) == 0 {
		return Shared{}, retry.Permanent(fmt.Errorf("no post to mark as shared"))
	}
	return Shared{ArticleID: posts[0].ArticleID, Posts: posts}, nil
}
