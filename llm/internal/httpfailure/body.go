package httpfailure

import (
	"encoding/json"
	"strings"
)

// Body is what an error answer's body says. A field the body does not give
// is empty.
type Body struct {
	// Message is the error's text, clipped to a readable size.
	Message string
	// Type is the envelope's error.type: "insufficient_quota",
	// "overloaded_error".
	Type string
	// Code is the envelope's error.code (OpenAI's), a number as its JSON text.
	Code string
}

// ParseBody reads an error body in whichever shape the server used: the
// {"error": {"message", "type", "code"}} envelope of OpenAI and Anthropic
// (whose {"type": "error"} around it is ignored), {"error": "text"},
// {"message": ...} or {"detail": ...} (gateways, FastAPI-based servers), or
// plain text and HTML from a proxy.
func ParseBody(body []byte) Body {
	var env struct {
		Error   json.RawMessage `json:"error"`
		Message json.RawMessage `json:"message"`
		Detail  json.RawMessage `json:"detail"`
	}
	if json.Unmarshal(body, &env) == nil {
		var obj struct {
			Message json.RawMessage `json:"message"`
			Type    string          `json:"type"`
			Code    json.RawMessage `json:"code"`
		}
		if json.Unmarshal(env.Error, &obj) == nil && (obj.Message != nil || obj.Type != "") {
			return Body{Message: jsonText(obj.Message), Type: obj.Type, Code: jsonText(obj.Code)}
		}
		for _, raw := range []json.RawMessage{env.Error, env.Message, env.Detail} {
			if s := jsonText(raw); s != "" {
				return Body{Message: s}
			}
		}
	}
	return Body{Message: clip(strings.Join(strings.Fields(string(body)), " "))}
}

// jsonText returns a JSON string's text, or any other non-null value as JSON.
func jsonText(raw json.RawMessage) string {
	if len(raw) == 0 || string(raw) == "null" {
		return ""
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return clip(s)
	}
	return clip(string(raw))
}

// clip keeps error messages to a readable size.
func clip(s string) string {
	const limit = 500
	if len(s) <= limit {
		return s
	}
	cut := limit
	for cut > 0 && !isRuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}

func isRuneStart(b byte) bool { return b&0xC0 != 0x80 }
