package pgstore

import (
	"cmp"
	"context"
	"encoding/json"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/plumb-dev/plumb/store"
)

// Stats summarises the queue and the failures of a pipeline, or of all
// pipelines when name is empty. Workers call it periodically for their
// gauges, so it counts in SQL (one round trip, five aggregates) rather than
// loading records; the figures follow storekit.StatsAccumulator's rules.
func (s *Store) Stats(ctx context.Context, pipeline string, window time.Duration) ([]store.PipelineStats, error) {
	if err := s.enter(); err != nil {
		return nil, err
	}
	defer s.leave()
	now := s.now()
	var since any
	if window > 0 {
		since = now.Add(-window)
	}
	sc := s.q.schema
	b := &pgx.Batch{}
	b.Queue(`SELECT pipeline, status, count(*), count(*) FILTER (WHERE status = 'queued' AND not_before > $1),
			count(*) FILTER (WHERE parent_id IS NOT NULL)
		FROM `+sc+`.runs WHERE ($2 = '' OR pipeline = $2) GROUP BY pipeline, status`, now, pipeline)
	b.Queue(`SELECT pipeline, review FROM `+sc+`.runs
		WHERE status = 'awaiting_review' AND review IS NOT NULL AND ($1 = '' OR pipeline = $1)`, pipeline)
	b.Queue(`SELECT r.pipeline, r.finished_at, a.finished_at FROM `+sc+`.runs r
		JOIN LATERAL (SELECT a.finished_at FROM `+sc+`.attempts a WHERE a.run_id = r.id AND a.attempt < r.attempt
			AND a.status = 'dead_lettered' AND a.finished_at IS NOT NULL ORDER BY a.attempt DESC LIMIT 1) a ON true
		WHERE r.status = 'succeeded' AND r.attempt > 1 AND ($1 = '' OR r.pipeline = $1)`, pipeline)
	b.Queue(`SELECT pipeline, step, count(*) FILTER (WHERE status = 'succeeded'),
			count(*) FILTER (WHERE status IN ('failed', 'deferred'))
		FROM `+sc+`.steps WHERE idx >= 0 AND ($2::timestamptz IS NULL OR finished_at >= $2) AND ($1 = '' OR pipeline = $1)
		GROUP BY pipeline, step`, pipeline, since)
	b.Queue("SELECT "+pauseCols+" FROM "+sc+".pauses WHERE ($1 = '' OR pipeline = $1)", pipeline)
	br := s.pool.SendBatch(ctx, b)
	out, err := readStats(br)
	if cerr := br.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return nil, s.wrap("stats", err)
	}
	return out, nil
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

func readStats(br pgx.BatchResults) ([]store.PipelineStats, error) {
	sb := &statsBuilder{by: map[string]*store.PipelineStats{}, recovered: map[string]time.Duration{}}
	var name, status, step string
	var n, deferred, branches, ok, failed int
	if _, err := forEach(br, []any{&name, &status, &n, &deferred, &branches}, func() error {
		p := sb.get(name)
		p.ByStatus[store.Status(status)] += n
		p.Deferred += deferred
		p.Branches += branches
		return nil
	}); err != nil {
		return nil, err
	}
	var review []byte
	if _, err := forEach(br, []any{&name, &review}, func() error {
		var rv store.Review
		if err := json.Unmarshal(review, &rv); err != nil || rv.Decision != nil {
			return nil // an undecodable review is not a pending one
		}
		p := sb.get(name)
		if p.OldestReview.IsZero() || rv.CreatedAt.Before(p.OldestReview) {
			p.OldestReview = rv.CreatedAt
		}
		return nil
	}); err != nil {
		return nil, err
	}
	var succeeded, dead pgtype.Timestamptz
	if _, err := forEach(br, []any{&name, &succeeded, &dead}, func() error {
		sb.get(name).Recoveries++
		sb.recovered[name] += fromTS(succeeded).Sub(fromTS(dead))
		return nil
	}); err != nil {
		return nil, err
	}
	if _, err := forEach(br, []any{&name, &step, &ok, &failed}, func() error {
		p := sb.get(name)
		st := store.StepStats{Step: step, Succeeded: ok, Failed: failed}
		if total := ok + failed; total > 0 {
			st.Rate = float64(failed) / float64(total)
		}
		p.Steps = append(p.Steps, st)
		return nil
	}); err != nil {
		return nil, err
	}
	rows, err := br.Query()
	if err != nil {
		return nil, err
	}
	pauses, err := collect(rows, func(row pgx.CollectableRow) (store.Pause, error) { return scanPause(row) })
	if err != nil {
		return nil, err
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
	return out, nil
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
