package main

import (
	"fmt"
	"math"
	"time"

	exmodels "github.com/plumb-dev/plumb/examples/internal/models"
	"github.com/plumb-dev/plumb/llm"
	"github.com/plumb-dev/plumb/llm/llmtest"
)

// model returns the model that summarises: the real provider when an API
// key is set, else a scripted one that reads the figures like an analyst
// and now and then drops a field (re-asked).
func model(seed int64) (llm.Model, string, error) {
	s := script{seed: uint64(seed)}
	primary, _, desc, err := exmodels.Pick(exmodels.Scripted{
		Key:     func(req llm.Request) string { m, _ := metricsOf(req); return m.Client + "/" + m.Week },
		Primary: llmtest.Config{Model: "scripted-analyst", Respond: s.respond, Latency: time.Millisecond},
		Cheap:   llmtest.Config{Model: "scripted-analyst-small", Respond: s.respond},
	})
	return primary, desc, err
}

func metricsOf(req llm.Request) (Metrics, bool) {
	return exmodels.FromPrompt[Metrics](req, "Weekly metrics: ")
}

type script struct{ seed uint64 }

func (s script) respond(req llm.Request) llmtest.Answer {
	m, ok := metricsOf(req)
	if !ok {
		return llmtest.Text("I can only summarise a week's metrics.")
	}
	prev := Figures{}
	if m.Previous != nil {
		prev = *m.Previous
	}
	change := func(now, before int) float64 {
		if before == 0 {
			return 0
		}
		return float64(now-before) / float64(before)
	}
	leads, deals := change(m.Leads, prev.Leads), change(m.Deals, prev.Deals)
	sum := Summary{Concerns: []string{}, Confidence: 0.88 + 0.08*exmodels.Roll(s.seed, m.Client, m.Week, "confidence")}
	switch {
	case leads >= 0.05:
		sum.Headline = fmt.Sprintf("Leads up %.0f%% on the week before", 100*leads)
	case leads <= -0.05:
		sum.Headline = fmt.Sprintf("Leads down %.0f%% on the week before", -100*leads)
	default:
		sum.Headline = "A steady week: leads level with the week before"
	}
	sum.Highlights = append(sum.Highlights, fmt.Sprintf("%d leads from %d sessions (%.1f%% conversion)", m.Leads, m.Sessions, 100*float64(m.Leads)/math.Max(1, float64(m.Sessions))))
	if deals > 0 {
		sum.Highlights = append(sum.Highlights, fmt.Sprintf("%d deals closed, %.0f%% more than the week before", m.Deals, 100*deals))
	} else if deals < -0.1 {
		sum.Concerns = append(sum.Concerns, fmt.Sprintf("deals fell to %d from %d", m.Deals, prev.Deals))
	}
	if m.MissingDays > 0 {
		// Figures with holes: the analyst says so, and is unsure.
		sum.Concerns = append(sum.Concerns, fmt.Sprintf("tracking recorded nothing on %d days: the week's figures are low", m.MissingDays))
		sum.Confidence = 0.45 + 0.1*exmodels.Roll(s.seed, m.Client, m.Week, "confidence")
	}
	sum.Confidence = math.Round(sum.Confidence*100) / 100
	// About one first answer in five forgets its highlights; re-asked with
	// the violation, it adds them.
	if exmodels.Turn(req) == 0 && exmodels.Roll(s.seed, m.Client, m.Week, "slip") < 0.2 {
		return exmodels.Without(sum, "highlights")
	}
	return llmtest.JSON(sum)
}
