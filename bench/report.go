package main

import (
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"time"
)

// key names one point of a row: row "closed" (n = clients), "latency"
// (n = 1), or "backlog" (n = runs in flight in all, procs = Plumb's worker
// processes, 0 for River).
type key struct {
	row, store, system string
	n, procs           int
}

// sample is one repetition's measurement of a point.
type sample struct {
	rate float64 // closed: units/s; backlog: step checkpoints/s
	cpu  cpuPer  // per unit (run, workflow, job)
	lat  latency
}

type latency struct{ p50, p90, p99, max time.Duration }

// results holds each point's samples, one per repetition, in order.
type results map[key][]sample

func (rs results) add(k key, s sample, err error) {
	if err != nil {
		fatalf("%s %s %s n=%d procs=%d: %v", k.row, k.store, k.system, k.n, k.procs, err)
	}
	rs[k] = append(rs[k], s)
	var what string
	switch k.row {
	case "closed":
		what = fmt.Sprintf("closed loop on %s, c=%d: %.0f units/s", k.store, k.n, s.rate)
	case "latency":
		what = fmt.Sprintf("latency on %s: p50 %s p90 %s p99 %s max %s", k.store, ms(s.lat.p50), ms(s.lat.p90), ms(s.lat.p99), ms(s.lat.max))
	case "backlog":
		what = fmt.Sprintf("backlog on %s, %d in flight (procs %d): %.0f checkpoints/s", k.store, k.n, k.procs, s.rate)
	}
	if s.cpu.ok {
		what += fmt.Sprintf("; CPU per unit %.0f µs", s.cpu.busy)
		if k.store == "pg" {
			what += fmt.Sprintf(", %.0f in postgres", s.cpu.postgres)
		}
	}
	fmt.Printf("  %-5s %s\n", k.system, what)
}

func (rs results) values(k key, f func(sample) float64) []float64 {
	var out []float64
	for _, s := range rs[k] {
		out = append(out, f(s))
	}
	return out
}

// ratios is a/b of each repetition.
func ratios(a, b []float64) []float64 {
	var out []float64
	for i := range min(len(a), len(b)) {
		out = append(out, a[i]/b[i])
	}
	return out
}

func median(xs []float64) float64 {
	s := slices.Clone(xs)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// spread is "median (min–max)", or the value alone for one repetition.
func spread(xs []float64, format string) string {
	if len(xs) == 0 {
		return "—"
	}
	m := fmt.Sprintf(format, median(xs))
	if len(xs) == 1 {
		return m
	}
	return fmt.Sprintf("%s (%s–%s)", m, fmt.Sprintf(format, slices.Min(xs)), fmt.Sprintf(format, slices.Max(xs)))
}

// ratio is the median ratio in bold, its spread, and whether its median
// meets target (0: no target).
func ratio(xs []float64, target float64) (string, string) {
	if len(xs) == 0 {
		return "—", "—"
	}
	s := fmt.Sprintf("**%.2f×**", median(xs))
	if len(xs) > 1 {
		s += fmt.Sprintf(" (%.2f–%.2f×)", slices.Min(xs), slices.Max(xs))
	}
	return s, meets(median(xs) >= target, target, "≥ %.1f×")
}

func meets(ok bool, target float64, format string) string {
	if target == 0 {
		return "—"
	}
	if ok {
		return "met (" + fmt.Sprintf(format, target) + ")"
	}
	return "missed (" + fmt.Sprintf(format, target) + ")"
}

// cpuOf is the median CPU per unit: the machine's, and on PostgreSQL the
// server's part of it.
func cpuOf(rs []sample, store string) string {
	var busy, pg []float64
	for _, s := range rs {
		if s.cpu.ok {
			busy, pg = append(busy, s.cpu.busy), append(pg, s.cpu.postgres)
		}
	}
	if len(busy) == 0 {
		return "—"
	}
	if store != "pg" {
		return fmt.Sprintf("%.0f", median(busy))
	}
	return fmt.Sprintf("%.0f / %.0f", median(busy), median(pg))
}

func ms(d time.Duration) string { return fmt.Sprintf("%.2f ms", float64(d.Microseconds())/1000) }

func rate(s sample) float64 { return s.rate }

// print writes the Markdown tables: per point, the median of the
// repetitions and their min–max; per ratio, the median and min–max of the
// ratios of the same repetition.
func (rs results) print(w io.Writer, c config, env string) {
	args := strings.Join(os.Args[1:], " ")
	if c.dsn != "" {
		args = strings.ReplaceAll(args, c.dsn, "$DSN") // no password in a report
	}
	fmt.Fprintf(w, "## Results\n\nCommand: `go run . %s` (%d repetition(s)).\n\n", args, c.repeat)
	fmt.Fprintln(w, "```\n"+env+"\n```")
	fmt.Fprintln(w, "\nEach cell is the median of the repetitions, with their min–max in brackets; each ratio is computed within a repetition, then its median and min–max are given. CPU is the machine's busy CPU per unit (run, workflow, job) in µs, median; on PostgreSQL, in all / in the postgres processes. The machine is shared: CPU and rates include what else ran on it.")
	if c.rows["closed"] {
		fmt.Fprintf(w, "\n### Closed loop: c clients, each submits, waits for the result, repeats (%s warm-up, %s measured per point)\n\n", c.warmup, c.duration)
		fmt.Fprintln(w, "| Store | c | Plumb runs/s | DBOS workflows/s | Plumb/DBOS | Target | CPU per unit, Plumb | CPU per unit, DBOS |")
		fmt.Fprintln(w, "|---|---:|---:|---:|---:|---|---:|---:|")
		for _, st := range c.stores {
			for _, n := range c.concurrency {
				pk, dk := key{"closed", st, "Plumb", n, 0}, key{"closed", st, "DBOS", n, 0}
				p, d := rs.values(pk, rate), rs.values(dk, rate)
				r, t := ratio(ratios(p, d), 1.5)
				fmt.Fprintf(w, "| %s | %d | %s | %s | %s | %s | %s | %s |\n", storeName(st), n, spread(p, "%.0f"), spread(d, "%.0f"), r, t, cpuOf(rs[pk], st), cpuOf(rs[dk], st))
			}
		}
	}
	if c.rows["latency"] {
		fmt.Fprintf(w, "\n### Latency: Submit to succeeded, one run at a time (%d runs per repetition after %d unmeasured), in ms\n\n", c.latencyRuns, latencyWarmup)
		fmt.Fprintln(w, "| Store | System | p50 | p90 | p99 | max | p99/p50 | p50 Plumb/DBOS | Target |")
		fmt.Fprintln(w, "|---|---|---:|---:|---:|---:|---:|---:|---|")
		for _, st := range c.stores {
			p50 := func(s sample) float64 { return float64(s.lat.p50.Microseconds()) / 1000 }
			pk, dk := key{"latency", st, "Plumb", 1, 0}, key{"latency", st, "DBOS", 1, 0}
			for _, k := range []key{pk, dk} {
				f := func(get func(latency) time.Duration) []float64 {
					return rs.values(k, func(s sample) float64 { return float64(get(s.lat).Microseconds()) / 1000 })
				}
				fifty, ninety := f(func(l latency) time.Duration { return l.p50 }), f(func(l latency) time.Duration { return l.p90 })
				ninetynine, most := f(func(l latency) time.Duration { return l.p99 }), f(func(l latency) time.Duration { return l.max })
				tail := ratios(ninetynine, fifty)
				vs, target := "—", "—"
				if k.system == "Plumb" {
					vs, _ = ratio(ratios(rs.values(pk, p50), rs.values(dk, p50)), 0)
					goal := map[string]float64{"sqlite": 1.5, "pg": 3}[st]
					target = meets(median(fifty) <= goal, goal, "p50 ≤ %.1f ms") + ", " + meets(median(tail) <= 3, 3, "p99 ≤ %.0f× p50")
				}
				fmt.Fprintf(w, "| %s | %s | %s | %s | %s | %s | %s | %s | %s |\n", storeName(st), k.system,
					spread(fifty, "%.2f"), spread(ninety, "%.2f"), spread(ninetynine, "%.2f"), spread(most, "%.2f"), spread(tail, "%.1f×"), vs, target)
			}
		}
	}
	if c.rows["backlog"] && slices.Contains(c.stores, "pg") {
		fmt.Fprintf(w, "\n### Backlog drained on PostgreSQL: %d pre-enqueued runs (Plumb) or jobs (River), step checkpoints/s\n\n", c.backlogRuns)
		fmt.Fprintln(w, "| In flight | Plumb worker processes | Plumb checkpoints/s | River checkpoints/s (MaxWorkers = in flight) | Plumb/River | Target | CPU per run, Plumb | CPU per job, River |")
		fmt.Fprintln(w, "|---:|---|---:|---:|---:|---|---:|---:|")
		for _, total := range c.inFlight {
			rk := key{"backlog", "pg", "River", total, 0}
			river := rs.values(rk, rate)
			for _, n := range c.procs {
				pk := key{"backlog", "pg", "Plumb", total, n}
				p := rs.values(pk, rate)
				r, t := ratio(ratios(p, river), map[int]float64{32: 1.5, 100: 2}[total])
				fmt.Fprintf(w, "| %d | %d × %d | %s | %s | %s | %s | %s | %s |\n", total, n, max(1, total/n), spread(p, "%.0f"), spread(river, "%.0f"), r, t, cpuOf(rs[pk], "pg"), cpuOf(rs[rk], "pg"))
			}
		}
	}
}

func storeName(s string) string {
	return map[string]string{"sqlite": "SQLite", "pg": "PostgreSQL"}[s]
}
