package main

import (
	"context"
	"errors"
	"fmt"
	"net/mail"
	"regexp"
	"strings"

	"github.com/plumb-dev/plumb/llm"
	"github.com/plumb-dev/plumb/retry"
)

// Lead is a lead parsed into fields.
type Lead struct {
	ID      string `json:"id"`
	Name    string `json:"name" jsonschema:"minLength=1,maxLength=120"`
	Email   string `json:"email" jsonschema:"format=email"`
	Company string `json:"company,omitempty"`
	Message string `json:"message" jsonschema:"minLength=1"`
}

// Classification is what the model says about a lead.
type Classification struct {
	Stage      string  `json:"stage" jsonschema:"enum=new,enum=warm,enum=hot,enum=not_a_lead"`
	Intent     string  `json:"intent" jsonschema:"enum=pricing,enum=demo,enum=support,enum=partnership,enum=unsubscribe,enum=other"`
	Confidence float64 `json:"confidence" jsonschema:"minimum=0,maximum=1"`
	Summary    string  `json:"summary" jsonschema:"minLength=10,maxLength=240"`
}

// Classified carries the lead to the drafting step.
type Classified struct {
	Lead           Lead           `json:"lead"`
	Classification Classification `json:"classification"`
}

// Reply is the drafted follow-up email.
type Reply struct {
	To      string `json:"to" jsonschema:"format=email"`
	Subject string `json:"subject" jsonschema:"minLength=5,maxLength=120"`
	Body    string `json:"body" jsonschema:"minLength=40,maxLength=2000"`
}

// Validate is a semantic check beyond the schema: no unfilled template.
func (r Reply) Validate() error {
	if strings.Contains(r.Body, "{{") || strings.Contains(r.Subject, "{{") {
		return errors.New("the reply still has an unfilled {{placeholder}}")
	}
	return nil
}

var emailRE = regexp.MustCompile(`(?i)[\p{L}0-9._%+\-]+@[\p{L}0-9.\-]+\.[a-z]{2,}`)

// parse reads name, email, company and message out of the text. A lead
// with no email cannot be followed up: a permanent failure, dead-lettered
// for a person to look at.
func parse(_ context.Context, r RawLead) (Lead, error) {
	email := emailRE.FindString(r.Text)
	if email == "" {
		return Lead{}, retry.Permanent(fmt.Errorf("lead %s has no email address", r.ID))
	}
	addr, err := mail.ParseAddress(strings.ToLower(email))
	if err != nil {
		return Lead{}, retry.Permanent(fmt.Errorf("lead %s: bad email %q: %w", r.ID, email, err))
	}
	l := Lead{ID: r.ID, Email: addr.Address}
	lines := strings.Split(r.Text, "\n")
	for _, line := range lines {
		key, val, ok := strings.Cut(line, ":")
		val = strings.TrimSpace(val)
		switch strings.ToLower(strings.TrimSpace(key)) {
		case "name":
			l.Name = val
		case "company":
			l.Company = val
		case "message":
			l.Message = val
		}
		_ = ok
	}
	if l.Name == "" {
		l.Name = guessName(r.Text, email)
	}
	if l.Message == "" {
		// What is left once the address is gone, without its empty brackets.
		rest := strings.NewReplacer("<>", "", "()", "", "from:", "").Replace(emailRE.ReplaceAllString(r.Text, ""))
		l.Message = strings.Join(strings.Fields(rest), " ")
	}
	l.Name = titleCase(l.Name)
	return l, nil
}

func guessName(text, email string) string {
	local, _, _ := strings.Cut(email, "@")
	parts := strings.FieldsFunc(local, func(r rune) bool { return r == '.' || r == '_' || r == '-' })
	return strings.Join(parts, " ")
}

func titleCase(s string) string {
	words := strings.Fields(s)
	for i, w := range words {
		r := []rune(strings.ToLower(w))
		if len(r) > 0 {
			r[0] = []rune(strings.ToUpper(string(r[0])))[0]
		}
		words[i] = string(r)
	}
	return strings.Join(words, " ")
}

// classifyPrompt asks for a classification.
func classifyPrompt(l Lead) []llm.Message {
	return []llm.Message{
		llm.System("You triage inbound sales leads for a B2B SaaS company. Classify the lead's stage and intent, " +
			"say how confident you are, and summarise what they want in one sentence. Answer with JSON only."),
		llm.User(fmt.Sprintf("Lead %s from %s (%s) at %q:\n%s", l.ID, l.Name, l.Email, l.Company, l.Message)),
	}
}

// classifyByRules is the fallback when the model cannot give a usable
// answer: keyword rules, less clever but always available.
func classifyByRules(_ context.Context, l Lead) (Classified, error) {
	m := strings.ToLower(l.Message)
	c := Classification{Stage: "new", Intent: "other", Confidence: 0.5}
	switch {
	case strings.Contains(m, "unsubscribe"):
		c.Stage, c.Intent = "not_a_lead", "unsubscribe"
	case strings.Contains(m, "demo") || strings.Contains(m, "call"):
		c.Stage, c.Intent = "hot", "demo"
	case strings.Contains(m, "pric") || strings.Contains(m, "cost") || strings.Contains(m, "discount"):
		c.Stage, c.Intent = "warm", "pricing"
	case strings.Contains(m, "error") || strings.Contains(m, "fail"):
		c.Intent = "support"
	case strings.Contains(m, "partner"):
		c.Intent = "partnership"
	}
	c.Summary = "Classified by keyword rules: " + c.Intent + " (" + c.Stage + ")"
	return Classified{Lead: l, Classification: c}, nil
}

// draftPrompt asks for a reply.
func draftPrompt(c Classified) []llm.Message {
	return []llm.Message{
		llm.System("You write short, warm follow-up emails for a B2B SaaS sales team. No placeholders: use the lead's real name. Answer with JSON only."),
		llm.User(fmt.Sprintf("Lead %s. Write the first reply to %s <%s> (%s). Stage: %s, intent: %s. What they said: %s",
			c.Lead.ID, c.Lead.Name, c.Lead.Email, c.Lead.Company, c.Classification.Stage, c.Classification.Intent, c.Lead.Message)),
	}
}
