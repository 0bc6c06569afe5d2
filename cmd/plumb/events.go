package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/plumb-dev/plumb/store"
)

// The events commands: send an event to the runs that wait for it, and
// list the waits and the events kept.

func (a *app) eventsCommand() *cobra.Command {
	return group(&cobra.Command{
		Use:   "events",
		Short: "Send the events runs wait for, and list the waits and the events kept",
		Long: `A step built with pipeline.Await waits for an event by name and key (the
event "payment" for "invoice:42") until a deadline, holding no worker.
plumb events send delivers one: the oldest run waiting on that name and key
takes it and is due at once; with none waiting, the store keeps it for a
wait to come. plumb events list shows the waits pending, with their
deadlines, and the events kept; --refused shows the webhook deliveries
refused for their content (intake.NewEvents), kept with their payload
until the corrected event, sent with their --source and --id, takes their
place.`,
	}, a.eventsSendCommand(), a.eventsListCommand())
}

func (a *app) eventsSendCommand() *cobra.Command {
	var data, source, id string
	var keep time.Duration
	cmd := &cobra.Command{
		Use:   "send EVENT KEY --data JSON",
		Short: "Send an event to the run that waits for it, or keep it for one",
		Long: `Send delivers the event EVENT for KEY with the payload --data (JSON; @file
reads a file, - reads stdin). The payload is checked first against the
contract of every registered step that awaits EVENT: one that breaks it is
refused with its violations, and nothing is sent. --id names the event at
its source: a second send with the same --source and --id is a duplicate,
which changes nothing (a retried delivery), unless the first was refused
at intake (plumb events list --refused): the corrected event takes its
place and goes to the run that waits for it. An event no run waits for
yet is kept for --keep.`,
		Example: `  plumb events send payment invoice:42 --data '{"amount":100,"ref":"ch_1"}'
  plumb events send approval lead-0197 --data @click.json --source email --id msg-8812
  plumb events send payment invoice:42 --data @fixed.json --source webhook:stripe --id evt_1Q2w`,
		Args: cobra.ExactArgs(2),
		RunE: action(func(ctx context.Context, args []string) error {
			payload, err := a.readData(data)
			if err != nil {
				return err
			}
			h, err := a.open(ctx)
			if err != nil {
				return err
			}
			defer h.Close()
			d, err := store.DeliverEvent(ctx, h, store.NewEvent{Name: args[0], Key: args[1], ID: id, Source: source, Payload: payload, Keep: keep})
			if err != nil {
				return err
			}
			if a.json {
				return a.printJSON(d)
			}
			a.printDelivery(d)
			return nil
		}),
	}
	f := cmd.Flags()
	f.StringVar(&data, "data", "", "the event's payload: JSON, @file, or - for stdin (required)")
	f.StringVar(&source, "source", "cli", "who sends the event")
	f.StringVar(&id, "id", "", "the event's id at its source, so that a second delivery is a duplicate (default: a new id)")
	f.DurationVar(&keep, "keep", store.DefaultEventKeep, "how long an event no run waits for yet is kept for a wait")
	_ = cmd.MarkFlagRequired("data")
	return cmd
}

// readData reads --data: JSON as given, @file, or - for stdin.
func (a *app) readData(data string) (json.RawMessage, error) {
	var b []byte
	var err error
	switch {
	case data == "-":
		b, err = io.ReadAll(a.stdin)
	case strings.HasPrefix(data, "@"):
		b, err = os.ReadFile(strings.TrimPrefix(data, "@"))
	default:
		b = []byte(data)
	}
	if err != nil {
		return nil, usagef("--data: %v", err)
	}
	if !json.Valid(b) {
		return nil, usagef("--data is not valid JSON: %s", oneLine(string(b), 200))
	}
	return json.RawMessage(b), nil
}

func (a *app) printDelivery(d store.Delivery) {
	e := d.Event
	what := fmt.Sprintf("event %s %s (id %s, from %s)", e.Name, e.Key, e.ID, orDash(e.Source))
	switch {
	case d.Duplicate:
		fmt.Fprintf(a.stdout, "%s was delivered before, at %s: nothing changed\n", what, fmtTime(e.ReceivedAt))
		if e.Taken() {
			fmt.Fprintf(a.stdout, "  run %s took it: %s runs show %s\n", e.RunID, a.target.prefix(), shellQuote(e.RunID))
		}
	case e.IsRefused():
		fmt.Fprintf(a.stdout, "%s kept as refused: %s\n", what, e.Refused)
	case d.Woke != "":
		fmt.Fprintf(a.stdout, "%s delivered: run %s waited for it at step %s and is due now\n", what, d.Woke, e.Step)
		fmt.Fprintf(a.stdout, "  %s runs show %s\n", a.target.prefix(), shellQuote(d.Woke))
	default:
		fmt.Fprintf(a.stdout, "%s kept: no run waits for it yet; the first to wait before %s takes it\n", what, fmtTime(e.ExpiresAt))
	}
	if d.Replaced {
		fmt.Fprintf(a.stdout, "  it took the place of the delivery refused under that id\n")
	}
}

func (a *app) eventsListCommand() *cobra.Command {
	var f store.EventFilter
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List the waits pending, with their deadlines, and the events kept",
		Long: `List shows the runs waiting for an event (the event, its key, the step and
the deadline, oldest first) and the events kept for a wait to come. --all
adds the waits that ended (the event each took, or its deadline) and the
events taken, past their keep or refused. --refused lists only the
deliveries refused for their content (a webhook whose body was not JSON,
broke the event's contract or had no key), each with why and its payload:
send the corrected event with its --source and --id (plumb events send),
and it takes the refused one's place.`,
		Example: `  plumb events list
  plumb events list --event payment --all --json
  plumb events list --refused`,
		Args: cobra.NoArgs,
		RunE: action(func(ctx context.Context, _ []string) error {
			if f.Limit <= 0 {
				return usagef("--limit must be positive")
			}
			h, err := a.open(ctx)
			if err != nil {
				return err
			}
			defer h.Close()
			l, err := h.Events(ctx, f)
			if err != nil {
				return err
			}
			if a.json {
				return a.printJSON(l)
			}
			if f.Refused {
				a.printRefused(l.Events)
				return nil
			}
			a.printEvents(l, f)
			return nil
		}),
	}
	fl := cmd.Flags()
	fl.StringVar(&f.Name, "event", "", "only this event")
	fl.StringVar(&f.Key, "key", "", "only this key")
	fl.StringVar(&f.RunID, "run", "", "only this run's waits and the events it took")
	fl.BoolVar(&f.All, "all", false, "the waits that ended and the events taken, expired or refused too")
	fl.BoolVar(&f.Refused, "refused", false, "only the deliveries refused for their content, and no waits")
	fl.IntVar(&f.Limit, "limit", 100, "at most this many waits, and this many events")
	return cmd
}

func (a *app) printEvents(l store.EventList, f store.EventFilter) {
	what := "Waiting"
	if f.All {
		what = "Waits"
	}
	if len(l.Waits) == 0 {
		fmt.Fprintf(a.stdout, "%s: none\n", what)
	} else {
		fmt.Fprintf(a.stdout, "%s (%d, oldest first)\n", what, len(l.Waits))
		tw := tabwriter.NewWriter(a.stdout, 0, 2, 2, ' ', 0)
		fmt.Fprintln(tw, "RUN\tPIPELINE\tSTEP\tEVENT\tKEY\tDEADLINE (UTC)\tSTATE")
		for _, w := range l.Waits {
			state := "waiting"
			switch {
			case w.EventID != "":
				state = "took " + w.EventID + " from " + orDash(w.EventSource) + " at " + fmtTime(w.ResolvedAt)
			case w.Expired:
				state = "deadline passed: default"
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", w.RunID, w.Pipeline, w.Step, escapeControl(w.Name),
				escapeControl(w.Key), fmtTime(w.Deadline), state)
		}
		_ = tw.Flush()
	}
	what = "\nKept events"
	if f.All {
		what = "\nEvents"
	}
	if len(l.Events) == 0 {
		fmt.Fprintf(a.stdout, "%s: none\n", what)
		return
	}
	fmt.Fprintf(a.stdout, "%s (%d, oldest first)\n", what, len(l.Events))
	tw := tabwriter.NewWriter(a.stdout, 0, 2, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tSOURCE\tEVENT\tKEY\tRECEIVED (UTC)\tSTATE")
	now := a.now()
	for _, e := range l.Events {
		state := "kept until " + fmtTime(e.ExpiresAt)
		switch {
		case e.IsRefused():
			state = "refused"
		case e.Taken():
			state = "taken by " + e.RunID + " at step " + e.Step
		case !now.Before(e.ExpiresAt):
			state = "expired " + fmtTime(e.ExpiresAt)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", escapeControl(e.ID), escapeControl(orDash(e.Source)), escapeControl(e.Name),
			escapeControl(e.Key), fmtTime(e.ReceivedAt), state)
	}
	_ = tw.Flush()
}

// printRefused lists refused deliveries, each with why, its payload and
// the command that sends it corrected.
func (a *app) printRefused(events []store.Event) {
	if len(events) == 0 {
		fmt.Fprintln(a.stdout, "Refused deliveries: none")
		return
	}
	fmt.Fprintf(a.stdout, "Refused deliveries (%d, oldest first)\n", len(events))
	for _, e := range events {
		key := e.Key
		if key == "" {
			key = "KEY"
		}
		fmt.Fprintf(a.stdout, "\n%s from %s: event %s %s, received %s\n", escapeControl(e.ID), escapeControl(orDash(e.Source)),
			escapeControl(e.Name), escapeControl(orDash(e.Key)), fmtTime(e.ReceivedAt))
		fmt.Fprintf(a.stdout, "  refused: %s\n", escapeControl(oneLine(e.Refused, 500)))
		fmt.Fprintf(a.stdout, "  payload: %s\n", escapeControl(oneLine(string(e.Payload), 500)))
		fmt.Fprintf(a.stdout, "  fix: %s events send %s %s --source %s --id %s --data @fixed.json\n", a.target.prefix(),
			shellQuote(e.Name), shellQuote(key), shellQuote(e.Source), shellQuote(e.ID))
	}
}
