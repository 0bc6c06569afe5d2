package main

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/plumb-dev/plumb/contract"
	"github.com/plumb-dev/plumb/llm"
)

// Classification is what the model says about a message.
type Classification struct {
	Category   string  `json:"category" jsonschema:"enum=billing,enum=bug,enum=account,enum=feature_request,enum=complaint,enum=spam,enum=other"`
	Urgency    string  `json:"urgency" jsonschema:"enum=low,enum=normal,enum=high,enum=urgent"`
	Sentiment  string  `json:"sentiment" jsonschema:"enum=negative,enum=neutral,enum=positive"`
	Language   string  `json:"language" jsonschema:"pattern=^[a-z]{2}$"`
	Confidence float64 `json:"confidence" jsonschema:"minimum=0,maximum=1"`
	Summary    string  `json:"summary" jsonschema:"minLength=10,maxLength=160"`
}

// Validate keeps the summary to one line: it is the subject line of the
// ticket, and a pasted stack trace is not a summary.
func (c Classification) Validate() error {
	if strings.ContainsAny(c.Summary, "\r\n") {
		return &contract.ValidationError{Type: "Classification", Violations: []contract.Violation{{Path: "/summary",
			Keyword: "validate", Message: "must be one line: describe the problem, do not paste the message"}}}
	}
	return nil
}

// Triaged is a classified message: what the router needs, small enough
// for a reviewer to edit.
type Triaged struct {
	MessageID      string         `json:"message_id" jsonschema:"minLength=1"`
	Plan           string         `json:"plan" jsonschema:"enum=free,enum=pro,enum=enterprise"`
	ReceivedAt     time.Time      `json:"received_at"`
	Classification Classification `json:"classification"`
}

// Routed is a ticket in a team's queue with its SLA: the pipeline's
// output.
type Routed struct {
	MessageID string `json:"message_id" jsonschema:"minLength=1"`
	Queue     string `json:"queue" jsonschema:"enum=billing,enum=engineering,enum=on_call,enum=account_security,enum=customer_care,enum=product_feedback,enum=general,enum=spam"`
	Team      string `json:"team" jsonschema:"minLength=1"`
	Priority  string `json:"priority" jsonschema:"enum=p1,enum=p2,enum=p3,enum=p4"`
	// SLA is the time to first response ("2h", "5d"), "none" for spam.
	SLA   string    `json:"sla" jsonschema:"pattern=^([0-9]+[mhd]|none)$"`
	DueBy time.Time `json:"due_by,omitzero"`
	// Translate asks the team for a translation of a message not in
	// English.
	Translate bool `json:"translate,omitempty"`
}

// classifyPrompt asks for a classification. The message goes in as JSON:
// models read it well, and the scripted model reads it back exactly.
func classifyPrompt(m Message) []llm.Message {
	raw, _ := json.Marshal(m)
	return []llm.Message{
		llm.System("You triage a SaaS company's support inbox. Classify the message: its category, how urgent it is " +
			"(urgent: someone is blocked now or money is lost; high: today; normal; low), the sender's sentiment, its " +
			"language as a two-letter ISO 639-1 code, how confident you are (0 to 1: below 0.7 means a person should check), " +
			"and a one-line summary in English of at most 160 characters. Answer with JSON only."),
		llm.User("Support message: " + string(raw)),
	}
}

func intoTriaged(m Message, c Classification) (Triaged, error) {
	return Triaged{MessageID: m.ID, Plan: m.Plan, ReceivedAt: m.ReceivedAt, Classification: c}, nil
}

// minConfidence is the confidence below which a person checks the
// classification before the message is routed.
const minConfidence = 0.7

// needsReview sends the classifications the model is unsure of to a person.
func needsReview(t Triaged) (string, bool) {
	if c := t.Classification.Confidence; c < minConfidence {
		return fmt.Sprintf("confidence %.2f is below %.2f: check the category (%s) and urgency (%s)",
			c, minConfidence, t.Classification.Category, t.Classification.Urgency), true
	}
	return "", false
}

// shortDuration writes 30m, 4h or 5d, as support teams say them.
func shortDuration(d time.Duration) string {
	switch {
	case d%(24*time.Hour) == 0:
		return fmt.Sprintf("%dd", d/(24*time.Hour))
	case d%time.Hour == 0:
		return fmt.Sprintf("%dh", d/time.Hour)
	case d%time.Minute == 0:
		return fmt.Sprintf("%dm", d/time.Minute)
	}
	return d.String()
}
