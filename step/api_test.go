package step_test

import (
	"go/ast"
	"go/doc"
	"go/parser"
	"go/token"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// userAPI is everything package step exports: what users call to write,
// configure and run steps and to read their records. Plumbing that only
// llm, pipeline and pipelinetest need lives in internal/attempt; a name
// added here is a promise to users, so add one only for them.
var userAPI = []string{
	// Steps and their policies.
	"Func", "New", "Config", "Step", "Step.Name", "Step.Err", "Step.Run", "Step.OnFailure",
	"Step.InputContract", "Step.OutputContract", "Step.Or", "Step.Fallbacks",
	"Route", "Route.String", "DeadLetter", "Review",
	"ReviewRule", "ReviewDefault", "NoDefault", "ApproveProposal", "RejectAtDeadline",
	// Results, records and errors.
	"Result", "Result.Fallback",
	"Attempt", "Attempt.Err", "Attempt.SetError",
	"AttemptKind", "AttemptKind.String", "AttemptKind.MarshalText", "AttemptKind.UnmarshalText",
	"AttemptCall", "AttemptRetry", "AttemptReask", "AttemptFallbackModel", "AttemptInputContract", "AttemptOutcome",
	"Error", "Error.Error", "Error.Is", "Error.Unwrap", "Error.ClassKnown",
	"PanicError", "PanicError.Error", "PanicError.Is", "PanicError.Unwrap",
	"DeferredError", "DeferredError.Error", "DeferredError.Is", "DeferredError.Unwrap",
	"ErrAbandoned", "ErrPanic",
	// The run a step function executes in.
	"RunInfo", "RunInfo.IdempotencyKey", "RunInfoFrom", "Trigger",
}

// TestStepExportsOnlyTheUserAPI keeps plumbing from creeping back into the
// package users import: every exported name, method included, must be on
// the allow-list, and every name on it must exist.
func TestStepExportsOnlyTheUserAPI(t *testing.T) {
	fset := token.NewFileSet()
	entries, err := os.ReadDir(".")
	require.NoError(t, err)
	var files []*ast.File
	for _, e := range entries {
		if !strings.HasSuffix(e.Name(), ".go") || strings.HasSuffix(e.Name(), "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, e.Name(), nil, parser.ParseComments)
		require.NoError(t, err)
		files = append(files, f)
	}
	require.NotEmpty(t, files)
	p, err := doc.NewFromFiles(fset, files, "github.com/plumb-dev/plumb/step")
	require.NoError(t, err)

	var got []string
	values := func(vs []*doc.Value) {
		for _, v := range vs {
			got = append(got, v.Names...)
		}
	}
	values(p.Consts)
	values(p.Vars)
	for _, f := range p.Funcs {
		got = append(got, f.Name)
	}
	for _, typ := range p.Types {
		got = append(got, typ.Name)
		values(typ.Consts)
		values(typ.Vars)
		for _, f := range typ.Funcs {
			got = append(got, f.Name)
		}
		for _, m := range typ.Methods {
			got = append(got, typ.Name+"."+m.Name)
		}
	}
	for _, name := range got {
		assert.True(t, slices.Contains(userAPI, name), "step exports %s, which is not on the user API's allow-list: plumbing belongs in internal/attempt", name)
	}
	for _, name := range userAPI {
		assert.True(t, slices.Contains(got, name), "the allow-list names %s, which step does not export", name)
	}
}
