package floors

import (
	"strings"
	"testing"
)

// The cron parser is the pipeline's (through internal/crontab): a store
// keeps the ticks the pipeline computed and parses no spec.
func TestStoresParseNoCron(t *testing.T) {
	pkgs := []string{module + "store"}
	for _, s := range stores {
		pkgs = append(pkgs, module+s)
	}
	for pkg, ds := range goList(t, `{{.ImportPath}} {{join .Deps " "}}`, pkgs...) {
		for _, d := range ds {
			if strings.HasPrefix(d, "github.com/robfig/cron") || d == module+"internal/crontab" {
				t.Errorf("%s depends on %s: a store parses no cron spec", pkg, d)
			}
		}
	}
}
