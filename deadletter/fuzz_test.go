package deadletter_test

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"github.com/plumb-dev/plumb/deadletter"
)

// FuzzDecodeJSONL reads arbitrary files as a dead-letter file: it never
// panics, never returns more letters than the file has lines, and every
// letter it returns re-encodes, and reads back the same, as JSONL.Send
// would write it.
func FuzzDecodeJSONL(f *testing.F) {
	f.Add([]byte(`{"pipeline":"leads","run_id":"r1","step":"parse","class":"permanent","error":"no email","attempts":[{"number":1,"error":"x"}],"started_at":"2026-11-27T02:00:00Z","failed_at":"2026-11-27T02:00:01Z","needs_human":true}` + "\n"))
	f.Add([]byte(`{"run_id":"r2","input":{"a":[1,2.5e300,"\u003c"]},"trigger":{"source":"webhook","external_id":"e"}}` + "\n" + `{"torn` + "\n"))
	f.Add([]byte("\n\n  \n{}\n"))
	f.Add([]byte(`{"class":"class(200)"}` + "\n" + `{"class":99}` + "\n" + `{"failed_at":"10000-01-01T00:00:00Z"}` + "\n"))
	f.Add([]byte(`{"attempts":[{"duration":-1,"wait":1e30}]}` + "\n"))
	f.Fuzz(func(t *testing.T, file []byte) {
		letters, skipped, err := deadletter.DecodeJSONL(bytes.NewReader(file))
		if err != nil {
			t.Fatalf("a reader that cannot fail failed: %v", err)
		}
		lines := 0
		for _, l := range strings.Split(string(file), "\n") {
			if strings.TrimSpace(l) != "" {
				lines++
			}
		}
		if len(letters)+skipped != lines {
			t.Fatalf("%d letters and %d skipped from %d lines", len(letters), skipped, lines)
		}
		var again bytes.Buffer
		for _, l := range letters {
			b, err := json.Marshal(l)
			if err != nil {
				t.Fatalf("decoded a letter that does not encode: %v", err)
			}
			again.Write(b)
			again.WriteByte('\n')
		}
		back, skipped, err := deadletter.DecodeJSONL(&again)
		if err != nil || skipped != 0 || len(back) != len(letters) {
			t.Fatalf("re-encoded letters read back as %d letters, %d skipped, %v; want %d", len(back), skipped, err, len(letters))
		}
		for i := range back {
			a, _ := json.Marshal(letters[i])
			b, _ := json.Marshal(back[i])
			if !bytes.Equal(a, b) {
				t.Fatalf("letter %d changed on a round trip:\n%s\n%s", i, a, b)
			}
		}
	})
}
