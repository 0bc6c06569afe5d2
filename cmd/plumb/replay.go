package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	osuser "os/user"
	"strings"

	"github.com/spf13/cobra"

	"github.com/plumb-dev/plumb/contract"
	"github.com/plumb-dev/plumb/store"
)

// replayFlags are replay's flags, for one run and for --filter.
type replayFlags struct {
	from, patch, reason, as string
	sets                    []string
	dry, filter, yes        bool
	w                       waitFlags
	f                       filterFlags
}

func (a *app) replayCommand() *cobra.Command {
	var o replayFlags
	cmd := &cobra.Command{
		Use:   "replay (RUN_ID | --filter)",
		Short: "Replay a dead-lettered or held run from the step that failed, patched or not; or every run a filter matches",
		Long: `Replay starts a new attempt of a dead-lettered, held (or cancelled) run from
the step that failed, or from --from; the steps before it are not run
again. The CLI writes the replay to the store; a worker of the pipeline
carries it out. The new attempt runs under the pipeline's registered
definition: a run that started under another is moved to it, and the
attempt's reason says so ("moved from v1 (…) to v2 (…)").

--set PATH=VALUE edits the input the step had (PATH a JSON pointer, VALUE
JSON when it parses as JSON, else a string); --patch FILE gives the whole
input (- for stdin). A patch is checked against the step's input contract
first: one that breaks it is refused with its violations.

With --filter, every dead-lettered run the filter flags match is replayed
from its own failed step (no patch): the 40 runs one bad field poisoned,
once the fix is out. --dry-run lists them; --yes skips the question.
--status held replays held runs instead (or as well: --status
dead_lettered,held): the runs a worker of a changed definition could not
go on with, once a definition that accepts them is deployed or the
change rolled back; held runs that need a patch are replayed one by one.

A branch run (a child a parent's branching step forked) is replayed like
any run, by its id or by filter (--parent ID selects one run's
children); its patch is checked against the contract of the child's own
pipeline. When a replayed child succeeds and its parent's join had
failed on it, the parent is replayed from its branching step and the
join resumes with the child's result.`,
		Example: `  plumb replay 01M8ET3R4F3TBMMCRGER9CKRT8 --set /email=ada@example.com --wait
  plumb replay 01M8ET3R4F3TBMMCRGER9CKRT8 --from classify --patch lead.json
  plumb replay --filter --pipeline leadfollowup --step classify --class contract --dry-run
  plumb replay --filter --pipeline leadfollowup --status held --dry-run
  plumb replay --filter --parent 01M8ET3R4F3TBMMCRGER9CKRT8 --dry-run`,
		RunE: func(cmd *cobra.Command, args []string) error {
			return classify(a.replay(cmd.Context(), args, &o, cmd.Flags().Changed))
		},
	}
	fs := cmd.Flags()
	fs.StringVar(&o.from, "from", "", "the step to start from (default: the step that failed)")
	fs.StringVar(&o.patch, "patch", "", "a JSON file (- for stdin) with the whole new input of the step")
	fs.StringArrayVar(&o.sets, "set", nil, "PATH=VALUE: change one field of the step's input (repeatable)")
	fs.StringVar(&o.reason, "reason", "", "why, for the run's history (default: replay from STEP by you)")
	fs.StringVar(&o.as, "as", "", "who replays, for the history (default: $USER@hostname)")
	fs.BoolVar(&o.dry, "dry-run", false, "say what would happen; write nothing")
	o.w.register(fs, "follow the run until it ends and print the outcome (exit 1 if it fails again)")
	fs.BoolVar(&o.filter, "filter", false, "replay every dead-lettered (or --status held) run the filter flags match")
	fs.BoolVar(&o.yes, "yes", false, "with --filter: replay without asking")
	o.f.register(fs, false, true, 1000)
	fs.StringSliceVar(&o.f.statuses, "status", nil, "with --filter: replay the runs of these statuses, comma-separated (dead_lettered, held, cancelled; default dead_lettered)")
	return cmd
}

func (a *app) replay(ctx context.Context, args []string, o *replayFlags, changed func(string) bool) error {
	a.notePoll(changed)
	if o.filter {
		if len(args) > 0 {
			return usagef("give a run id or --filter, not both")
		}
		for _, name := range []string{"patch", "set", "wait"} {
			if changed(name) {
				return usagef("--%s replays one run; it does not go with --filter", name)
			}
		}
		return a.replayMatching(ctx, o)
	}
	if len(args) != 1 {
		return usagef("give one run id, or --filter with filter flags")
	}
	for _, name := range append(filterNames, "yes") {
		if changed(name) {
			return usagef("--%s selects runs for --filter; give --filter, or leave it out to replay run %s", name, args[0])
		}
	}
	return a.replayOne(ctx, args[0], o)
}

func (a *app) replayOne(ctx context.Context, id string, o *replayFlags) error {
	h, err := a.open(ctx)
	if err != nil {
		return err
	}
	defer h.Close()
	d, err := getRun(ctx, h, id)
	if err != nil {
		return err
	}
	r := &d.Run
	if err := replayable(r); err != nil {
		return err
	}
	def, err := h.Pipeline(ctx, r.Pipeline)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return err
	}
	from, fromIdx, err := startStep(d, def, o.from)
	if err != nil {
		return err
	}
	input, err := a.patchedInput(d, from, fromIdx, o)
	if err != nil {
		return err
	}
	w := a.stderr // the plan is commentary; stdout gets the result
	if !a.json {
		w = a.stdout
	}
	if err := printPlan(w, d, def, from, fromIdx, input); err != nil {
		return err
	}
	if r.Status == store.Held && input == nil && def != nil {
		// Replayed as it is, a held run is held again by a worker of the
		// definition that refused it.
		if chk, err := store.NewVersionCheck(*def); err == nil {
			var inc *store.Incompatibility
			if err := chk.Run(d); errors.As(err, &inc) {
				fmt.Fprintf(w, "  note: as it is, the run still breaks the registered definition (%s);\n        a worker of it holds it again: give a patch (--set, --patch), or replay once a definition that accepts it is registered\n",
					oneLine(escapeControl(inc.Reason), 300))
			}
		}
	}
	var parent *store.Run
	if r.Parent != nil {
		pd, err := h.GetRun(ctx, r.Parent.RunID)
		switch {
		case err == nil:
			parent = &pd.Run
		case !errors.Is(err, store.ErrNotFound):
			return err
		}
		fmt.Fprintf(w, "  %s\n", joinEffect(r, parent))
	}
	if o.dry {
		fmt.Fprintln(w, "Dry run: nothing was written.")
		return nil
	}

	reason := o.reason
	if reason == "" {
		reason = fmt.Sprintf("replay from %s by %s", orDash(from), a.who(o.as))
		if input != nil {
			reason += " with a patched input"
		}
	}
	run, err := store.ReplayRun(ctx, h, store.ReplayRequest{RunID: r.ID, From: from, Input: input, Reason: reason})
	if err != nil {
		var ve *contract.ValidationError
		if errors.As(err, &ve) {
			return refusedPatch(from, err)
		}
		return fmt.Errorf("replay refused: %w", err)
	}
	if !o.w.wait {
		if a.json {
			return a.printJSON(run)
		}
		fmt.Fprintf(w, "Queued attempt %d of run %s; a worker of pipeline %s carries it out.\n", run.Attempt, run.ID, run.Pipeline)
		fmt.Fprintf(w, "  follow it:  %s runs show %s\n", a.target.prefix(), run.ID)
		if r.Parent != nil {
			fmt.Fprintf(w, "  its parent: %s runs show %s\n", a.target.prefix(), shellQuote(r.Parent.RunID))
		}
		return nil
	}
	fmt.Fprintf(w, "Queued attempt %d of run %s; waiting for a worker of pipeline %s to carry it out…\n", run.Attempt, run.ID, run.Pipeline)
	return a.wait(ctx, h, run, &o.w)
}

// startStep names the step a replay starts from, and its index (-1 when
// the pipeline's definition is not in the store, or no step is left to
// run). It asks store.ReplayStart, the rule the store's replay follows, so
// that the plan, the patch and the replay name the same step.
func startStep(d *store.RunDetail, def *store.PipelineDef, from string) (string, int, error) {
	r := &d.Run
	i, name := store.ReplayStart(r, d.Steps, def, from)
	if def == nil || i >= len(def.Steps) {
		return name, -1, nil
	}
	if i < 0 {
		return "", -1, &exitError{code: exitNotFound, err: fmt.Errorf("pipeline %s has no step %q; its steps: %s", r.Pipeline, name, stepNames(def))}
	}
	return name, i, nil
}

// printPlan says what a replay will do before it is written: where it
// starts, what is reused, what a patch changes. A patch that breaks the
// step's input contract is refused here, with its violations.
func printPlan(w io.Writer, d *store.RunDetail, def *store.PipelineDef, from string, fromIdx int, input json.RawMessage) error {
	r := &d.Run
	fmt.Fprintf(w, "Run %s  ·  %s  ·  %s\n", r.ID, r.Pipeline, runState(r))
	if r.Error != "" {
		fmt.Fprintf(w, "  error  %s\n", oneLine(r.Error, 200))
	}
	where := "at step " + orDash(from)
	if fromIdx >= 0 {
		where += fmt.Sprintf(" (step %d of %d)", fromIdx+1, len(def.Steps))
	}
	fmt.Fprintf(w, "Replay: attempt %d will start %s.\n", r.Attempt+1, where)
	if def != nil && !def.Version.IsZero() && def.Version != r.Version {
		fmt.Fprintf(w, "  it moves the run from %s to %s, the registered definition\n", escapeControl(r.Version.String()), escapeControl(def.Version.String()))
	}
	var reused []string
	patched := ""
	for _, c := range store.Checkpoints(d.Steps, r.Attempt) {
		switch {
		case input != nil && c.Index == fromIdx-1:
			// The patch becomes this step's output, as the store's replay plans.
			patched = c.Step
		case fromIdx < 0 || c.Index < fromIdx:
			reused = append(reused, c.Step)
		}
	}
	if fromIdx >= 0 {
		if len(reused) == 0 {
			fmt.Fprintln(w, "  no earlier step is reused")
		} else {
			fmt.Fprintf(w, "  reused from attempt %d, not run again: %s\n", r.Attempt, strings.Join(reused, ", "))
		}
	}
	if patched != "" {
		fmt.Fprintf(w, "  the patch replaces the output of step %s, as the input of %s\n", patched, from)
	}
	if input == nil {
		return nil
	}
	fmt.Fprintf(w, "  the input of step %s changes:\n", orDash(from))
	lines := []string{"(the whole input is given)"}
	if base := replayInput(d, from, fromIdx); base != nil {
		lines = changes(base, input, "the input")
	}
	if len(lines) == 0 {
		lines = []string{"(no change)"}
	}
	for _, l := range lines {
		fmt.Fprintf(w, "    %s\n", l)
	}
	if fromIdx < 0 {
		return nil // store.ReplayRun validates, or says why it cannot
	}
	err := store.ValidateJSON(def.Steps[fromIdx].InputSchema, input)
	var ve *contract.ValidationError
	if errors.As(err, &ve) {
		return refusedPatch(from, err)
	}
	return err
}

// replayable refuses, early and in words, a run no replay applies to.
func replayable(r *store.Run) error {
	switch r.Status {
	case store.DeadLettered, store.Cancelled, store.Held:
		return nil
	case store.Succeeded:
		return failf("run %s succeeded (attempt %d); there is nothing to replay", r.ID, r.Attempt)
	case store.AwaitingReview:
		return failf("run %s awaits review; decide it with plumb review approve or reject, not a replay", r.ID)
	case store.Waiting:
		if r.Step != "" {
			return failf("run %s is waiting for its branches at step %s; nothing to replay until they end: plumb runs show %s lists them, and a failed one is replayed by its own id", r.ID, r.Step, r.ID)
		}
	}
	return failf("run %s is %s (attempt %d); only dead-lettered, cancelled or held runs are replayed", r.ID, r.Status, r.Attempt)
}

func refusedPatch(step string, err error) error {
	var ve *contract.ValidationError
	if !errors.As(err, &ve) {
		return err
	}
	return &exitError{code: exitFailed, err: fmt.Errorf("the patched input breaks the contract of step %s; nothing was replayed", orDash(step)),
		detail: violations(ve)}
}

// patchedInput builds the new input of the step from --patch and --set;
// nil when neither is given.
func (a *app) patchedInput(d *store.RunDetail, from string, fromIdx int, o *replayFlags) (json.RawMessage, error) {
	if o.patch == "" && len(o.sets) == 0 {
		return nil, nil
	}
	var base json.RawMessage
	if o.patch != "" {
		b, err := a.readFile(o.patch)
		if err != nil {
			return nil, err
		}
		if _, err := decodeJSON(b); err != nil {
			return nil, failf("--patch %s is not JSON: %v", o.patch, err)
		}
		base = b
	} else if base = replayInput(d, from, fromIdx); base == nil {
		return nil, failf("run %s kept no input for step %s (its payloads are hashed), so --set has nothing to edit; give the whole input with --patch FILE", d.Run.ID, orDash(from))
	}
	if len(o.sets) == 0 {
		return base, nil
	}
	return applySets(base, o.sets)
}

// replayInput is the input the step a replay starts from had: from its
// record, or, for a step that never ran in the attempt (a run held or
// cancelled before it), the run's input or the previous checkpoint's
// output, as the store's replay hands it on.
func replayInput(d *store.RunDetail, from string, fromIdx int) json.RawMessage {
	if in := d.StepInput(from); in != nil || fromIdx < 0 {
		return in
	}
	if fromIdx == 0 {
		return d.Run.Input
	}
	for _, c := range store.Checkpoints(d.Steps, d.Run.Attempt) {
		if c.Index == fromIdx-1 {
			return c.Output
		}
	}
	return nil
}

// readFile reads a file, or stdin for "-".
func (a *app) readFile(name string) ([]byte, error) {
	if name == "-" {
		return io.ReadAll(a.stdin)
	}
	b, err := os.ReadFile(name)
	if err != nil {
		return nil, usagef("read %s: %v", name, err)
	}
	return b, nil
}

// who names the person at the keyboard for the run's history.
func (a *app) who(as string) string {
	if as != "" {
		return as
	}
	user := a.env("USER")
	if user == "" {
		if u, err := osuser.Current(); err == nil {
			user = u.Username
		} else {
			user = "unknown"
		}
	}
	host, err := os.Hostname()
	if err != nil || host == "" {
		return user
	}
	return user + "@" + host
}

func stepNames(def *store.PipelineDef) string {
	var names []string
	for _, s := range def.Steps {
		names = append(names, s.Name)
	}
	return strings.Join(names, ", ")
}
