package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/plumb-dev/plumb/store"
)

func (a *app) versionsCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "versions",
		Short: "The definitions pipelines run under, and the runs a new definition would break",
	}
	return group(cmd, a.versionsCheckCommand(), a.versionsListCommand())
}

// versionsReport is versions check's JSON output: the store's report
// with its verdict, and one line of figures per pipeline.
type versionsReport struct {
	OK bool `json:"ok"`
	*store.VersionReport
	Pipelines []pipelineCheck `json:"pipelines"`
}

// pipelineCheck is what the check found for one definition.
type pipelineCheck struct {
	Pipeline    string        `json:"pipeline"`
	Version     store.Version `json:"version"`
	Checked     int           `json:"checked"`
	Current     int           `json:"current"`
	Broken      int           `json:"broken"`
	Uncheckable int           `json:"uncheckable"`
}

const versionsCheckLong = `versions check lists the runs whose records would break a pipeline's
definition: the runs in flight, deferred, waiting, awaiting review, held or
dead-lettered whose input, checkpoints or proposed output a step of the
definition would refuse, or whose checkpoints are of steps the definition
no longer has at their place. Runs started under the very definition
checked (same fingerprint) are skipped; succeeded and cancelled runs are
not looked at.

Without --definition it checks against the definitions registered in the
store (the ones the pipelines' last workers to start recorded). With
--definition FILE it checks against the definitions in FILE — the JSON of
one definition or of an array of them, as pipeline.Pipeline.Definition()
marshals it — before that definition is deployed: point it at a copy of
production's store in the new version's CI.

Each broken run is printed with its status, the version it started under,
the step that would refuse it, what is refused (its input, a checkpoint, a
review's proposed output, or its steps) and each contract violation by
JSON pointer; then a summary per pipeline and what to do. A worker of a
definition that a run breaks holds the run (status held) instead of
dead-lettering it; replay it with a patch that meets the new contract,
cancel it, or deploy a definition that accepts it.

Exit codes: 0 when no run breaks the definitions, 6 when some do (the rest
as for every command: 2 for a bad --definition, 3 for an unreachable
store, 4 for an unknown --pipeline).`

func (a *app) versionsCheckCommand() *cobra.Command {
	var pipeline, file string
	cmd := &cobra.Command{
		Use:   "check",
		Short: "List the runs whose records would break a definition (exit 6 when any does)",
		Long:  versionsCheckLong,
		Example: `  plumb versions check
  plumb versions check --pipeline leadfollowup --definition next.json
  plumb versions check --definition next.json --json | jq '.broken[].run_id'`,
		Args: cobra.NoArgs,
		RunE: action(func(ctx context.Context, _ []string) error {
			var defs []store.PipelineDef
			if file != "" {
				b, err := a.readFile(file)
				if err != nil {
					return err
				}
				if defs, err = parseDefinitions(b); err != nil {
					return usagef("--definition %s: %v", file, err)
				}
			}
			h, err := a.open(ctx)
			if err != nil {
				return err
			}
			defer h.Close()
			return a.versionsCheck(ctx, h, pipeline, file, defs)
		}),
	}
	cmd.Flags().StringVar(&pipeline, "pipeline", "", "only this pipeline")
	cmd.Flags().StringVar(&file, "definition", "", "check against the definitions in this JSON file (- for stdin), not the registered ones")
	return cmd
}

// parseDefinitions reads one definition or an array of them, as
// Pipeline.Definition() marshals.
func parseDefinitions(b []byte) ([]store.PipelineDef, error) {
	b = bytes.TrimSpace(b)
	var defs []store.PipelineDef
	var err error
	if len(b) > 0 && b[0] == '[' {
		err = json.Unmarshal(b, &defs)
	} else {
		var d store.PipelineDef
		err = json.Unmarshal(b, &d)
		defs = []store.PipelineDef{d}
	}
	if err != nil {
		return nil, fmt.Errorf("not the JSON of a pipeline definition or of an array of them: %v", err)
	}
	if len(defs) == 0 {
		return nil, errors.New("no definitions in it")
	}
	for i, d := range defs {
		if d.Name == "" || len(d.Steps) == 0 {
			return nil, fmt.Errorf("definition %d has no name or no steps: write it with pipeline.Pipeline.Definition()", i+1)
		}
		// A contract that does not compile is the file's fault, said
		// before the store is opened.
		if _, err := store.NewVersionCheck(d); err != nil {
			return nil, err
		}
	}
	return defs, nil
}

func (a *app) versionsCheck(ctx context.Context, h *handle, pipeline, file string, defs []store.PipelineDef) error {
	if defs == nil {
		var err error
		if defs, err = h.Pipelines(ctx); err != nil {
			return err
		}
		if len(defs) == 0 && pipeline == "" {
			if a.json {
				return a.printJSON(versionsReport{OK: true, VersionReport: &store.VersionReport{Definitions: []store.PipelineDef{}, Broken: []store.Incompatibility{}}, Pipelines: []pipelineCheck{}})
			}
			fmt.Fprintln(a.stdout, "No pipelines in this store yet: none has registered or run.")
			return nil
		}
	}
	if pipeline != "" {
		defs = slices.DeleteFunc(defs, func(d store.PipelineDef) bool { return d.Name != pipeline })
		if len(defs) == 0 {
			if file != "" {
				return &exitError{code: exitNotFound, err: fmt.Errorf("--definition %s has no definition of pipeline %s", file, pipeline)}
			}
			return knownPipeline(ctx, h, pipeline)
		}
	}
	slices.SortStableFunc(defs, func(x, y store.PipelineDef) int { return strings.Compare(x.Name, y.Name) })

	rep := versionsReport{VersionReport: &store.VersionReport{Broken: []store.Incompatibility{}}}
	start, last := time.Now(), time.Now()
	total := 0
	for _, def := range defs {
		one, err := store.CheckVersions(ctx, h, []store.PipelineDef{def}, func(checked int) {
			// Progress only when the check takes long, on stderr.
			if now := time.Now(); now.Sub(start) > time.Second && now.Sub(last) >= time.Second {
				last = now
				fmt.Fprintf(a.stderr, "checking %s: %d runs read so far…\n", def.Name, total+checked)
			}
		})
		if err != nil {
			return err
		}
		total += one.Checked
		rep.Definitions = append(rep.Definitions, one.Definitions...)
		rep.Checked += one.Checked
		rep.Current += one.Current
		rep.Broken = append(rep.Broken, one.Broken...)
		rep.Uncheckable = append(rep.Uncheckable, one.Uncheckable...)
		rep.Pipelines = append(rep.Pipelines, pipelineCheck{Pipeline: def.Name, Version: one.Definitions[0].Version,
			Checked: one.Checked, Current: one.Current, Broken: len(one.Broken), Uncheckable: len(one.Uncheckable)})
	}
	rep.OK = rep.VersionReport.OK()
	if a.json {
		if err := a.printJSON(rep); err != nil {
			return err
		}
	} else {
		a.printVersionsCheck(a.stdout, &rep, file)
	}
	if !rep.OK {
		return &exitError{code: exitBroken, err: fmt.Errorf("%s would break %s", plural(len(rep.Broken), "run", "runs"), against(file))}
	}
	return nil
}

// against names what was checked against, for the summary.
func against(file string) string {
	if file == "" {
		return "the registered definitions"
	}
	return "the definitions in " + file
}

func (a *app) printVersionsCheck(w io.Writer, rep *versionsReport, file string) {
	for _, inc := range rep.Broken {
		fmt.Fprintf(w, "Run %s  ·  %s  ·  %s  ·  started under %s\n", inc.RunID, inc.Pipeline, inc.Status, escapeControl(inc.Version.String()))
		fmt.Fprintf(w, "  step %d, %s: %s\n", inc.Index+1, orDash(escapeControl(inc.Step)), oneLine(escapeControl(reasonAlone(&inc)), 300))
		for _, v := range inc.Violations {
			path := v.Path
			if path == "" {
				path = "(root)"
			}
			fmt.Fprintf(w, "    %s: %s", path, oneLine(v.Message, 200))
			if v.Value != "" && !strings.Contains(v.Message, v.Value) {
				fmt.Fprintf(w, " (got %s)", oneLine(v.Value, 80))
			}
			fmt.Fprintln(w)
		}
		fmt.Fprintln(w)
	}
	for _, pc := range rep.Pipelines {
		fmt.Fprintf(w, "Checked %s of %s against %s: %d would break it",
			plural(pc.Checked, "run", "runs"), pc.Pipeline, escapeControl(pc.Version.String()), pc.Broken)
		fmt.Fprintf(w, "; %d started under it %s skipped", pc.Current, wereWas(pc.Current))
		if pc.Uncheckable > 0 {
			fmt.Fprintf(w, "; %d could not be checked (payloads not kept)", pc.Uncheckable)
		}
		fmt.Fprintln(w, ".")
	}
	if rep.OK {
		if file != "" {
			fmt.Fprintf(w, "No run breaks the definitions in %s: deploying them strands no run.\n", file)
		} else {
			fmt.Fprintln(w, "No run breaks the registered definitions.")
		}
		return
	}
	a.versionsAdvice(w, rep.Broken)
}

// reasonAlone is an incompatibility's reason without the violations it
// quotes, which are printed one a line below it.
func reasonAlone(inc *store.Incompatibility) string {
	if len(inc.Violations) == 0 {
		return inc.Reason
	}
	path := inc.Violations[0].Path
	if path == "" {
		path = "/"
	}
	if before, _, ok := strings.Cut(inc.Reason, " ("+path+":"); ok {
		return before
	}
	return inc.Reason
}

// versionsAdvice says what to do about the broken runs, by where they
// stand, with a command for the first of each kind.
func (a *app) versionsAdvice(w io.Writer, broken []store.Incompatibility) {
	p := a.target.prefix()
	first := func(match func(store.Status) bool) *store.Incompatibility {
		for i := range broken {
			if match(broken[i].Status) {
				return &broken[i]
			}
		}
		return nil
	}
	fmt.Fprintln(w, "\nWhat to do")
	fmt.Fprintln(w, "  A worker of the new definition holds such a run (status held) instead of failing it. Before or after the deploy,")
	if inc := first(func(s store.Status) bool { return s == store.DeadLettered || s == store.Held }); inc != nil {
		fmt.Fprintln(w, "  replay a dead-lettered or held run with a patch that meets the new contract (once the new definition is registered, the replay moves the run to it):")
		fmt.Fprintf(w, "    %s replay %s --from %s --set /PATH=VALUE\n", p, shellQuote(inc.RunID), shellQuote(inc.Step))
	}
	if inc := first(func(s store.Status) bool { return s == store.AwaitingReview }); inc != nil {
		fmt.Fprintln(w, "  decide a run awaiting review with an output that meets the new contract, or reject it:")
		fmt.Fprintf(w, "    %s review approve %s --edit FILE\n", p, shellQuote(inc.RunID))
	}
	if inc := first(func(s store.Status) bool { return s == store.Queued || s == store.Running || s == store.Waiting }); inc != nil {
		fmt.Fprintln(w, "  let the old workers finish a live run first (a worker of the new definition holds it), or replay it once held;")
	}
	fmt.Fprintf(w, "  cancel a run that is not worth saving:\n    %s cancel %s --reason TEXT\n", p, shellQuote(broken[0].RunID))
	fmt.Fprintln(w, "  or change the definition so that it accepts them, and check again.")
}

func wereWas(n int) string {
	if n == 1 {
		return "was"
	}
	return "were"
}

func (a *app) versionsListCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "list",
		Short: "Each pipeline's registered definition: its version, steps, and when it was registered",
		Long: `versions list prints each pipeline's registered definition: its version (the
author's label and the fingerprint of its steps and contracts), its steps,
and when the last worker to start registered it. versions check without
--definition checks runs against these.`,
		Args: cobra.NoArgs,
		RunE: action(func(ctx context.Context, _ []string) error {
			h, err := a.open(ctx)
			if err != nil {
				return err
			}
			defer h.Close()
			defs, err := h.Pipelines(ctx)
			if err != nil {
				return err
			}
			slices.SortStableFunc(defs, func(x, y store.PipelineDef) int { return strings.Compare(x.Name, y.Name) })
			for i := range defs {
				if defs[i].Version.Fingerprint == "" {
					// A definition registered before versions: its
					// fingerprint is the one its steps have now.
					defs[i].Version.Fingerprint = store.Fingerprint(defs[i].Steps)
				}
			}
			if a.json {
				return a.printJSON(nonNil(defs))
			}
			if len(defs) == 0 {
				fmt.Fprintln(a.stdout, "No pipelines in this store yet: none has registered or run.")
				return nil
			}
			tw := tabwriter.NewWriter(a.stdout, 0, 0, 2, ' ', 0)
			fmt.Fprintln(tw, "PIPELINE\tVERSION\tFINGERPRINT\tSTEPS\tREGISTERED (UTC)")
			for _, d := range defs {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", oneLine(d.Name, 40), orDash(oneLine(d.Version.Label, 40)), d.Version.Fingerprint,
					oneLine(stepNames(&d), 80), strings.TrimSuffix(fmtTime(d.UpdatedAt), " UTC"))
			}
			return tw.Flush()
		}),
	}
}
