package main

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"
)

func (a *app) migrateCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "migrate",
		Short: "Create the store, or upgrade its schema, and print the schema version",
		Long: `Migrate creates a store at --db (or --dsn) if there is none, or upgrades its
schema to the one this plumb knows, and prints the schema version. It is
the only command that creates a store; the others refuse a path where
there is none. Workers also migrate when they open the store: run it to
do so ahead of a deploy, or to check the version.`,
		Args: cobra.NoArgs,
		RunE: action(func(ctx context.Context, _ []string) error {
			h, err := openStore(ctx, a.target, true, a.stderr)
			if err != nil {
				return err
			}
			defer h.Close()
			if a.json {
				var prev *int // null: none, or not known
				if h.before >= 0 {
					prev = &h.before
				}
				return a.printJSON(struct {
					Store    string `json:"store"`
					Version  int    `json:"schema_version"`
					Previous *int   `json:"previous_version"`
					Created  bool   `json:"created"`
				}{h.where, h.version, prev, h.before == -1})
			}
			switch {
			case h.before == unknownVersion:
				fmt.Fprintf(a.stdout, "%s: created or upgraded the store's schema, now version %d\n", h.where, h.version)
			case h.before < 0:
				fmt.Fprintf(a.stdout, "%s: created a Plumb store, schema version %d\n", h.where, h.version)
			case h.before != h.version:
				fmt.Fprintf(a.stdout, "%s: upgraded the schema from version %d to %d\n", h.where, h.before, h.version)
			default:
				fmt.Fprintf(a.stdout, "%s: schema version %d, up to date\n", h.where, h.version)
			}
			return nil
		}),
	}
}
