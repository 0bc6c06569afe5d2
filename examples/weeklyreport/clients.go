package main

import (
	"math"
	"time"

	exmodels "github.com/plumb-dev/plumb/examples/internal/models"
)

// client is one customer of the agency: where its report goes, and when
// (Monday morning in its own zone).
type client struct {
	ID, Name, Email string
	Spec, Zone      string
	// base is its usual week: sessions, leads, deals, revenue.
	sessions, leads, deals int
	revenue                float64
}

var clients = []client{
	{ID: "acme", Name: "Acme GmbH", Email: "reports@acme.example", Spec: "0 9 * * MON", Zone: "Europe/Berlin",
		sessions: 12_400, leads: 310, deals: 21, revenue: 48_300},
	{ID: "globex", Name: "Globex Corporation", Email: "marketing@globex.example", Spec: "0 8 * * MON", Zone: "America/New_York",
		sessions: 56_000, leads: 1_240, deals: 64, revenue: 182_000},
	{ID: "initech", Name: "Initech KK", Email: "ops@initech.example", Spec: "30 9 * * MON", Zone: "Asia/Tokyo",
		sessions: 8_100, leads: 95, deals: 7, revenue: 15_900},
}

func clientByID(id string) (client, bool) {
	for _, c := range clients {
		if c.ID == id {
			return c, true
		}
	}
	return client{}, false
}

// metricsSource is the analytics API the report reads, scripted: a
// client's week is fixed by the seed, so every run of the example with
// the same seed tells the same story. About one week in six lost days of
// tracking (a tag removed in a deploy), which the model notices.
type metricsSource struct{ seed uint64 }

// week returns a client's figures for the week starting on monday (a
// date), and for the week before.
func (m metricsSource) week(c client, monday time.Time) Metrics {
	cur := m.figures(c, monday)
	prev := m.figures(c, monday.AddDate(0, 0, -7))
	cur.Previous = &Figures{Sessions: prev.Sessions, Leads: prev.Leads, Deals: prev.Deals, Revenue: prev.Revenue}
	return cur
}

func (m metricsSource) figures(c client, monday time.Time) Metrics {
	week := monday.Format("2006-01-02")
	vary := func(what string, base float64) float64 {
		return base * (0.8 + 0.4*exmodels.Roll(m.seed, c.ID, week, what))
	}
	out := Metrics{Client: c.ID, ClientName: c.Name, Week: week,
		Figures: Figures{Sessions: int(vary("sessions", float64(c.sessions))), Leads: int(vary("leads", float64(c.leads))),
			Deals: int(vary("deals", float64(c.deals))), Revenue: math.Round(vary("revenue", c.revenue))}}
	if exmodels.Roll(m.seed, c.ID, week, "gap") < 0.17 {
		out.MissingDays = 2
		out.Sessions = out.Sessions * 5 / 7
		out.Leads = out.Leads * 5 / 7
	}
	return out
}
