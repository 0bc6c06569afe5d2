package notify

import (
	"bytes"
	"encoding/json"
	"strconv"
	"strings"
	"time"
)

// Slack limits a section's text to 3000 characters; a long reason (a stack,
// a model's answer) is cut well before so the message is still accepted.
const slackReasonRunes = 2000

type slackText struct {
	Type string `json:"type"`
	Text string `json:"text"`
}

type slackBlock struct {
	Type     string      `json:"type"`
	Text     *slackText  `json:"text,omitempty"`
	Elements []slackText `json:"elements,omitempty"`
}

type slackMessage struct {
	Text   string       `json:"text"`
	Blocks []slackBlock `json:"blocks"`
}

// SlackFormat renders e as a Slack incoming-webhook body, usable as
// WebhookConfig.Format: "text" is the one-line Summary (what a phone
// notification shows) and "blocks" add the reason, the run id or the digest's
// count and samples, the time, and the link. An http(s) link is a mrkdwn link
// rather than a button because a button in a message from an app without
// interactivity shows a warning when clicked; any other link (a CLI command)
// is shown as code to copy. Mattermost and other Slack-compatible receivers
// read the same body.
func SlackFormat(e Event) ([]byte, string, error) {
	var m slackMessage
	m.Text = Summary(e)

	head := "*" + slackEscape(Summary(e)) + "*"
	if em := slackEmoji(e.Kind); em != "" {
		head = em + " " + head
	}
	m.Blocks = append(m.Blocks, section(head))

	if e.Reason != "" {
		m.Blocks = append(m.Blocks, section(slackQuote(truncate(e.Reason, slackReasonRunes))))
	}

	var ctx []string
	if e.Count > 1 {
		s := strconv.Itoa(e.Count) + " events"
		if len(e.Samples) > 0 {
			s += ", e.g. " + slackCodeList(e.Samples)
		}
		ctx = append(ctx, s)
	}
	if e.RunID != "" {
		ctx = append(ctx, "run `"+slackEscape(slackCode(e.RunID))+"`")
	}
	if !e.At.IsZero() {
		ctx = append(ctx, e.At.UTC().Format(time.RFC3339))
	}
	if len(ctx) > 0 {
		m.Blocks = append(m.Blocks, slackBlock{Type: "context", Elements: []slackText{{Type: "mrkdwn", Text: strings.Join(ctx, " · ")}}})
	}

	switch {
	case strings.HasPrefix(e.Link, "https://") || strings.HasPrefix(e.Link, "http://"):
		m.Blocks = append(m.Blocks, section("<"+slackURL(e.Link)+"|"+slackLinkLabel(e.Kind)+">"))
	case e.Link != "":
		m.Blocks = append(m.Blocks, section("`"+slackEscape(slackCode(e.Link))+"`"))
	}

	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false) // Slack reads UTF-8 JSON; \u003c only hurts readability
	if err := enc.Encode(m); err != nil {
		return nil, "", err
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), "application/json", nil
}

func section(mrkdwn string) slackBlock {
	return slackBlock{Type: "section", Text: &slackText{Type: "mrkdwn", Text: mrkdwn}}
}

func slackEmoji(k Kind) string {
	switch k {
	case DeadLettered:
		return ":rotating_light:"
	case ReviewNeeded:
		return ":eyes:"
	case ReviewOverdue:
		return ":alarm_clock:"
	case Paused:
		return ":double_vertical_bar:"
	case Resumed:
		return ":arrow_forward:"
	case BudgetExceeded:
		return ":money_with_wings:"
	case SinkFailed:
		return ":warning:"
	case Silent:
		return ":zzz:"
	case Cancelled:
		return ":no_entry_sign:"
	case Held:
		return ":construction:"
	}
	return ""
}

func slackLinkLabel(k Kind) string {
	switch k {
	case ReviewNeeded, ReviewOverdue:
		return "Open the review"
	}
	return "Open"
}

// slackEscape escapes the three characters Slack's mrkdwn treats as markup.
var slackEscape = strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;").Replace

// slackURL makes a URL safe inside <url|label>, where "|" and ">" would end it.
func slackURL(u string) string {
	return strings.NewReplacer("&", "&amp;", "<", "%3C", ">", "%3E", "|", "%7C").Replace(u)
}

// slackCode keeps a value inside `code`: a backtick would close it early.
func slackCode(s string) string { return oneLine(strings.ReplaceAll(s, "`", "'")) }

func slackCodeList(ids []string) string {
	parts := make([]string, len(ids))
	for i, id := range ids {
		parts[i] = "`" + slackEscape(slackCode(id)) + "`"
	}
	return strings.Join(parts, ", ")
}

// slackQuote quotes every line of s, since ">" quotes only to the line's end.
func slackQuote(s string) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	for i, l := range lines {
		lines[i] = "> " + slackEscape(l)
	}
	return strings.Join(lines, "\n")
}
