package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"text/template"
	"time"

	"github.com/plumb-dev/plumb/llm"
	"github.com/plumb-dev/plumb/retry"
)

// Week is a tick's run: which client's report, for which week (the seven
// days before the Monday of the tick, in the client's zone).
type Week struct {
	Client string    `json:"client" jsonschema:"minLength=1"`
	Start  string    `json:"start" jsonschema:"format=date"`
	Tick   time.Time `json:"tick"`
}

// weekOf is a schedule's input function: the tick (in the client's zone)
// names the week that just ended.
func weekOf(c client) func(tick time.Time) (Week, error) {
	return func(tick time.Time) (Week, error) {
		monday := time.Date(tick.Year(), tick.Month(), tick.Day(), 0, 0, 0, 0, tick.Location()).AddDate(0, 0, -7)
		return Week{Client: c.ID, Start: monday.Format("2006-01-02"), Tick: tick}, nil
	}
}

// Figures are a week's numbers.
type Figures struct {
	Sessions int     `json:"sessions" jsonschema:"minimum=0"`
	Leads    int     `json:"leads" jsonschema:"minimum=0"`
	Deals    int     `json:"deals" jsonschema:"minimum=0"`
	Revenue  float64 `json:"revenue" jsonschema:"minimum=0"`
}

// Metrics are a client's week, with the week before to compare.
type Metrics struct {
	Client     string `json:"client" jsonschema:"minLength=1"`
	ClientName string `json:"client_name" jsonschema:"minLength=1"`
	Week       string `json:"week" jsonschema:"format=date"`
	Figures
	Previous *Figures `json:"previous,omitempty"`
	// MissingDays counts the days the tracking recorded nothing.
	MissingDays int `json:"missing_days" jsonschema:"minimum=0,maximum=7"`
}

// Summary is what the model writes of a week.
type Summary struct {
	Headline   string   `json:"headline" jsonschema:"minLength=10,maxLength=120"`
	Highlights []string `json:"highlights" jsonschema:"minItems=1,maxItems=3"`
	Concerns   []string `json:"concerns" jsonschema:"maxItems=3"`
	Confidence float64  `json:"confidence" jsonschema:"minimum=0,maximum=1"`
}

// Summarized carries the metrics to the email.
type Summarized struct {
	Metrics Metrics `json:"metrics"`
	Summary Summary `json:"summary"`
}

// Email is the report as sent: the pipeline's output.
type Email struct {
	To      string `json:"to" jsonschema:"format=email"`
	Subject string `json:"subject" jsonschema:"minLength=5"`
	Body    string `json:"body" jsonschema:"minLength=40"`
	// File is where the email was written, when it was.
	File string `json:"file,omitempty"`
}

func gather(src metricsSource) func(context.Context, Week) (Metrics, error) {
	return func(_ context.Context, w Week) (Metrics, error) {
		c, ok := clientByID(w.Client)
		if !ok {
			return Metrics{}, retry.Permanent(fmt.Errorf("no client %q", w.Client))
		}
		monday, err := time.Parse("2006-01-02", w.Start)
		if err != nil {
			return Metrics{}, retry.Permanent(err)
		}
		return src.week(c, monday), nil
	}
}

func summaryPrompt(m Metrics) []llm.Message {
	raw, _ := json.Marshal(m)
	return []llm.Message{
		llm.System("You write the weekly marketing report of an agency's client. From the week's figures and the week before, " +
			"write a headline, up to three highlights and up to three concerns (an empty list when there are none), and say how " +
			"confident you are in them (0 to 1: below 0.7 means an account manager checks before it is sent; data gaps lower it). " +
			"Answer with JSON only."),
		llm.User("Weekly metrics: " + string(raw)),
	}
}

func intoSummarized(m Metrics, s Summary) (Summarized, error) {
	return Summarized{Metrics: m, Summary: s}, nil
}

// minConfidence is the confidence below which a person reads the summary
// before it goes to the client.
const minConfidence = 0.7

func needsReview(s Summarized) (string, bool) {
	if c := s.Summary.Confidence; c < minConfidence {
		return fmt.Sprintf("confidence %.2f is below %.2f: check the summary of %s's week of %s before it is sent",
			c, minConfidence, s.Metrics.ClientName, s.Metrics.Week), true
	}
	return "", false
}

var emailTemplate = template.Must(template.New("email").Funcs(template.FuncMap{"pct": pct}).Parse(
	`Hello {{.Metrics.ClientName}} team,

here is your week of {{.Metrics.Week}}: {{.Summary.Headline}}

  sessions  {{.Metrics.Sessions}}{{with .Metrics.Previous}} ({{pct $.Metrics.Sessions .Sessions}}){{end}}
  leads     {{.Metrics.Leads}}{{with .Metrics.Previous}} ({{pct $.Metrics.Leads .Leads}}){{end}}
  deals     {{.Metrics.Deals}}{{with .Metrics.Previous}} ({{pct $.Metrics.Deals .Deals}}){{end}}
  revenue   {{printf "%.0f" .Metrics.Revenue}}

What went well:
{{range .Summary.Highlights}}  - {{.}}
{{end}}{{with .Summary.Concerns}}What we are watching:
{{range .}}  - {{.}}
{{end}}{{end}}
Your account team
`))

// pct is the change from before to now, "+12%" or "-3%".
func pct(now, before int) string {
	if before == 0 {
		return "new"
	}
	return fmt.Sprintf("%+.0f%%", 100*float64(now-before)/float64(before))
}

// render writes the email, and into dir when one is given (one file per
// client and week, so a step run again writes the same file).
func render(dir string) func(context.Context, Summarized) (Email, error) {
	return func(_ context.Context, s Summarized) (Email, error) {
		c, _ := clientByID(s.Metrics.Client)
		var body bytes.Buffer
		if err := emailTemplate.Execute(&body, s); err != nil {
			return Email{}, retry.Permanent(err)
		}
		e := Email{To: c.Email, Subject: fmt.Sprintf("%s: your week of %s", c.Name, s.Metrics.Week), Body: body.String()}
		if dir != "" {
			e.File = filepath.Join(dir, s.Metrics.Client+"-"+s.Metrics.Week+".txt")
			text := "To: " + e.To + "\nSubject: " + e.Subject + "\n\n" + e.Body
			if err := os.MkdirAll(dir, 0o755); err != nil {
				return Email{}, err
			}
			if err := os.WriteFile(e.File, []byte(text), 0o644); err != nil {
				return Email{}, err
			}
		}
		if strings.Contains(e.Body, "<no value>") {
			return Email{}, retry.Permanent(fmt.Errorf("the email of %s has an unfilled field", c.ID))
		}
		return e, nil
	}
}
