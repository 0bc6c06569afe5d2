package sqlitestore

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/plumb-dev/plumb/store"
)

// TestQueryPlans pins the plans that keep the queue fast when it is deep:
// claims and listings read an index in the order they return rows and stop
// at their limit, never sorting or scanning the runs table.
func TestQueryPlans(t *testing.T) {
	s := openTemp(t, Config{})
	claim := func(pipelines, skip []string) string {
		q, _ := candidatesQuery(pipelines, skip, 1, 10)
		return q
	}
	list := func(f store.RunFilter) string {
		q, _ := listQuery(f)
		return q
	}
	count := func(f store.RunFilter) string {
		q, _ := countQuery(f)
		return q
	}
	cases := []struct {
		name, query string
		uses        []string
		// sorts names the index whose rows may be sorted: a small set.
		sorts string
	}{
		{"claim any pipeline", claim(nil, nil), []string{"runs_queued", "runs_leased"}, "runs_leased"},
		{"claim skipping paused", claim(nil, []string{"a", "b"}), []string{"COVERING INDEX runs_queued"}, "runs_leased"},
		{"claim one pipeline", claim([]string{"leads"}, nil), []string{"COVERING INDEX runs_queued_pipeline (pipeline=?"}, "runs_leased"},
		{"claim two pipelines", claim([]string{"leads", "posts"}, nil), []string{"runs_queued_pipeline"}, "runs_leased"},
		{"list everything", list(store.RunFilter{}), []string{"sqlite_autoindex_runs_1"}, ""},
		{"list a page", list(store.RunFilter{Before: "run-9"}), []string{"sqlite_autoindex_runs_1 (id<?)"}, ""},
		{"list a status", list(store.RunFilter{Status: []store.Status{store.DeadLettered}}), []string{"runs_ended (status=?)"}, ""},
		{"list two statuses", list(store.RunFilter{Status: []store.Status{store.DeadLettered, store.AwaitingReview}}), []string{"runs_ended (status=?)"}, ""},
		{"list live statuses", list(store.RunFilter{Status: []store.Status{store.Queued, store.Running}}), []string{"runs_queued", "runs_leased"}, "runs_"},
		{"list a pipeline", list(store.RunFilter{Pipeline: "leads"}), []string{"runs_pipeline (pipeline=?)"}, ""},
		{"list a group of dead letters", list(store.RunFilter{Status: []store.Status{store.DeadLettered}, Pipeline: "leads", Step: "classify", Class: 2}),
			[]string{"runs_dead_letters (pipeline=? AND step=? AND class=?)"}, ""},
		{"count a group of dead letters", count(store.RunFilter{Status: []store.Status{store.DeadLettered}, Pipeline: "leads", Step: "classify", Class: 2, CountLimit: 10}),
			[]string{"runs_dead_letters (pipeline=? AND step=? AND class=?)"}, ""},
		{"bounded count of recent runs", count(store.RunFilter{Since: time.Now(), Before: "run-9", CountLimit: 10}), []string{"sqlite_autoindex_runs_1 (id<?)"}, ""},
		{"list statuses of a pipeline", list(store.RunFilter{Pipeline: "leads", Status: []store.Status{store.DeadLettered, store.Queued}, Since: time.Now()}), []string{"runs_ended (status=?)", "runs_queued_pipeline (pipeline=?)"}, "runs_queued_pipeline"},
		{"checkpoints of a run", "SELECT " + stepColumns + " FROM steps WHERE run_id = ? AND run_attempt = ? ORDER BY seq", []string{"steps_run (run_id=? AND run_attempt=?)"}, ""},
		{"list top-level runs", list(store.RunFilter{TopLevel: true}), []string{"runs_top_level"}, ""},
		{"list a page of top-level runs", list(store.RunFilter{TopLevel: true, Before: "run-9"}), []string{"runs_top_level (id<?)"}, ""},
		{"count top-level runs", "SELECT count(*) FROM runs r WHERE r.id < ? AND r.parent_id IS NULL", []string{"COVERING INDEX runs_top_level (id<?)"}, ""},
		{"list a parent's runs", list(store.RunFilter{Parent: "run-1"}), []string{"runs_children (parent_id=?)"}, "runs_children"},
		{"list dead letters of a parent", list(store.RunFilter{Parent: "run-1", Status: []store.Status{store.DeadLettered}}), []string{"runs_ended (status=?)"}, ""},
		{"branches", strings.Replace(branchesQuery, "OUTPUT", "r.output", 1), []string{"runs_children (parent_id=?)", "PRIMARY KEY (parent_id=? AND idx=?)"}, ""},
		{"fork's children", forkChildrenQuery, []string{"sqlite_autoindex_runs_1 (id=?)"}, ""},
		{"release a waiting child", releaseQuery, []string{"runs_waiting_children (parent_id=? AND parent_index=?)"}, ""},
		{"count a join's active children", activeChildrenQuery, []string{"runs_active_children (parent_id=? AND parent_index=?)"}, ""},
		{"cancel children", cancelChildrenQuery, []string{"runs_children (parent_id=?)", "PRIMARY KEY (parent_id=? AND idx=?)"}, ""},
		{"stats: counters", statsCounts + " AND pipeline = ?", []string{"run_counts"}, ""},
		{"stats: deferred runs", statsDeferred + " GROUP BY pipeline", []string{"runs_queued_pipeline"}, "runs_queued_pipeline"},
		{"stats: pending reviews", fmt.Sprintf(statsReviews, ""), []string{"COVERING INDEX runs_reviews (status=?", "runs_reviews_raw (status=?"}, ""},
		{"stats: pending reviews of a pipeline", fmt.Sprintf(statsReviews, " AND pipeline = ?"), []string{"COVERING INDEX runs_reviews (status=? AND pipeline=?)", "runs_reviews_raw (status=? AND pipeline=?)"}, ""},
		{"list live statuses by id", list(store.RunFilter{Status: []store.Status{store.Queued, store.Running, store.DeadLettered}, Before: "run-9"}), []string{"runs_queued", "runs_leased", "sqlite_autoindex_runs_1 (id=?)"}, "runs_"},
		{"stats: recoveries", statsRecovered + " WHERE pipeline = ? GROUP BY pipeline", []string{"COVERING INDEX run_recoveries_pipeline (pipeline=?)"}, ""},
		{"prune old runs", pruneOld, []string{"COVERING INDEX runs_succeeded (finished_at<?)"}, ""},
		{"prune runs beyond the limit", pruneBeyond, []string{"COVERING INDEX runs_succeeded"}, ""},
		{"prune trees", pruneTrees, []string{"runs_children (parent_id=?)", "sqlite_autoindex_runs_1 (id=?)"}, ""},
		{"idempotency key", selectRun + " WHERE r.pipeline = ? AND r.idem_key = ?", []string{"runs_idem (pipeline=? AND idem_key=?)"}, ""},
		{"list by external id", list(store.RunFilter{ExternalID: "lead-77"}), []string{"runs_external_id (trigger_ext_id=?)"}, ""},
		{"list a page by external id", list(store.RunFilter{ExternalID: "lead-77", Before: "run-9"}), []string{"runs_external_id (trigger_ext_id=? AND id<?)"}, ""},
		{"list statuses by external id", list(store.RunFilter{ExternalID: "lead-77", Pipeline: "leads", Status: []store.Status{store.DeadLettered, store.Queued}}), []string{"runs_external_id (trigger_ext_id=?)"}, ""},
		{"count by external id", count(store.RunFilter{ExternalID: "lead-77", Before: "run-9"}), []string{"runs_external_id (trigger_ext_id=? AND id<?)"}, ""},
		{"list by key", list(store.RunFilter{IdempotencyKey: "k-1"}), []string{"runs_idem_key (idem_key=?)"}, ""},
		{"list by key and external id", list(store.RunFilter{IdempotencyKey: "k-1", ExternalID: "lead-77", Status: []store.Status{store.Running}}), []string{"runs_idem_key (idem_key=?)"}, ""},
		{"count by key", count(store.RunFilter{IdempotencyKey: "k-1", Before: "run-9", Status: []store.Status{store.Queued}}), []string{"runs_idem_key (idem_key=? AND id<?)"}, ""},
		{"marked runs whose worker died", expiredMarkedQuery + " AND pipeline IN (?, ?)", []string{"runs_leased (lease_expires<?)"}, ""},
		{"waited runs that ended", endedQuery, []string{"sqlite_autoindex_runs_1 (id=?)"}, ""},
		// A run's input and version are its current attempt's, read by
		// primary key with the run.
		{"read a run", selectRun + " WHERE r.id = ?", []string{"sqlite_autoindex_runs_1 (id=?)", "sqlite_autoindex_attempts_1 (run_id=? AND attempt=?)"}, ""},
		{"claim a run", claimQuery, []string{"sqlite_autoindex_runs_1 (id=?)", "sqlite_autoindex_attempts_1 (run_id=? AND attempt=?)"}, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			plan := explain(t, s, c.query)
			text := ""
			for _, n := range plan {
				text += n.detail + "\n"
			}
			for _, u := range c.uses {
				assert.Contains(t, text, u)
			}
			for _, n := range plan {
				assert.NotRegexp(t, `^SCAN (r|runs)$`, n.detail, "scans the table:\n%s", text)
				if n.detail != "USE TEMP B-TREE FOR ORDER BY" {
					continue
				}
				// A sort is fine over a subquery's rows (each stopped at
				// the limit), and over the named small set; not over a
				// table's.
				ok := false
				for _, sib := range plan {
					if sib.parent == n.parent && (strings.HasPrefix(sib.detail, "SCAN (subquery") ||
						c.sorts != "" && strings.Contains(sib.detail, c.sorts)) {
						ok = true
					}
				}
				assert.True(t, ok, "sorts a table's rows:\n%s", text)
			}
		})
	}
}

type planNode struct {
	id, parent int
	detail     string
}

func explain(t *testing.T, s *Store, q string) []planNode {
	t.Helper()
	args := make([]any, strings.Count(q, "?"))
	for i := range args {
		args[i] = 1
	}
	rows, err := s.db.QueryContext(context.Background(), "EXPLAIN QUERY PLAN "+q, args...)
	require.NoError(t, err)
	defer rows.Close()
	var out []planNode
	for rows.Next() {
		var n planNode
		var unused int
		require.NoError(t, rows.Scan(&n.id, &n.parent, &unused, &n.detail))
		out = append(out, n)
	}
	require.NoError(t, rows.Err())
	return out
}
