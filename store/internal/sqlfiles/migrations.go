// Package sqlfiles loads a store's embedded schema migrations: files
// named NNNN_name.sql, numbered from 0001 without gaps, applied in order;
// a schema's version is the number of the last one applied.
package sqlfiles

import (
	"fmt"
	"io/fs"
	"slices"
	"strconv"
	"strings"
)

// Migration is one embedded SQL file.
type Migration struct {
	Version int
	Name    string
	SQL     string
}

// Load reads the migrations in fsys's directory dir. owner names the
// store in its errors.
func Load(fsys fs.FS, dir, owner string) ([]Migration, error) {
	entries, err := fs.ReadDir(fsys, dir)
	if err != nil {
		return nil, fmt.Errorf("%s: read the migrations: %w", owner, err)
	}
	var out []Migration
	for _, e := range entries {
		num, _, ok := strings.Cut(e.Name(), "_")
		v, err := strconv.Atoi(num)
		if !ok || err != nil || !strings.HasSuffix(e.Name(), ".sql") {
			return nil, fmt.Errorf("%s: migration %s is not named NNNN_name.sql", owner, e.Name())
		}
		b, err := fs.ReadFile(fsys, dir+"/"+e.Name())
		if err != nil {
			return nil, fmt.Errorf("%s: migration %s: %w", owner, e.Name(), err)
		}
		out = append(out, Migration{Version: v, Name: e.Name(), SQL: string(b)})
	}
	slices.SortFunc(out, func(a, b Migration) int { return a.Version - b.Version })
	for i, m := range out {
		if m.Version != i+1 {
			return nil, fmt.Errorf("%s: migration %s: want version %d", owner, m.Name, i+1)
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%s: no migrations in %s", owner, dir)
	}
	return out, nil
}

// MustLoad is Load for the migrations a package embeds: an error there is
// a bug in the package, found by its first test.
func MustLoad(fsys fs.FS, dir, owner string) []Migration {
	ms, err := Load(fsys, dir, owner)
	if err != nil {
		panic(err)
	}
	return ms
}
