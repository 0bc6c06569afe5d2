package reviewhttp

import (
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/plumb-dev/plumb/contract"

	"github.com/plumb-dev/plumb/internal/webui"
)

// FuzzEditText reads a reviewer's textarea: it never panics, answers an
// edit only when the text is JSON, refuses only with a ValidationError
// (shown as violations), and the proposal as the page shows it (indented,
// HTML escapes undone, directional controls escaped) approves as the
// proposal, not as an edit.
func FuzzEditText(f *testing.F) {
	for _, s := range [][2]string{
		{`{"to":"bob@example.com","subject":"Hi","confidence":0.4}`, `{"to": "bob@example.com", "subject": "Hi", "confidence": 0.4}`},
		{`{"s":"\u003cb\u003e \u0026 \\u003c"}`, `{"s":"<b> & \\u003c"}`},
		{"{\"s\":\"invoice \u202egnp.exe\"}", `{"s":"invoice \u202egnp.exe"}`},
		{`[1,2,3]`, "  \n"},
		{`null`, `{"a":`},
		{`12345678901234567890`, `1.0`},
		{`1E700`, `1E700`}, // JSON, though beyond float64
	} {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, proposed, text string) {
		var prop json.RawMessage
		if json.Valid([]byte(proposed)) {
			prop = json.RawMessage(proposed)
		}
		edit, err := editFromText(text, prop)
		switch {
		case err != nil:
			var ve *contract.ValidationError
			if !errors.As(err, &ve) || len(ve.Violations) == 0 {
				t.Fatalf("editFromText(%q) refused without violations: %v", text, err)
			}
		case edit != nil && !json.Valid(edit):
			t.Fatalf("editFromText(%q) = %q, not JSON", text, edit)
		case edit == nil && prop == nil:
			t.Fatalf("editFromText(%q) approved a proposal there is none of", text)
		}
		if prop == nil {
			return
		}
		shown := shownJSON(prop)
		if edit, err := editFromText(shown, prop); err != nil || edit != nil {
			t.Fatalf("the proposal %q as shown (%q) reads as the edit %q, %v", proposed, shown, edit, err)
		}
	})
}

// FuzzCSRFToken checks form tokens against whatever a request sends: a
// token verifies only for the reviewer it was issued to, only while it is
// fresh, and nothing else verifies; it never panics.
func FuzzCSRFToken(f *testing.F) {
	f.Add("ana@example.com", "", "bob@example.com")
	f.Add("ana", "tp52cc.i_3MBeumiDKWrKri4Urf5iyfFAOV3nGvKVPlW-WX17o", "ana\x00")
	f.Add("", "+tp52cc.", "x")
	f.Add("ana", "-1.abc", "ana")
	f.Add("ana", "zzzzzzzzzzzzz.", "ana")
	now := time.Date(2026, 11, 27, 2, 17, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, reviewer, sent, other string) {
		clock := now
		tk := tokens{key: []byte("a key for the fuzz test, 32 byte"), now: func() time.Time { return clock }}
		issued := tk.mint(reviewer)
		if !tk.valid(reviewer, issued) {
			t.Fatalf("a fresh token for %q does not verify", reviewer)
		}
		if other != reviewer && tk.valid(other, issued) {
			t.Fatalf("a token for %q verifies for %q", reviewer, other)
		}
		if sent != issued && tk.valid(reviewer, sent) {
			// Only one signature is right for a given time stamp; another
			// spelling of the same time is another message.
			t.Fatalf("a token never issued verifies: %q (issued %q)", sent, issued)
		}
		clock = now.Add(webui.TokenTTL + time.Second)
		if tk.valid(reviewer, issued) {
			t.Fatalf("an expired token verifies")
		}
	})
}
