package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/plumb-dev/plumb/store/pgstore"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr, os.Getenv)
	stop()
	os.Exit(code)
}

// app is one invocation: its streams, environment and global flags.
// Data goes to stdout; progress, notes and errors to stderr, so that
// `plumb ... --json | jq` sees only data.
type app struct {
	stdin          io.Reader
	stdout, stderr io.Writer
	env            func(string) string
	now            func() time.Time

	db, dsn, schema string
	json            bool
	target          target
}

// run executes the command line and returns the exit code.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer, env func(string) string) int {
	a := &app{stdin: stdin, stdout: stdout, stderr: stderr, env: env, now: time.Now}
	root := a.rootCommand()
	root.SetArgs(args)
	root.SetIn(stdin)
	root.SetOut(stdout)
	root.SetErr(stderr)
	cmd, err := root.ExecuteContextC(ctx)
	if err != nil {
		fmt.Fprintf(stderr, "plumb: %v\n", err)
		var ee *exitError
		if errors.As(err, &ee) && ee.detail != "" {
			fmt.Fprint(stderr, ee.detail)
		}
		if exitCode(err) == exitUsage {
			fmt.Fprintf(stderr, "Run '%s --help' for usage.\n", cmd.CommandPath())
		}
	}
	return exitCode(err)
}

const rootLong = `plumb inspects and repairs the runs of Plumb pipelines: one place to look
when something is wrong. It needs only the store: a replay, a cancellation
or a review decision is written to the store and carried out by the workers of your
own binary.

The store is a SQLite file (--db, $PLUMB_DB, default ./plumb.db) or a
PostgreSQL database (--dsn, $PLUMB_DSN; its tables in --schema,
$PLUMB_SCHEMA, default plumb). A flag wins over the environment.

Exit codes:
  0  ok
  1  the operation failed or was refused (a replay of a succeeded run, a
     cancel of a run that has ended, a patch or an edit that breaks the
     contract, a --wait'ed run that was dead-lettered again or timed out,
     a batch replay or cancel with failures)
  2  usage error (unknown command or flag, bad arguments, a batch replay
     or cancel without --yes and without a terminal to ask on)
  3  store unreachable, or not a Plumb store
  4  not found (no such run, step or pipeline; runs find found none)
  5  stale review (the review decided is no longer the run's: another
     decision came first; nothing was decided)
  6  versions check found runs whose records would break the definition
     (in CI: do not deploy it as it is)`

func (a *app) rootCommand() *cobra.Command {
	root := &cobra.Command{
		Use:           "plumb",
		Short:         "Inspect and repair Plumb pipelines: runs, dead letters, replays, cancels, reviews, pauses, versions",
		Long:          rootLong,
		SilenceUsage:  true,
		SilenceErrors: true,
		PersistentPreRunE: func(cmd *cobra.Command, _ []string) error {
			t, err := resolveTarget(a.db, a.dsn, a.env)
			t.schema = a.schema
			if !cmd.Flags().Changed("schema") && a.env("PLUMB_SCHEMA") != "" {
				t.schema = a.env("PLUMB_SCHEMA")
			}
			a.target = t
			return err
		},
	}
	pf := root.PersistentFlags()
	pf.StringVar(&a.db, "db", "", "the SQLite store file (or $PLUMB_DB; default ./plumb.db)")
	pf.StringVar(&a.dsn, "dsn", "", "the PostgreSQL store's DSN (or $PLUMB_DSN)")
	pf.StringVar(&a.schema, "schema", pgstore.DefaultSchema, "the PostgreSQL schema of the store's tables (or $PLUMB_SCHEMA)")
	pf.BoolVar(&a.json, "json", false, "print data as JSON")
	root.AddCommand(a.eventsCommand())
	root.AddCommand(a.schedulesCommand())
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usagef("%v", err) })
	root.AddCommand(a.runsCommand(), a.deadLettersCommand(), a.replayCommand(), a.cancelCommand(), a.reviewCommand(),
		a.pauseCommand(), a.resumeCommand(), a.statusCommand(), a.versionsCommand(), a.migrateCommand())
	return root
}

// group makes cmd a command of subcommands that refuses an unknown one:
// cobra would print the help and exit 0, and a script's typo would pass.
func group(cmd *cobra.Command, subs ...*cobra.Command) *cobra.Command {
	cmd.AddCommand(subs...)
	cmd.RunE = func(c *cobra.Command, args []string) error {
		if len(args) > 0 {
			return usagef("unknown command %q for %q", args[0], c.CommandPath())
		}
		return c.Help()
	}
	return cmd
}

// action wraps a command's work: the store's errors get their exit codes.
func action(fn func(ctx context.Context, args []string) error) func(*cobra.Command, []string) error {
	return func(cmd *cobra.Command, args []string) error {
		return classify(fn(cmd.Context(), args))
	}
}

// open opens the store for a command that must find one there.
func (a *app) open(ctx context.Context) (*handle, error) {
	return openStore(ctx, a.target, false, a.stderr)
}

// printJSON writes v as indented JSON to stdout.
func (a *app) printJSON(v any) error {
	enc := json.NewEncoder(a.stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// shellQuote quotes s for a POSIX shell when it needs quoting, so that a
// printed command can be pasted as is.
func shellQuote(s string) string {
	if s != "" && !strings.ContainsFunc(s, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("-_./:@=,+%", r))
	}) {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
