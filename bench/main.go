// Command bench measures Plumb against its peers in the same run, each
// workload shape against the same shape, with the same ~1 KB payload
// (benchfixture.Lead) carried through three durable steps:
//
//   - closed loop (c clients each submit, wait for the result, repeat):
//     Plumb against DBOS Transact Go, on SQLite and on PostgreSQL;
//   - latency, Submit to succeeded, one run at a time: the same pairs;
//   - a pre-filled backlog drained on PostgreSQL: Plumb's worker
//     processes against River at the same number in flight.
//
// Each repetition measures every row, the systems of a row back to back;
// the tables give the median and spread of the repetitions and the ratios
// of the same repetition. See README.md.
//
//	go run . -dsn "$PLUMB_TEST_POSTGRES_DSN"
package main

import (
	"context"
	"flag"
	"fmt"
	"net/url"
	"os"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
)

type config struct {
	dsn    string
	rows   map[string]bool
	stores []string
	repeat int

	concurrency      []int
	warmup, duration time.Duration
	latencyRuns      int
	backlogRuns      int
	procs, inFlight  []int

	plumbPool, dbosPool, riverPool int
	sqliteDir, profileDir          string
	verbose, dbosSQLiteFull        bool
}

func main() {
	if len(os.Args) > 1 && os.Args[1] == "-worker" {
		os.Exit(workerMain(os.Args[2:]))
	}
	var c config
	var rows, stores, conc, procs, inFlight string
	flag.StringVar(&c.dsn, "dsn", os.Getenv("PLUMB_TEST_POSTGRES_DSN"), "PostgreSQL DSN (default $PLUMB_TEST_POSTGRES_DSN)")
	flag.StringVar(&rows, "rows", "closed,latency,backlog", "rows to measure")
	flag.StringVar(&stores, "stores", "sqlite,pg", "stores of the closed-loop and latency rows (the backlog row is PostgreSQL's, run when pg is listed)")
	flag.IntVar(&c.repeat, "repeat", 3, "repetitions of the whole set")
	flag.StringVar(&conc, "c", "1,8,32", "closed loop: clients")
	flag.DurationVar(&c.warmup, "warmup", time.Second, "closed loop: warm-up per point, not counted")
	flag.DurationVar(&c.duration, "duration", 5*time.Second, "closed loop: measurement time per point")
	flag.IntVar(&c.latencyRuns, "latency-runs", 500, "latency: runs measured one at a time (after 20 unmeasured)")
	flag.IntVar(&c.backlogRuns, "backlog-runs", 20000, "backlog: runs (Plumb) and jobs (River) per point")
	flag.StringVar(&procs, "procs", "1,4", "backlog: Plumb worker processes")
	flag.StringVar(&inFlight, "in-flight", "32,100", "backlog: runs in flight in all (Plumb: Concurrency = this / processes; River: MaxWorkers)")
	flag.IntVar(&c.plumbPool, "plumb-pool", 8, "backlog: pool_max_conns of each Plumb worker process")
	flag.IntVar(&c.dbosPool, "dbos-pool", 32, "pool_max_conns of DBOS's PostgreSQL system database pool")
	flag.BoolVar(&c.dbosSQLiteFull, "dbos-sqlite-full", false, "run DBOS on SQLite at synchronous=FULL (a pool the benchmark opens) instead of the NORMAL DBOS forces on its own")
	flag.IntVar(&c.riverPool, "river-pool", 32, "pool_max_conns of River's pool")
	flag.StringVar(&c.sqliteDir, "sqlite-dir", os.TempDir(), "directory of the SQLite files (a fresh file per point, both systems on the same disk)")
	flag.StringVar(&c.profileDir, "profile", "", "directory for CPU profiles of the Plumb side of each point")
	flag.BoolVar(&c.verbose, "v", false, "backlog: Plumb workers report their store's write batching")
	flag.Parse()
	c.rows = map[string]bool{}
	for _, r := range list(rows) {
		if r != "closed" && r != "latency" && r != "backlog" {
			fatalf("unknown -rows entry %q: want closed, latency, backlog", r)
		}
		c.rows[r] = true
	}
	c.stores = list(stores)
	for _, s := range c.stores {
		if s != "sqlite" && s != "pg" {
			fatalf("unknown -stores entry %q: want sqlite, pg", s)
		}
	}
	c.concurrency, c.procs, c.inFlight = ints(conc), ints(procs), ints(inFlight)
	usePG := false
	for _, s := range c.stores {
		usePG = usePG || s == "pg"
	}
	if usePG && c.dsn == "" {
		fatalf("no DSN: set PLUMB_TEST_POSTGRES_DSN or pass -dsn (eval \"$(bash .ci/postgres.sh)\" starts a server)")
	}
	if c.profileDir != "" {
		check(os.MkdirAll(c.profileDir, 0o755))
	}

	ctx := context.Background()
	env := describeEnv(ctx, c, usePG)
	fmt.Println(env)
	res := results{}
	for rep := range c.repeat {
		// The systems of a point run back to back, in turns first.
		pair := func(plumb, peer func()) {
			if rep%2 == 0 {
				plumb()
				peer()
			} else {
				peer()
				plumb()
			}
		}
		fmt.Printf("repetition %d of %d\n", rep+1, c.repeat)
		if c.rows["closed"] {
			for _, st := range c.stores {
				for _, n := range c.concurrency {
					pair(func() {
						s, err := plumbClosed(ctx, c, st, n, fmt.Sprintf("plumb-closed-%s-c%d-r%d", st, n, rep+1))
						res.add(key{"closed", st, "Plumb", n, 0}, s, err)
					}, func() {
						s, err := dbosClosed(ctx, c, st, n)
						res.add(key{"closed", st, "DBOS", n, 0}, s, err)
					})
				}
			}
		}
		if c.rows["latency"] {
			for _, st := range c.stores {
				pair(func() {
					s, err := plumbLatency(ctx, c, st, fmt.Sprintf("plumb-latency-%s-r%d", st, rep+1))
					res.add(key{"latency", st, "Plumb", 1, 0}, s, err)
				}, func() {
					s, err := dbosLatency(ctx, c, st)
					res.add(key{"latency", st, "DBOS", 1, 0}, s, err)
				})
			}
		}
		if c.rows["backlog"] && usePG {
			for _, total := range c.inFlight {
				pair(func() {
					for _, n := range c.procs {
						s, err := plumbBacklog(ctx, c, n, total, fmt.Sprintf("plumb-backlog-%dx%d-r%d", n, total/n, rep+1))
						res.add(key{"backlog", "pg", "Plumb", total, n}, s, err)
					}
				}, func() {
					s, err := riverBacklog(ctx, c, total)
					res.add(key{"backlog", "pg", "River", total, 0}, s, err)
				})
			}
		}
	}
	fmt.Println()
	res.print(os.Stdout, c, env)
}

// describeEnv is the machine line: CPU, cores, Go, the versions measured,
// the PostgreSQL server's durability settings and SQLite's.
func describeEnv(ctx context.Context, c config, usePG bool) string {
	s := fmt.Sprintf("machine: %s, %d CPUs, %s/%s, Go %s; %s", cpuModel(), runtime.NumCPU(), runtime.GOOS, runtime.GOARCH, runtime.Version(),
		strings.Join(versions("github.com/dbos-inc/dbos-transact-golang", "github.com/riverqueue/river", "modernc.org/sqlite", "github.com/jackc/pgx/v5"), ", "))
	dbosSync := "NORMAL (what DBOS sets on the pool it opens)"
	if c.dbosSQLiteFull {
		dbosSync = "FULL (-dbos-sqlite-full)"
	}
	s += fmt.Sprintf("\nSQLite: files in %s (%s); Plumb sqlitestore synchronous=FULL (its default), WAL; DBOS synchronous=%s, WAL",
		c.sqliteDir, fsType(c.sqliteDir), dbosSync)
	if !usePG {
		return s
	}
	pool, err := pgxpool.New(ctx, c.dsn)
	check(err)
	defer pool.Close()
	var version string
	check(pool.QueryRow(ctx, "SHOW server_version").Scan(&version))
	var parts []string
	for _, name := range []string{"synchronous_commit", "fsync", "wal_sync_method", "full_page_writes", "commit_delay", "shared_buffers", "max_connections"} {
		var v string
		check(pool.QueryRow(ctx, "SHOW "+name).Scan(&v))
		parts = append(parts, name+"="+v)
	}
	return s + fmt.Sprintf("\nPostgreSQL %s (%s)", version, strings.Join(parts, ", "))
}

func versions(paths ...string) []string {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return nil
	}
	var out []string
	for _, p := range paths {
		for _, m := range bi.Deps {
			if m.Path == p {
				out = append(out, p+" "+m.Version)
			}
		}
	}
	return out
}

// fsType is the type of the file system dir is on, from /proc/mounts.
func fsType(dir string) string {
	b, err := os.ReadFile("/proc/mounts")
	if err != nil {
		return "unknown file system"
	}
	best, typ := "", "unknown file system"
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) >= 3 && strings.HasPrefix(dir, f[1]) && len(f[1]) >= len(best) {
			best, typ = f[1], f[2]+" on "+f[0]
		}
	}
	return typ
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

func list(s string) []string {
	var out []string
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}

func ints(s string) []int {
	var out []int
	for _, f := range list(s) {
		n, err := strconv.Atoi(f)
		if err != nil || n <= 0 {
			fatalf("not a list of positive numbers: %q", s)
		}
		out = append(out, n)
	}
	return out
}

func itoa(n int) string { return strconv.Itoa(n) }

func check(err error) {
	if err != nil {
		fatalf("%v", err)
	}
}

func fatalf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "bench: "+format+"\n", args...)
	os.Exit(1)
}
