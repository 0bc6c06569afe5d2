package docrefs

import (
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// mdRef finds a Markdown file named in Go source: "README.md",
// "bench/README.md".
var mdRef = regexp.MustCompile(`[A-Za-z0-9_./-]*[A-Za-z0-9_-]\.md\b`)

// TestCitedDocumentsExist fails on a .go file that names a Markdown file
// found neither next to it nor at the module's root.
func TestCitedDocumentsExist(t *testing.T) {
	root, err := filepath.Abs("../..")
	require.NoError(t, err)
	_, err = os.Stat(filepath.Join(root, "go.mod"))
	require.NoError(t, err, "the module root is two directories up")
	checked := 0
	err = filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if name := d.Name(); path != root && (strings.HasPrefix(name, ".") || name == "testdata" || name == "vendor") {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(path, ".go") {
			return nil
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		for _, ref := range mdRef.FindAllString(string(b), -1) {
			checked++
			ref = strings.TrimLeft(ref, "./")
			if exists(filepath.Join(filepath.Dir(path), ref)) || exists(filepath.Join(root, ref)) {
				continue
			}
			rel, _ := filepath.Rel(root, path)
			t.Errorf("%s cites %s, which the repository does not have: say what the reader needs in the comment itself", rel, ref)
		}
		return nil
	})
	require.NoError(t, err)
	require.NotZero(t, checked, "no .go file names a Markdown file: the pattern or the walk is broken")
}

func exists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}
