package main

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"time"
)

// Message is a support message as the help desk hands it over.
type Message struct {
	ID         string    `json:"id" jsonschema:"minLength=1"`
	Channel    string    `json:"channel" jsonschema:"enum=email,enum=chat,enum=web_form"`
	From       string    `json:"from" jsonschema:"minLength=1"`
	Plan       string    `json:"plan" jsonschema:"enum=free,enum=pro,enum=enterprise"`
	Subject    string    `json:"subject"`
	Body       string    `json:"body" jsonschema:"minLength=1"`
	ReceivedAt time.Time `json:"received_at"`
}

// sample is a kind of message with what a careful reader would make of it:
// the scripted model answers from these, so that its answers are right
// unless it makes a mistake on purpose.
type sample struct {
	category, urgency, sentiment, language string
	// confidence is how sure a careful reader can be: low for the messages
	// that could mean two things.
	confidence             float64
	subject, body, summary string
}

var samples = []sample{
	{"complaint", "urgent", "negative", "en", 0.93, "This is the THIRD time I'm writing",
		"I have written three times about the export that has been broken since Monday and NOBODY answers. We pay {amount} a month for this. If I don't hear back today we are cancelling.",
		"Third unanswered message about the broken export; threatens to cancel today."},
	{"billing", "high", "negative", "en", 0.95, "Charged twice for March",
		"Hi, my card was charged {amount} twice on 1 March (invoice {order}). Please refund the duplicate payment.",
		"Charged {amount} twice for March (invoice {order}); asks for a refund."},
	{"bug", "urgent", "negative", "en", 0.94, "Production export crashes",
		"Since this morning every export fails. From our logs:\n\npanic: runtime error: index out of range [3] with length 3\n\ngoroutine 41 [running]:\nexport.(*Writer).flush(0xc000134000)\n\t/app/export/writer.go:212 +0x1e5\nexport.Run({0x7ffd5a, 0x12})\n\t/app/export/run.go:88 +0x2a\n\nAll {n} of our users are blocked.",
		"Every export fails with an index-out-of-range panic; all users blocked."},
	{"feature_request", "low", "positive", "en", 0.91, "Dark mode please",
		"Love the product! Any plans for a dark mode? Our support team works nights and would really appreciate it.",
		"Asks for a dark mode for night-shift support staff."},
	{"spam", "low", "neutral", "en", 0.97, "Boost your SEO ranking today!!!",
		"Dear Sir/Madam, we GUARANTEE first page on Google in 7 days. Reply now for 50% off. Click http://seo-rank-booster.example/offer",
		"Unsolicited SEO services offer."},
	{"account", "urgent", "negative", "en", 0.9, "Locked out, lost my 2FA phone",
		"I lost my phone with the authenticator app and I'm locked out of the admin account. Payroll export is due today. How do I get back in?",
		"Admin locked out after losing the 2FA device; payroll due today."},
	{"billing", "normal", "neutral", "de", 0.9, "Doppelte Abbuchung",
		"Guten Tag, uns wurde der Betrag von {amount} im März zweimal abgebucht (Rechnung {order}). Bitte erstatten Sie die doppelte Zahlung. Mit freundlichen Grüßen",
		"Charged {amount} twice in March (invoice {order}); asks for a refund."},
	{"bug", "normal", "neutral", "en", 0.86, "API returns 500 on /v2/reports",
		"Our nightly sync broke:\n\nTraceback (most recent call last):\n  File \"sync.py\", line 41, in <module>\n    r.raise_for_status()\n  File \"/usr/lib/python3.12/site-packages/requests/models.py\", line 1021, in raise_for_status\nrequests.exceptions.HTTPError: 500 Server Error: Internal Server Error for url: https://api.plumb.example/v2/reports?since=2026-02-01\n\nIt only happens with the since parameter.",
		"GET /v2/reports answers 500 when the since parameter is set."},
	{"other", "normal", "neutral", "en", 0.52, "quick question",
		"hey, quick question - is this the right place to ask about the thing from yesterday's call?",
		"Asks where to follow up on an unspecified topic from a call."},
	{"billing", "low", "neutral", "en", 0.9, "Annual billing?",
		"Is it possible to switch from monthly to annual billing, and would the unused part of this month be credited?",
		"Wants to switch to annual billing and asks about a credit."},
	{"bug", "high", "negative", "en", 0.87, "Android app crashes on login",
		"java.lang.NullPointerException: Attempt to invoke virtual method 'java.lang.String com.acme.Session.getToken()' on a null object reference\n    at com.acme.login.LoginActivity.onResume(LoginActivity.java:88)\n    at android.app.Activity.performResume(Activity.java:8422)\nPixel 7, Android 15, app 4.2.1. Every time.",
		"Android app 4.2.1 crashes with a NullPointerException on login."},
	{"spam", "low", "positive", "en", 0.96, "Congratulations, you have been selected",
		"Congratulations! You have been selected for an exclusive crypto opportunity with 300% monthly returns. Send your wallet address to claim your place.",
		"Crypto investment scam."},
	{"bug", "normal", "negative", "es", 0.86, "La aplicación se cierra",
		"Hola, la aplicación se cierra cada vez que intento subir un archivo de más de 10 MB. Lo hemos probado en tres ordenadores. ¿Pueden ayudarnos?",
		"The app crashes when uploading files over 10 MB, on three computers."},
	{"bug", "normal", "negative", "en", 0.56, "broken again",
		"it's broken again.",
		"Reports that something is broken again, without saying what."},
	{"feature_request", "low", "neutral", "en", 0.88, "SSO with Okta",
		"We're rolling out Okta across the company. Do you support SAML SSO, and is it on the Pro plan?",
		"Asks whether SAML SSO with Okta is supported on the Pro plan."},
	{"account", "normal", "neutral", "en", 0.89, "Change the account owner",
		"Our founder {name} has left the company. Please transfer ownership of the workspace to me.",
		"Asks to transfer workspace ownership from a departed founder."},
	{"complaint", "high", "negative", "en", 0.88, "You deleted our saved filters",
		"Your latest update deleted all our saved filters. Whoever decided that was fine should try using the product for a day. Very disappointed.",
		"The latest update removed all saved filters; very disappointed."},
	{"account", "normal", "neutral", "fr", 0.84, "Impossible de me connecter",
		"Bonjour, je n'arrive plus à me connecter depuis le changement de mot de passe. Le lien de réinitialisation a expiré. Merci de votre aide.",
		"Cannot log in after a password change; the reset link expired."},
	{"billing", "normal", "neutral", "en", 0.61, "see attached",
		"Please see attached and advise.",
		"Refers to an attachment that is not there; intent unclear."},
	{"bug", "normal", "neutral", "en", 0.83, "Dashboard blank in Safari",
		"TypeError: undefined is not an object (evaluating 'chart.data.datasets[0]')\n  at renderChart (dashboard.js:1:48211)\nSafari 18.2 on macOS 15. Chrome works fine.",
		"Dashboard stays blank in Safari 18.2 with a TypeError in renderChart."},
	{"billing", "normal", "neutral", "ja", 0.82, "請求書の宛名変更について",
		"いつもお世話になっております。先月の請求書（{order}）の宛名を会社名に変更していただけますでしょうか。よろしくお願いいたします。",
		"Asks to change the addressee of last month's invoice ({order}) to the company."},
	{"complaint", "normal", "negative", "en", 0.6, "Great, just great",
		"Great job on the new navigation, really. Now nobody on my team can find the export button. Fantastic.",
		"Sarcastic complaint that the new navigation hides the export button."},
	{"feature_request", "normal", "neutral", "en", 0.8, "Retry failed webhooks",
		"It would help a lot if failed webhooks were retried with backoff. Today we lose events whenever our endpoint is down for a minute.",
		"Asks for webhook retries with backoff to stop losing events."},
	{"account", "high", "negative", "en", 0.85, "Login from Lagos that wasn't me",
		"I got an email about a login from Lagos at 3am. That wasn't me. I've changed my password; should I be worried?",
		"Reports a suspicious login; has changed the password already."},
	{"feature_request", "low", "positive", "pt", 0.8, "Integração com o Pipedrive",
		"Olá! Vocês têm planos de integrar com o Pipedrive? Seria ótimo para o nosso time de vendas.",
		"Asks for a Pipedrive integration for the sales team."},
	{"other", "normal", "neutral", "en", 0.5, "cancel",
		"cancel",
		"One word, cancel: the subscription, an order or a job is unclear."},
}

var (
	names    = []string{"Ana Lima", "Ben Okafor", "Chen Wei", "Dana Fischer", "Emeka Obi", "Fatima Zahra", "Gustavo Reyes", "Hana Sato", "Ivan Petrov", "Jo Martin"}
	domains  = []string{"northwind.example", "globex.example", "initech.example", "gmail.example", "umbrella.example"}
	plans    = []string{"free", "pro", "pro", "enterprise"}
	channels = []string{"email", "email", "chat", "web_form"}
)

// start is when the first message of the batch arrived: fixed, so that
// every run computes the same due times.
var start = time.Date(2026, 3, 2, 7, 30, 0, 0, time.UTC)

// makeMessages builds a morning's support inbox: n messages, every kind of
// sample in a seeded order, filled in with names, amounts and invoices.
func makeMessages(n int, seed uint64) []Message {
	rng := rand.New(rand.NewPCG(seed, 17))
	order := rng.Perm(len(samples))
	out := make([]Message, 0, n)
	at := start
	for i := 0; i < n; i++ {
		s := samples[order[i%len(samples)]]
		name := names[rng.IntN(len(names))]
		fill := strings.NewReplacer("{amount}", fmt.Sprintf("€%d.00", 49+rng.IntN(400)),
			"{order}", fmt.Sprintf("INV-2026-%04d", 1000+rng.IntN(9000)),
			"{n}", fmt.Sprint(12+rng.IntN(80)), "{name}", names[rng.IntN(len(names))])
		local := strings.ToLower(strings.ReplaceAll(name, " ", "."))
		out = append(out, Message{
			ID:         fmt.Sprintf("msg-%04d", i+1),
			Channel:    channels[rng.IntN(len(channels))],
			From:       fmt.Sprintf("%s <%s@%s>", name, local, domains[rng.IntN(len(domains))]),
			Plan:       plans[rng.IntN(len(plans))],
			Subject:    fill.Replace(s.subject),
			Body:       fill.Replace(s.body),
			ReceivedAt: at,
		})
		at = at.Add(time.Duration(1+rng.IntN(9)) * time.Minute)
	}
	return out
}

// sampleOf finds the sample a message was made from, by its subject.
func sampleOf(m Message) (sample, bool) {
	for _, s := range samples {
		if s.subject == m.Subject {
			return s, true
		}
	}
	return sample{}, false
}
