package benchfixture

import (
	"fmt"
	"time"
)

// Lead is the payload of the durable benchmarks (closed loop, latency,
// backlog, record size): about 1 KB of JSON with a nested object,
// strings, an enum, an array of objects, a map and a time. Plumb and its
// peers carry the same value through the same three steps.
type Lead struct {
	ID       string            `json:"id" jsonschema:"minLength=1,maxLength=40"`
	Stage    string            `json:"stage" jsonschema:"enum=new,enum=qualified,enum=contacted,enum=won,enum=lost"`
	Received time.Time         `json:"received"`
	Contact  Contact           `json:"contact"`
	Message  string            `json:"message" jsonschema:"maxLength=2000"`
	Visits   []Visit           `json:"visits" jsonschema:"maxItems=20"`
	Fields   map[string]string `json:"fields"`
	Score    int               `json:"score" jsonschema:"minimum=0,maximum=100"`
}

// Contact is who the lead is.
type Contact struct {
	Name    string `json:"name" jsonschema:"minLength=1,maxLength=80"`
	Email   string `json:"email" jsonschema:"maxLength=120"`
	Company string `json:"company" jsonschema:"maxLength=120"`
	Phone   string `json:"phone" jsonschema:"maxLength=40"`
}

// Visit is one page the lead looked at.
type Visit struct {
	Path    string `json:"path" jsonschema:"minLength=1,maxLength=200"`
	Seconds int    `json:"seconds" jsonschema:"minimum=0"`
	Source  string `json:"source" jsonschema:"enum=direct,enum=search,enum=ad,enum=email"`
}

// NewLead returns lead number n: the same shape and about the same size
// (1,000 to 1,050 bytes of JSON) for every n.
func NewLead(n int) Lead {
	return Lead{
		ID:       fmt.Sprintf("lead-%09d", n),
		Stage:    "new",
		Received: time.Date(2026, 11, 30, 9, 26, 53, 0, time.UTC).Add(time.Duration(n) * time.Second),
		Contact: Contact{
			Name:    "Grace Hopper",
			Email:   fmt.Sprintf("grace.hopper+%d@compilers.example.com", n%1000),
			Company: "Compilers & Co. (Arlington office)",
			Phone:   "+1 703 555 0142",
		},
		Message: "Hello, we are looking for someone to automate our weekly client reports and the follow-up " +
			"of the leads that arrive through our website's contact form. Could you send us a quote and " +
			"tell us how soon you could start? We would like to begin before the end of the quarter, " +
			"and we have about two hundred new leads a week, most of them in English and German.",
		Visits: []Visit{
			{Path: "/pricing", Seconds: 42, Source: "search"},
			{Path: "/case-studies/weekly-reports", Seconds: 131, Source: "direct"},
			{Path: "/blog/automations-that-break-at-volume", Seconds: 95, Source: "email"},
			{Path: "/contact", Seconds: 18, Source: "direct"},
		},
		Fields: map[string]string{
			"utm_source":   "newsletter",
			"utm_campaign": "winter-2026",
			"budget":       "5k-10k",
			"team_size":    "11-50",
			"region":       "north-america",
		},
		Score: 10 + n%50,
	}
}
