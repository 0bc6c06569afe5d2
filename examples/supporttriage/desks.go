package main

import (
	"context"
	"time"

	"github.com/plumb-dev/plumb/pipeline"
	"github.com/plumb-dev/plumb/step"
)

// Desk is where a classified message goes: the key of its route. Each desk
// is a pipeline of its own, and a message routed to it is a branch run of
// that pipeline.
type Desk string

// The desks, one route each.
const (
	Billing     Desk = "billing"
	Engineering Desk = "engineering"
	Accounts    Desk = "accounts"
	Care        Desk = "care"
	Product     Desk = "product"
	General     Desk = "general"
	Spam        Desk = "spam"
)

// desks lists every desk with its pipeline's assessment: the rules of the
// desk that pick its queue, team, priority and SLA. Build makes one route
// of each, so a desk cannot exist without a route.
var desks = []struct {
	desk   Desk
	assess func(Triaged) Assessed
}{
	{Billing, func(t Triaged) Assessed {
		if hot(t) {
			return Assessed{t, "billing", "Billing operations", "p2", 2 * time.Hour}
		}
		return Assessed{t, "billing", "Billing operations", "p3", 8 * time.Hour}
	}},
	{Engineering, func(t Triaged) Assessed {
		if hot(t) {
			return Assessed{t, "on_call", "On-call engineers", "p1", time.Hour}
		}
		return Assessed{t, "engineering", "Engineering triage", "p3", 24 * time.Hour}
	}},
	{Accounts, func(t Triaged) Assessed {
		if t.Classification.Urgency == "urgent" {
			return Assessed{t, "account_security", "Account & security", "p1", time.Hour}
		}
		return Assessed{t, "account_security", "Account & security", "p2", 4 * time.Hour}
	}},
	{Care, func(t Triaged) Assessed {
		if t.Classification.Urgency == "urgent" {
			return Assessed{t, "customer_care", "Customer care", "p1", time.Hour}
		}
		return Assessed{t, "customer_care", "Customer care", "p2", 4 * time.Hour}
	}},
	{Product, func(t Triaged) Assessed {
		return Assessed{t, "product_feedback", "Product", "p4", 5 * 24 * time.Hour}
	}},
	{General, func(t Triaged) Assessed {
		return Assessed{t, "general", "Support generalists", "p3", 24 * time.Hour}
	}},
}

// deskFor is the route's choice: the desk of the message's category. Every
// category the classification's contract allows has a desk, and the
// default sends anything else to the generalists, so no message meets a
// key without a route.
func deskFor(t Triaged) Desk {
	switch t.Classification.Category {
	case "billing":
		return Billing
	case "bug":
		return Engineering
	case "account":
		return Accounts
	case "complaint":
		return Care
	case "feature_request":
		return Product
	case "spam":
		return Spam
	}
	return General
}

func hot(t Triaged) bool {
	return t.Classification.Urgency == "urgent" || t.Classification.Urgency == "high"
}

// Assessed is a desk's verdict on a message: its queue, team, priority
// and SLA, before the ticket is opened.
type Assessed struct {
	Triaged  Triaged       `json:"triaged"`
	Queue    string        `json:"queue" jsonschema:"enum=billing,enum=engineering,enum=on_call,enum=account_security,enum=customer_care,enum=product_feedback,enum=general"`
	Team     string        `json:"team" jsonschema:"minLength=1"`
	Priority string        `json:"priority" jsonschema:"enum=p1,enum=p2,enum=p3,enum=p4"`
	SLA      time.Duration `json:"sla" jsonschema:"minimum=1"`
}

// deskPipelines builds each desk's pipeline on the runtime: its own
// assessment, then the ticket; spam is quarantined, with no ticket.
func deskPipelines(rt *pipeline.Runtime, policy pipeline.Policy) map[Desk]*pipeline.Pipeline[Triaged, Routed] {
	routes := map[Desk]*pipeline.Pipeline[Triaged, Routed]{
		Spam: pipeline.New(rt, deskPipeline(Spam), step.New("quarantine", quarantine, step.Config{}), policy),
	}
	for _, d := range desks {
		assess := step.New("assess", func(_ context.Context, t Triaged) (Assessed, error) { return d.assess(t), nil }, step.Config{})
		routes[d.desk] = pipeline.Then(pipeline.New(rt, deskPipeline(d.desk), assess, policy), step.New("ticket", openTicket, step.Config{}))
	}
	return routes
}

// deskPipeline names a desk's pipeline.
func deskPipeline(d Desk) string { return string(d) + "-desk" }

// openTicket puts the message in the desk's queue. Enterprise customers
// get half the SLA; a message not in English asks for a translation.
func openTicket(_ context.Context, a Assessed) (Routed, error) {
	t := a.Triaged
	sla := a.SLA
	if t.Plan == "enterprise" {
		sla /= 2
	}
	return Routed{MessageID: t.MessageID, Queue: a.Queue, Team: a.Team, Priority: a.Priority, SLA: shortDuration(sla),
		DueBy: t.ReceivedAt.Add(sla), Translate: t.Classification.Language != "en"}, nil
}

// quarantine keeps spam out of every team's queue.
func quarantine(_ context.Context, t Triaged) (Routed, error) {
	return Routed{MessageID: t.MessageID, Queue: "spam", Team: "Spam filter", Priority: "p4", SLA: "none"}, nil
}
