package store_test

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/plumb-dev/plumb/store"
	"github.com/plumb-dev/plumb/store/memstore"
)

// The deploy-time check: which runs in flight would a new definition of
// their pipeline break? Here v2 makes classify's input require an email,
// and one of two queued runs has none.
func ExampleCheckVersions() {
	ctx := context.Background()
	s := memstore.New(memstore.Config{})
	steps := func(classifyInput string) []store.StepDef {
		return []store.StepDef{
			{Name: "classify", InputSchema: json.RawMessage(classifyInput), OutputSchema: json.RawMessage(`{"type":"string"}`)},
		}
	}
	v1 := store.Version{Fingerprint: store.Fingerprint(steps(`{"type":"object"}`)), Label: "v1"}
	for i, input := range []string{`{"email":"ada@example.com"}`, `{"name":"Grace"}`} {
		_, _, _ = s.Enqueue(ctx, store.NewRun{ID: fmt.Sprint("run-", i+1), Pipeline: "leads",
			Input: json.RawMessage(input), KeepPayloads: true, Version: v1})
	}

	next := store.PipelineDef{Name: "leads", Steps: steps(`{"type":"object","required":["email"]}`),
		Version: store.Version{Label: "v2"}}
	rep, err := store.CheckVersions(ctx, s, []store.PipelineDef{next}, nil)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Printf("checked %d runs, ok: %v\n", rep.Checked, rep.OK())
	for _, inc := range rep.Broken {
		fmt.Printf("%s (%s, started under %s): %s\n", inc.RunID, inc.Status, inc.Version.Label, inc.Reason)
	}
	// Output:
	// checked 2 runs, ok: false
	// run-2 (queued, started under v1): its input breaks the input contract of step classify (/: missing required property "email")
}
