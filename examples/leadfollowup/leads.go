package main

import (
	"fmt"
	"math/rand/v2"
	"strings"
)

// RawLead is a lead as it arrives from a web form, an inbox or a CRM
// export: half-formatted text.
type RawLead struct {
	ID     string `json:"id" jsonschema:"minLength=1"`
	Source string `json:"source"`
	Text   string `json:"text" jsonschema:"minLength=1"`
}

// RawLeadNext is RawLead as the next release (buildNext) takes it: the
// chat widget's leads go to a pipeline of their own.
type RawLeadNext struct {
	ID     string `json:"id" jsonschema:"minLength=1"`
	Source string `json:"source" jsonschema:"enum=web-form,enum=inbox,enum=crm-export"`
	Text   string `json:"text" jsonschema:"minLength=1"`
}

var (
	firstNames = []string{"Ada", "grace", "ALAN", "Margaret", "Linus", "Barbara", "ken", "Radia", "Tim", "Frances", "Dennis", "Hedy", "José", "Zoë", "Øyvind"}
	lastNames  = []string{"Lovelace", "hopper", "Turing", "Hamilton", "Torvalds", "Liskov", "Thompson", "Perlman", "Berners-Lee", "Allen", "Ritchie", "Lamarr", "Núñez", "Ørsted"}
	companies  = []string{"Acme Corp", "Globex", "Initech", "Umbrella Ltd", "Hooli", "Stark Industries", "", "Wayne Enterprises", "Soylent"}
	messages   = []string{
		"Hi, what does the Pro plan cost for a team of 12? Do you offer annual billing?",
		"We'd love a demo next week, our ops team is evaluating three vendors.",
		"Can we book a call to see the product? Tuesday works.",
		"Our export keeps failing with error 500 since yesterday, please help.",
		"Interested in a partnership: we resell automation tools in the Nordics.",
		"just browsing",
		"PRICING??? need it asap",
		"Is there a discount for nonprofits? We have 40 seats.",
		"Please unsubscribe me from this list.",
		"Saw your talk at the conference, would like to chat about integrations.",
	}
	sources = []string{"web-form", "inbox", "crm-export", "chat-widget"}
)

// makeLeads builds n leads the way they really arrive: names in any case,
// emails in angle brackets or after labels, stray spaces, some with no way
// to reach the person at all.
func makeLeads(n int, seed uint64) []RawLead {
	rng := rand.New(rand.NewPCG(seed, 7))
	leads := make([]RawLead, 0, n)
	for i := 0; i < n; i++ {
		first := firstNames[rng.IntN(len(firstNames))]
		last := lastNames[rng.IntN(len(lastNames))]
		company := companies[rng.IntN(len(companies))]
		msg := messages[rng.IntN(len(messages))]
		email := strings.ToLower(strings.ReplaceAll(fmt.Sprintf("%s.%s@%s.example", ascii(first), ascii(last), domain(company, i)), " ", ""))
		var text string
		switch rng.IntN(6) {
		case 0:
			text = fmt.Sprintf("%s %s <%s>\n%s", first, last, email, msg)
		case 1:
			text = fmt.Sprintf("Name: %s %s\nEmail:   %s  \nCompany: %s\nMessage: %s", first, last, strings.ToUpper(email), company, msg)
		case 2:
			text = fmt.Sprintf("from: %s\n\n%s\n-- \n%s %s, %s", email, msg, first, last, company)
		case 3:
			text = fmt.Sprintf("  %s  |  %s %s | %s | %s ", company, last, first, email, msg)
		case 4:
			text = fmt.Sprintf("%s\n\nThanks,\n%s\n%s", msg, first, email)
		default:
			if rng.IntN(3) == 0 {
				// No email at all: a phone number scrawled in a form.
				text = fmt.Sprintf("%s %s, call me on +44 20 7946 0%03d. %s", first, last, rng.IntN(1000), msg)
			} else {
				text = fmt.Sprintf("%s <%s> wrote: %s", first, email, msg)
			}
		}
		leads = append(leads, RawLead{ID: fmt.Sprintf("lead-%04d", i+1), Source: sources[rng.IntN(len(sources))], Text: text})
	}
	return leads
}

func domain(company string, i int) string {
	if company == "" {
		return fmt.Sprintf("mail%d", i%3)
	}
	return strings.ToLower(strings.Fields(company)[0])
}

// ascii folds the accented letters of the names above, as mail providers
// do when people choose their address.
func ascii(s string) string {
	return strings.NewReplacer("é", "e", "ë", "e", "ú", "u", "ñ", "n", "Ø", "O", "ø", "o").Replace(s)
}
