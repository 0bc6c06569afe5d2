package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/plumb-dev/plumb/store"
)

// declared returns the example's schedules once its worker has declared
// them all.
func declared(ctx context.Context, st store.Store) ([]store.Schedule, error) {
	var all []store.Schedule
	err := waitFor(ctx, func() (bool, error) {
		var err error
		all, err = st.Schedules(ctx, pipelineName)
		return len(all) == len(clients), err
	})
	return all, err
}

// fired waits until a worker has fired the schedule's tick due and
// advanced it, and returns it as advanced.
func fired(ctx context.Context, st store.Store, s store.Schedule) (store.Schedule, error) {
	var now store.Schedule
	err := waitFor(ctx, func() (bool, error) {
		all, err := st.Schedules(ctx, pipelineName)
		for _, a := range all {
			if a.Name == s.Name {
				now = a
			}
		}
		return now.Next.After(s.Next), err
	})
	return now, err
}

// waitFor polls done until it says so, for at most a minute.
func waitFor(ctx context.Context, done func() (bool, error)) error {
	deadline := time.Now().Add(time.Minute)
	for {
		ok, err := done()
		if err != nil || ok {
			return err
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("the workers did not fire a schedule within a minute")
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(5 * time.Millisecond):
		}
	}
}

// follow waits for the tick's run to end (the store wakes the wait).
func follow(ctx context.Context, st store.Store, id string) (*store.RunDetail, error) {
	wctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	if _, err := st.WaitRun(wctx, id); err != nil {
		return nil, fmt.Errorf("run %s: %w", id, err)
	}
	return st.GetRun(ctx, id)
}

func fmtLocal(t time.Time, zone string) string {
	if loc, err := time.LoadLocation(zone); err == nil {
		t = t.In(loc)
	}
	return t.Format("Mon 2006-01-02 15:04 MST")
}

// describe says how a report's run ended.
func describe(d *store.RunDetail) string {
	switch d.Run.Status {
	case store.Succeeded:
		var e Email
		_ = json.Unmarshal(d.Run.Output, &e)
		return "sent: " + e.Subject
	case store.AwaitingReview:
		return "awaits review: " + d.Run.Review.Reason
	}
	return string(d.Run.Status) + ": " + d.Run.Error
}

func summarize(ctx context.Context, st store.Store, reports []report, o options, w io.Writer) error {
	sent, review, other := 0, 0, 0
	var sample *Email
	for _, r := range reports {
		d, err := st.GetRun(ctx, r.run)
		if err != nil {
			return err
		}
		switch d.Run.Status {
		case store.Succeeded:
			sent++
			if sample == nil {
				sample = &Email{}
				_ = json.Unmarshal(d.Run.Output, sample)
			}
		case store.AwaitingReview:
			review++
		default:
			other++
		}
	}
	fmt.Fprintf(w, "\n%d reports over %d simulated weeks: %d sent, %d awaiting review, %d failed.\n", len(reports), o.weeks, sent, review, other)
	if sample != nil {
		fmt.Fprintf(w, "\nThe first email (%s):\n\n", sample.File)
		fmt.Fprintf(w, "  To: %s\n  Subject: %s\n\n", sample.To, sample.Subject)
		for _, line := range strings.Split(strings.TrimRight(sample.Body, "\n"), "\n") {
			fmt.Fprintln(w, strings.TrimRight("  "+line, " "))
		}
	}
	all, err := st.Schedules(ctx, pipelineName)
	if err != nil {
		return err
	}
	fmt.Fprintln(w, "\nThe schedules, as the store keeps them:")
	for _, s := range all {
		fmt.Fprintf(w, "  %-16s next %s  last run %s, %d skipped\n", s.Name, fmtLocal(s.Next, s.TimeZone), s.LastRun, s.Skipped)
	}
	db := o.db
	if strings.ContainsAny(db, " '\"") {
		db = "'" + db + "'"
	}
	fmt.Fprintf(w, "\nSee them with: go run ./cmd/plumb --db %s schedules\n", db)
	if review > 0 {
		fmt.Fprintf(w, "Decide the reviews with: go run ./cmd/plumb --db %s review list (then review approve RUN_ID)\n", db)
	}
	if other > 0 {
		return fmt.Errorf("%d reports failed", other)
	}
	if _, err := os.Stat(o.out); err != nil && sent > 0 {
		return fmt.Errorf("no emails in %s: %w", o.out, err)
	}
	return nil
}
