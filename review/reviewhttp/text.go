package reviewhttp

import "github.com/plumb-dev/plumb/internal/webui"

// Text from users and models is escaped, isolated in <bdi>, and its
// directional controls are shown by name (see internal/webui).
var (
	// isolate is the template function "iso".
	isolate        = webui.Isolate
	escapeBidiJSON = webui.EscapeBidiJSON
	dropBidi       = webui.DropBidi
)
