package main

import (
	"fmt"
	"io"
	"strings"
	"time"
)

// result is one measurement.
type result struct {
	system string // "Plumb", "DBOS", "River"
	config string
	unit   string // "runs", "workflows", "jobs"
	n      int
	time   time.Duration
	// checkpoints is how many durable step checkpoints the n units wrote.
	checkpoints int
	// latency, when set, makes this a latency result.
	latency *latency
	note    string
	// inFlight is how many units may be in flight at once (Plumb, River).
	inFlight int
	// backlog marks a Plumb measurement whose runs were enqueued before
	// the clock started.
	backlog bool
	// cpu says where the CPU went, when the server is on this machine;
	// cpuUnit is the CPU per unit, in all and in postgres.
	cpu, cpuUnit string
}

type latency struct {
	p50, p90, p99, max time.Duration
	// e2e is submit to succeeded, from the store's own timestamps.
	e2e50, e2e99 time.Duration
}

func (r result) perSec() float64 { return float64(r.n) / r.time.Seconds() }
func (r result) cpPerSec() float64 {
	return float64(r.checkpoints) / r.time.Seconds()
}

func (r result) line() string {
	if r.latency != nil {
		l := r.latency
		return fmt.Sprintf("%-5s %-48s enqueue-to-start p50 %s p90 %s p99 %s max %s; submit-to-succeeded p50 %s p99 %s (%d runs)",
			r.system, r.config, ms(l.p50), ms(l.p90), ms(l.p99), ms(l.max), ms(l.e2e50), ms(l.e2e99), r.n)
	}
	s := fmt.Sprintf("%-5s %-48s %7d %-9s in %6.2fs: %7.0f %s/s, %7.0f checkpoints/s",
		r.system, r.config, r.n, r.unit, r.time.Seconds(), r.perSec(), r.unit, r.cpPerSec())
	if r.note != "" {
		s += " (" + r.note + ")"
	}
	if r.cpu != "" {
		s += "\n        " + r.cpu
	}
	return s
}

func ms(d time.Duration) string { return fmt.Sprintf("%.2fms", float64(d.Microseconds())/1000) }

// printTable prints the results as a Markdown table, then the ratios the
// comparison is about.
func printTable(w io.Writer, env string, rs []result) {
	fmt.Fprintln(w, "## Results")
	fmt.Fprintln(w)
	fmt.Fprintln(w, env)
	fmt.Fprintln(w)
	fmt.Fprintln(w, "| System | Configuration | Work | Time | Throughput | Step checkpoints/s | CPU per unit (machine / postgres) |")
	fmt.Fprintln(w, "|---|---|---:|---:|---:|---:|---:|")
	var bestRiver, bestDBOS float64
	var riverCfg, dbosCfg string
	for _, r := range rs {
		if r.latency != nil {
			continue
		}
		unit := r.cpuUnit
		if unit == "" {
			unit = "—"
		}
		fmt.Fprintf(w, "| %s | %s | %d %s | %.2f s | %.0f %s/s | %.0f | %s |\n",
			r.system, r.config, r.n, r.unit, r.time.Seconds(), r.perSec(), r.unit, r.cpPerSec(), unit)
		switch r.system {
		case "River":
			if r.cpPerSec() > bestRiver {
				bestRiver, riverCfg = r.cpPerSec(), r.config
			}
		case "DBOS":
			if r.cpPerSec() > bestDBOS {
				bestDBOS, dbosCfg = r.cpPerSec(), r.config
			}
		}
	}
	for _, r := range rs {
		if l := r.latency; l != nil {
			fmt.Fprintln(w)
			fmt.Fprintf(w, "%s %s: enqueue-to-start p50 %s, p90 %s, p99 %s, max %s over %d runs; submit-to-succeeded p50 %s, p99 %s.\n",
				r.system, r.config, ms(l.p50), ms(l.p90), ms(l.p99), ms(l.max), r.n, ms(l.e2e50), ms(l.e2e99))
		}
	}
	if bestRiver == 0 && bestDBOS == 0 {
		return
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Plumb against the peers in this run (target: ≥ 1× River's checkpoints/s and ≥ 3× DBOS's steps/s). "+
		"\"Same in flight\" is River with MaxWorkers equal to Plumb's runs in flight; \"best\" is the best figure of each peer ("+riverCfg+"; DBOS "+dbosCfg+"). "+
		"River is compared with the backlog runs only, as its jobs are inserted before its clock starts; "+
		"DBOS's figure includes starting each workflow, like Plumb's submit runs.")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "| Plumb configuration | Step checkpoints/s | vs River, same in flight | vs best River | vs best DBOS |")
	fmt.Fprintln(w, "|---|---:|---:|---:|---:|")
	for _, r := range rs {
		if r.system != "Plumb" || r.latency != nil {
			continue
		}
		same, best := "—", "—"
		if r.backlog { // River's jobs, too, are inserted before its clock starts
			for _, o := range rs {
				if o.system == "River" && o.inFlight == r.inFlight {
					same = ratio(r.cpPerSec(), o.cpPerSec(), 1)
				}
			}
			best = ratio(r.cpPerSec(), bestRiver, 1)
		}
		fmt.Fprintf(w, "| %s | %.0f | %s | %s | %s |\n", r.config, r.cpPerSec(), same, best, ratio(r.cpPerSec(), bestDBOS, 3))
	}
}

func ratio(a, b, target float64) string {
	if b == 0 {
		return "—"
	}
	x := a / b
	mark := "below target"
	if x >= target {
		mark = "meets target"
	}
	return strings.TrimSpace(fmt.Sprintf("%.2f× (%s)", x, mark))
}
