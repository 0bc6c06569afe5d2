// Command bench compares Plumb's PostgreSQL store with two peers, DBOS
// Transact Go and River, on the same server in the same run: the same
// three-step workload, a durable checkpoint per step, each system in a
// schema of its own. See README.md for what each system does and how to
// read the table.
//
//	go run . -dsn "$PLUMB_TEST_POSTGRES_DSN"
//
// The Plumb workers are this binary run again with -worker (separate
// processes, as in production), so that one process and four processes
// are measured alike.
package main

import (
	"context"
	"flag"
	"fmt"
	"net/url"
	"os"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
)

type config struct {
	dsn     string
	systems map[string]bool

	plumbRuns        int
	plumbProcs       []int
	plumbConcurrency int
	plumbInFlight    []int
	plumbPool        int
	plumbWriters     int
	plumbModes       []string
	latencyRuns      int
	profileDir       string
	verbose          bool

	dbosConcurrency []int
	dbosDuration    time.Duration
	dbosPool        int

	riverJobs    int
	riverWorkers []int
	riverPool    int
}

func main() {
	if len(os.Args) > 1 && os.Args[1] == "-worker" {
		os.Exit(workerMain(os.Args[2:]))
	}
	var c config
	var systems, procs, modes, dbosConc, riverWorkers, inFlight string
	flag.StringVar(&c.dsn, "dsn", os.Getenv("PLUMB_TEST_POSTGRES_DSN"), "PostgreSQL DSN (default $PLUMB_TEST_POSTGRES_DSN)")
	flag.StringVar(&systems, "systems", "plumb,dbos,river", "systems to measure")
	flag.IntVar(&c.plumbRuns, "plumb-runs", 20000, "Plumb runs per throughput measurement")
	flag.StringVar(&procs, "plumb-procs", "1,4", "Plumb worker process counts to measure")
	flag.StringVar(&inFlight, "plumb-in-flight", "100,200", "runs in flight in all Plumb worker processes together (WorkerConfig.Concurrency = this / processes)")
	flag.IntVar(&c.plumbConcurrency, "plumb-concurrency", 0, "runs in flight per Plumb worker process (overrides -plumb-in-flight)")
	flag.IntVar(&c.plumbPool, "plumb-pool", 8, "pool_max_conns of each Plumb worker process")
	flag.IntVar(&c.plumbWriters, "plumb-writers", 0, "pgstore Config.Writers of each Plumb worker process (0: the default)")
	flag.StringVar(&modes, "plumb-modes", "backlog,submit", "backlog: drain pre-enqueued runs; submit: the parent submits while the workers run (empty: no throughput runs)")
	flag.IntVar(&c.latencyRuns, "latency-runs", 300, "runs submitted one at a time for the enqueue-to-start latency (0: skip)")
	flag.StringVar(&c.profileDir, "profile", "", "directory for CPU profiles of the Plumb worker processes")
	flag.BoolVar(&c.verbose, "v", false, "Plumb workers report their store's write batching")
	flag.StringVar(&dbosConc, "dbos-concurrency", "8,16,32", "DBOS workflows in flight")
	flag.DurationVar(&c.dbosDuration, "dbos-duration", 10*time.Second, "DBOS measurement time per concurrency")
	flag.IntVar(&c.dbosPool, "dbos-pool", 32, "pool_max_conns of DBOS's system database pool")
	flag.IntVar(&c.riverJobs, "river-jobs", 30000, "River jobs per measurement")
	flag.StringVar(&riverWorkers, "river-workers", "100,200", "River MaxWorkers values to measure (compare with -plumb-in-flight)")
	flag.IntVar(&c.riverPool, "river-pool", 32, "pool_max_conns of River's pool")
	flag.Parse()
	if c.dsn == "" {
		fatalf("no DSN: set PLUMB_TEST_POSTGRES_DSN or pass -dsn (eval \"$(bash .ci/postgres.sh)\" starts a server)")
	}
	c.systems = map[string]bool{}
	for _, s := range strings.Split(systems, ",") {
		c.systems[strings.TrimSpace(s)] = true
	}
	c.plumbProcs = ints(procs)
	c.plumbInFlight = ints(inFlight)
	for _, m := range strings.Split(modes, ",") {
		switch m = strings.TrimSpace(m); m {
		case "":
		case "backlog", "submit":
			c.plumbModes = append(c.plumbModes, m)
		default:
			fatalf("unknown -plumb-modes entry %q: want backlog, submit, or nothing", m)
		}
	}
	c.dbosConcurrency = ints(dbosConc)
	c.riverWorkers = ints(riverWorkers)

	ctx := context.Background()
	env := describeEnv(ctx, c.dsn)
	fmt.Println(env)
	var results []result
	add := func(rs ...result) {
		for _, r := range rs {
			fmt.Println("  " + r.line())
		}
		results = append(results, rs...)
	}
	if c.systems["plumb"] {
		for _, mode := range c.plumbModes {
			for _, total := range c.plumbInFlight {
				for _, n := range c.plumbProcs {
					r, err := plumbThroughput(ctx, c, n, total, mode)
					check(err)
					add(r)
				}
			}
		}
		if c.latencyRuns > 0 {
			r, err := plumbLatency(ctx, c)
			check(err)
			add(r)
		}
	}
	if c.systems["dbos"] {
		rs, err := dbosThroughput(ctx, c)
		check(err)
		add(rs...)
	}
	if c.systems["river"] {
		for _, w := range c.riverWorkers {
			r, err := riverThroughput(ctx, c, w)
			check(err)
			add(r)
		}
	}
	fmt.Println()
	printTable(os.Stdout, env, results)
}

// describeEnv names the machine and the server's durability settings.
func describeEnv(ctx context.Context, dsn string) string {
	pool, err := pgxpool.New(ctx, dsn)
	check(err)
	defer pool.Close()
	var version string
	check(pool.QueryRow(ctx, "SHOW server_version").Scan(&version))
	settings := []string{"synchronous_commit", "fsync", "wal_sync_method", "full_page_writes", "commit_delay", "shared_buffers"}
	var parts []string
	for _, s := range settings {
		var v string
		check(pool.QueryRow(ctx, "SHOW "+s).Scan(&v))
		parts = append(parts, s+"="+v)
	}
	return fmt.Sprintf("machine: %s, %d CPUs, %s; PostgreSQL %s (%s); Go %s",
		cpuModel(), runtime.NumCPU(), runtime.GOOS+"/"+runtime.GOARCH, version, strings.Join(parts, ", "), runtime.Version())
}

func cpuModel() string {
	b, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return "unknown CPU"
	}
	for _, line := range strings.Split(string(b), "\n") {
		if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return "unknown CPU"
}

// withParam sets a query parameter of a postgres:// DSN (or appends
// key=value to a key=value DSN).
func withParam(dsn, key, value string) string {
	u, err := url.Parse(dsn)
	if err != nil || u.Scheme == "" {
		return dsn + " " + key + "=" + value
	}
	q := u.Query()
	q.Set(key, value)
	u.RawQuery = q.Encode()
	return u.String()
}

func ints(s string) []int {
	var out []int
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f == "" {
			continue
		}
		n, err := strconv.Atoi(f)
		if err != nil {
			fatalf("not a number list: %q", s)
		}
		out = append(out, n)
	}
	return out
}

func check(err error) {
	if err != nil {
		fatalf("%v", err)
	}
}

func fatalf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "bench: "+format+"\n", args...)
	os.Exit(1)
}
