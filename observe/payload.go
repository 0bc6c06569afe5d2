package observe

import "unicode/utf8"

// Payloads says whether and how step inputs and outputs are recorded on
// spans. Payloads are never recorded unless asked for: they hold customers'
// data.
type Payloads struct {
	// Record turns payload recording on.
	Record bool
	// Redact, when set, rewrites a payload (JSON) before it is recorded:
	// drop or mask fields that must not leave the process. Returning nil
	// records nothing.
	Redact func(step string, payload []byte) []byte
	// MaxBytes caps a recorded payload; longer ones are cut on a rune
	// boundary and marked. Defaults to 4096.
	MaxBytes int
}

// DefaultPayloadMaxBytes is the default cap on a recorded payload.
const DefaultPayloadMaxBytes = 4096

// Prepare applies the redaction hook and the size cap to payload and
// reports whether anything is left to record.
func (p Payloads) Prepare(step string, payload []byte) (string, bool) {
	if !p.Record {
		return "", false
	}
	if p.Redact != nil {
		payload = p.Redact(step, payload)
	}
	if payload == nil {
		return "", false
	}
	return Truncate(string(payload), p.maxBytes()), true
}

func (p Payloads) maxBytes() int {
	if p.MaxBytes <= 0 {
		return DefaultPayloadMaxBytes
	}
	return p.MaxBytes
}

// Truncate cuts s to at most max bytes on a rune boundary, marking the cut
// with "…(truncated)".
func Truncate(s string, max int) string {
	if len(s) <= max {
		return s
	}
	const mark = "…(truncated)"
	cut := max - len(mark)
	if cut < 0 {
		cut = 0
	}
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + mark
}
