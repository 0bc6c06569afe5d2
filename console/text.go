package console

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"time"

	"github.com/plumb-dev/plumb/internal/webui"
)

// Text from users and models is escaped by html/template, isolated in
// <bdi>, and its directional controls are shown by name (internal/webui).
var (
	// isolate is the template function "iso".
	isolate        = webui.Isolate
	escapeBidiJSON = webui.EscapeBidiJSON
)

// pretty indents a JSON payload for reading; anything else is returned as
// it is.
func pretty(raw []byte) string {
	var b bytes.Buffer
	if json.Indent(&b, raw, "", "  ") != nil {
		return escapeBidiJSON(string(raw))
	}
	return escapeBidiJSON(b.String())
}

func fmtTime(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.UTC().Format("2006-01-02 15:04:05 UTC")
}

func fmtDur(d time.Duration) string {
	switch {
	case d <= 0:
		return "0s"
	case d < time.Millisecond:
		return "<1ms"
	case d < time.Second:
		return d.Round(time.Millisecond).String()
	case d < time.Minute:
		return d.Round(100 * time.Millisecond).String()
	}
	return d.Round(time.Second).String()
}

func plural(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return fmt.Sprintf("%d %s", n, many)
}

func decodeFlash(s string) string {
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil || len(b) > 1000 {
		return ""
	}
	return string(b)
}
