package pgstore

import (
	"cmp"
	"context"
	"encoding/json"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/plumb-dev/plumb/store"
)

// Stats summarises the queue and the failures of a pipeline, or of all
// pipelines when name is empty. Workers call it periodically for their
// gauges, so it reads counters (migration 10) rather than counting rows:
// runs by pipeline and status from run_counts, step outcomes from the
// whole minutes of the window in step_counts and the records of its first,
// partial minute from the rows; what is not a count comes from the few
// rows it concerns: the queued runs held back now on a partial index (and
// those of them waiting for an event, from the open waits), the
// oldest pending review and the recoveries from the tables triggers keep
// (pending_reviews, run_recoveries: migration 12). One round trip; the figures
// follow storekit.StatsAccumulator's rules.
func (s *Store) Stats(ctx context.Context, pipeline string, window time.Duration) ([]store.PipelineStats, error) {
	if err := s.enter(); err != nil {
		return nil, err
	}
	defer s.leave()
	now := s.now()
	// The first whole minute of the window, and the records before it
	// (from since) that the counters of its minute hold with older ones.
	first, since, until := int64(math.MinInt64), now, now
	if window > 0 {
		since = now.Add(-window)
		until = since.Truncate(time.Minute)
		if until.Before(since) {
			until = until.Add(time.Minute)
		}
		first = until.Unix() / 60
	}
	sc := s.q.schema
	b := &pgx.Batch{}
	b.Queue(`SELECT pipeline, status, sum(n)::bigint, sum(branches)::bigint, count(*) FILTER (WHERE slot <> 0)
		FROM `+sc+`.run_counts WHERE ($1 = '' OR pipeline = $1) GROUP BY pipeline, status`, pipeline)
	b.Queue(`SELECT pipeline, count(*) FROM `+sc+`.runs
		WHERE status = 'queued' AND not_before IS NOT NULL AND not_before > $1 AND ($2 = '' OR pipeline = $2) GROUP BY pipeline`, now, pipeline)
	// Of them, those waiting for an event: the open waits (waits_open)
	// whose run waits for them until the deadline (storekit.AwaitingEvent).
	b.Queue(`SELECT w.pipeline, count(*) FROM `+sc+`.waits w JOIN `+sc+`.runs r ON r.id = w.run_id AND r.attempt = w.attempt
		WHERE w.resolved_at IS NULL AND r.status = 'queued' AND r.not_before > $1 AND ($2 = '' OR w.pipeline = $2)
		GROUP BY w.pipeline`, now, pipeline)
	// The oldest pending reviews of each pipeline, from the index of
	// pending_reviews (migration 12): the rows at the least time, whose
	// texts Go reads at the nanosecond.
	b.Queue(`SELECT p.pipeline, p.created FROM `+sc+`.pending_reviews p
		JOIN (SELECT pipeline, min(created_at) AS oldest FROM `+sc+`.pending_reviews
			WHERE ($1 = '' OR pipeline = $1) GROUP BY pipeline) o ON o.pipeline = p.pipeline AND o.oldest = p.created_at`, pipeline)
	b.Queue(`SELECT pipeline, succeeded_at, dead_at FROM `+sc+`.run_recoveries WHERE ($1 = '' OR pipeline = $1)`, pipeline)
	b.Queue(`SELECT pipeline, step, sum(n)::bigint, sum(succeeded)::bigint, sum(failed)::bigint
		FROM `+sc+`.step_counts WHERE bucket >= $1 AND ($2 = '' OR pipeline = $2)
		GROUP BY pipeline, step HAVING sum(n) <> 0`, first, pipeline)
	b.Queue(`SELECT pipeline, step, count(*), count(*) FILTER (WHERE status = 'succeeded'),
			count(*) FILTER (WHERE status IN ('failed', 'deferred'))
		FROM `+sc+`.steps WHERE idx >= 0 AND finished_at >= $1 AND finished_at < $2 AND ($3 = '' OR pipeline = $3)
		GROUP BY pipeline, step`, since, until, pipeline)
	b.Queue("SELECT "+pauseCols+" FROM "+sc+".pauses WHERE ($1 = '' OR pipeline = $1)", pipeline)
	br := s.pool.SendBatch(ctx, b)
	out, slots, err := readStats(br)
	if cerr := br.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return nil, s.wrap("stats", err)
	}
	if slots > foldSlots {
		if err := s.foldCounts(ctx); err != nil {
			return nil, s.wrap("stats: fold the counters of closed connections", err)
		}
	}
	return out, nil
}

// foldSlots is how many counter rows of connections (rather than of slot
// 0) Stats lets be before it folds those of closed connections.
const foldSlots = 256

// foldCounts moves the counts of the connections that are gone into slot
// 0, and deletes the minutes that count nothing. No live backend writes
// those rows, so the fold waits for none (a backend that started after
// its look at pg_stat_activity may see its row moved: the sum stays).
func (s *Store) foldCounts(ctx context.Context) error {
	sc := s.q.schema
	return s.tx(ctx, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `WITH gone AS (DELETE FROM `+sc+`.run_counts
				WHERE slot <> 0 AND slot NOT IN (SELECT pid FROM pg_stat_activity WHERE pid IS NOT NULL)
				RETURNING pipeline, status, n, branches)
			INSERT INTO `+sc+`.run_counts AS c (pipeline, status, slot, n, branches)
			SELECT pipeline, status, 0, sum(n), sum(branches) FROM gone GROUP BY pipeline, status
			ON CONFLICT (pipeline, status, slot) DO UPDATE SET n = c.n + excluded.n, branches = c.branches + excluded.branches`); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `WITH gone AS (DELETE FROM `+sc+`.step_counts
				WHERE slot <> 0 AND slot NOT IN (SELECT pid FROM pg_stat_activity WHERE pid IS NOT NULL)
				RETURNING bucket, pipeline, step, n, succeeded, failed)
			INSERT INTO `+sc+`.step_counts AS c (bucket, pipeline, step, slot, n, succeeded, failed)
			SELECT bucket, pipeline, step, 0, sum(n), sum(succeeded), sum(failed) FROM gone GROUP BY bucket, pipeline, step
			ON CONFLICT (bucket, pipeline, step, slot) DO UPDATE
				SET n = c.n + excluded.n, succeeded = c.succeeded + excluded.succeeded, failed = c.failed + excluded.failed`); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `DELETE FROM `+sc+`.step_counts WHERE slot = 0 AND n = 0 AND succeeded = 0 AND failed = 0`)
		return err
	})
}

type statsBuilder struct {
	by        map[string]*store.PipelineStats
	recovered map[string]time.Duration
}

func (sb *statsBuilder) get(name string) *store.PipelineStats {
	p, ok := sb.by[name]
	if !ok {
		p = &store.PipelineStats{Pipeline: name, ByStatus: map[store.Status]int{}}
		sb.by[name] = p
	}
	return p
}

// readStats reads Stats' batch; slots is how many counter rows of
// connections it summed.
func readStats(br pgx.BatchResults) ([]store.PipelineStats, int, error) {
	sb := &statsBuilder{by: map[string]*store.PipelineStats{}, recovered: map[string]time.Duration{}}
	var name, status, step string
	var n, deferred, branches, ok, failed, slots, rowSlots int
	if _, err := forEach(br, []any{&name, &status, &n, &branches, &rowSlots}, func() error {
		slots += rowSlots
		if n == 0 && branches == 0 {
			return nil
		}
		p := sb.get(name)
		if n != 0 {
			p.ByStatus[store.Status(status)] += n
		}
		p.Branches += branches
		return nil
	}); err != nil {
		return nil, 0, err
	}
	if _, err := forEach(br, []any{&name, &deferred}, func() error {
		sb.get(name).Deferred += deferred
		return nil
	}); err != nil {
		return nil, 0, err
	}
	var awaiting int
	if _, err := forEach(br, []any{&name, &awaiting}, func() error {
		sb.get(name).AwaitingEvent += awaiting
		return nil
	}); err != nil {
		return nil, 0, err
	}
	var created string
	if _, err := forEach(br, []any{&name, &created}, func() error {
		var at time.Time
		if err := json.Unmarshal([]byte(strconv.Quote(created)), &at); err != nil {
			return nil // a time Go cannot read is no pending review's, as before
		}
		p := sb.get(name)
		if p.OldestReview.IsZero() || at.Before(p.OldestReview) {
			p.OldestReview = at
		}
		return nil
	}); err != nil {
		return nil, 0, err
	}
	var succeeded, dead pgtype.Timestamptz
	if _, err := forEach(br, []any{&name, &succeeded, &dead}, func() error {
		sb.get(name).Recoveries++
		sb.recovered[name] += fromTS(succeeded).Sub(fromTS(dead))
		return nil
	}); err != nil {
		return nil, 0, err
	}
	steps := map[[2]string]*store.StepStats{}
	var total int
	for range 2 { // the whole minutes, then the partial one
		if _, err := forEach(br, []any{&name, &step, &total, &ok, &failed}, func() error {
			sb.get(name)
			k := [2]string{name, step}
			st, found := steps[k]
			if !found {
				st = &store.StepStats{Step: step}
				steps[k] = st
			}
			st.Succeeded += ok
			st.Failed += failed
			return nil
		}); err != nil {
			return nil, 0, err
		}
	}
	for k, st := range steps {
		if total := st.Succeeded + st.Failed; total > 0 {
			st.Rate = float64(st.Failed) / float64(total)
		}
		p := sb.get(k[0])
		p.Steps = append(p.Steps, *st)
	}
	rows, err := br.Query()
	if err != nil {
		return nil, 0, err
	}
	pauses, err := collect(rows, func(row pgx.CollectableRow) (store.Pause, error) { return scanPause(row) })
	if err != nil {
		return nil, 0, err
	}
	for _, pz := range pauses {
		sb.get(pz.Pipeline).Paused = &pz
	}
	out := make([]store.PipelineStats, 0, len(sb.by))
	for name, p := range sb.by {
		slices.SortFunc(p.Steps, func(x, y store.StepStats) int { return strings.Compare(x.Step, y.Step) })
		if p.Recoveries > 0 {
			p.MeanRecovery = sb.recovered[name] / time.Duration(p.Recoveries)
		}
		out = append(out, *p)
	}
	slices.SortFunc(out, func(x, y store.PipelineStats) int { return cmp.Compare(x.Pipeline, y.Pipeline) })
	return out, slots, nil
}

// forEach scans each row of the batch's next result into dest and calls fn.
func forEach(br pgx.BatchResults, dest []any, fn func() error) (int, error) {
	rows, err := br.Query()
	if err != nil {
		return 0, err
	}
	defer rows.Close()
	n := 0
	for rows.Next() {
		if err := rows.Scan(dest...); err != nil {
			return n, err
		}
		if err := fn(); err != nil {
			return n, err
		}
		n++
	}
	return n, rows.Err()
}
