package floors

import (
	"os/exec"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

const module = "github.com/plumb-dev/plumb/"

// floor of each core package, lowest first: a package may import only
// packages on lower floors.
var floor = map[string]int{
	"retry":      0,
	"contract":   1,
	"observe":    2,
	"step":       3,
	"store":      4,
	"deadletter": 5,
	"notify":     6,
	"llm":        7,
	"pipeline":   8,
	"intake":     9,
}

// forbidden are dependencies the core must never pull in.
var forbidden = []string{
	"modernc.org/sqlite",
	"github.com/jackc/pgx",
	"github.com/openai/openai-go",
	"github.com/anthropics/anthropic-sdk-go",
	"github.com/chromedp",
	"go.opentelemetry.io/otel/sdk",
	module + "review",
	module + "console",
	module + "store/",
	module + "llm/",
	module + "cmd",
	module + "examples",
	module + "pipelinetest",
}

func goList(t *testing.T, format string, pkgs ...string) map[string][]string {
	t.Helper()
	args := append([]string{"list", "-f", format}, pkgs...)
	out, err := exec.Command("go", args...).CombinedOutput()
	require.NoError(t, err, "go list: %s", out)
	res := map[string][]string{}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		fields := strings.Fields(line)
		res[fields[0]] = fields[1:]
	}
	return res
}

func corePackages() []string {
	var pkgs []string
	for p := range floor {
		pkgs = append(pkgs, module+p)
	}
	return pkgs
}

func TestCoreNeverImportsDriversSDKsOrUI(t *testing.T) {
	deps := goList(t, `{{.ImportPath}} {{join .Deps " "}}`, corePackages()...)
	require.Len(t, deps, len(floor))
	for pkg, ds := range deps {
		for _, d := range ds {
			for _, f := range forbidden {
				// store/ and llm/ forbid the sub-packages, not the core
				// packages themselves.
				if strings.HasPrefix(d, f) && d != module+"store" && d != module+"llm" {
					t.Errorf("%s depends on %s, which the core must not import", pkg, d)
				}
			}
		}
	}
}

func TestCoreImportsOnlyLowerFloors(t *testing.T) {
	imports := goList(t, `{{.ImportPath}} {{join .Imports " "}}`, corePackages()...)
	for pkg, imps := range imports {
		own := floor[strings.TrimPrefix(pkg, module)]
		for _, imp := range imps {
			if !strings.HasPrefix(imp, module) {
				continue
			}
			rel := strings.TrimPrefix(imp, module)
			if strings.HasPrefix(rel, "internal/") {
				continue
			}
			f, ok := floor[rel]
			if !ok {
				t.Errorf("%s imports %s, which is not a core package", pkg, imp)
				continue
			}
			if f >= own {
				t.Errorf("%s (floor %d) imports %s (floor %d): a package imports only packages below it", pkg, own, imp, f)
			}
		}
	}
}

// stores are the store implementations: they implement store's interface
// and nothing above it, so that a store never depends on package
// deadletter (deadletter.Store makes any store a sink) or on the engine.
var stores = []string{"store/memstore", "store/sqlitestore", "store/pgstore"}

func TestStoresDependOnNothingAboveStore(t *testing.T) {
	var pkgs []string
	for _, s := range stores {
		pkgs = append(pkgs, module+s)
	}
	deps := goList(t, `{{.ImportPath}} {{join .Deps " "}}`, pkgs...)
	require.Len(t, deps, len(stores))
	for pkg, ds := range deps {
		require.Contains(t, ds, module+"store", "%s implements package store", pkg)
		for _, d := range ds {
			rel, ok := strings.CutPrefix(d, module)
			if f, core := floor[rel]; ok && core && f > floor["store"] {
				t.Errorf("%s depends on %s, above store: a store implementation depends only on store and below", pkg, d)
			}
		}
	}
}
