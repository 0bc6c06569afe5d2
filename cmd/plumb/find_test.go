package main

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/plumb-dev/plumb/store"
)

func TestFindByTheCustomersID(t *testing.T) { findCases(t, newFixture(t, nil)) }

func TestFindByTheCustomersIDOnPostgres(t *testing.T) { findCases(t, newPostgresFixture(t)) }

func findCases(t *testing.T, f *fixture) {
	dead := f.submitFrom("lead-0197", "batch-1/lead-0197", noEmailText)
	f.drain()
	byKey := f.submitFrom("row-88", "lead-0197", adaText)
	f.drain()
	other := f.submitFrom("lead-0200", "batch-1/lead-0200", noEmailText)
	f.drain()

	t.Run("runs find looks the id up both ways", func(t *testing.T) {
		r := f.ok("runs", "find", "lead-0197")
		assert.Contains(t, r.stdout, "2 runs with the external id or idempotency key lead-0197, newest first:\n")
		assert.Regexp(t, `(?m)^ID +PIPELINE +STATUS +SOURCE +MATCHED +UPDATED \(UTC\) +ERROR$`, r.stdout)
		assert.Regexp(t, `(?m)^`+byKey+` +leads +succeeded +web-form +key `, r.stdout)
		assert.Regexp(t, `(?m)^`+dead+` +leads +dead_lettered +web-form +external id .*lead lead-0197 has no email address`, r.stdout)
		assert.Less(t, indexOf(r.stdout, byKey), indexOf(r.stdout, dead), "newest first")
		assert.NotContains(t, r.stdout, other)
		assert.Contains(t, r.stdout, "\nNext\n")
		assert.Contains(t, r.stdout, "deadletters show "+dead+"  # dead_lettered at step parse (permanent)\n")
		assert.Contains(t, r.stdout, "runs show "+byKey+"  # succeeded\n")

		found := decode[foundRuns](t, f.ok("runs", "find", "lead-0197", "--json"))
		require.Len(t, found.Runs, 2)
		assert.Equal(t, []string{"idempotency_key"}, found.Runs[0].Matched)
		assert.Equal(t, []string{"external_id"}, found.Runs[1].Matched)
		assert.Equal(t, "lead-0197", found.Runs[1].Trigger.ExternalID)

		both := decode[foundRuns](t, f.ok("runs", "find", "batch-1/lead-0197", "--json"))
		require.Len(t, both.Runs, 1)
		assert.Equal(t, dead, both.Runs[0].ID)

		r = f.plumb("runs", "find", "lead-9999")
		assert.Equal(t, exitNotFound, r.code, r.String())
		assert.Contains(t, r.stderr, "has the external id or the idempotency key lead-9999")
	})

	t.Run("every filter takes --external-id and --key", func(t *testing.T) {
		runs := decode[[]store.Run](t, f.ok("runs", "list", "--external-id", "lead-0197", "--json"))
		require.Len(t, runs, 1)
		assert.Equal(t, dead, runs[0].ID)
		runs = decode[[]store.Run](t, f.ok("runs", "list", "--key", "lead-0197", "--json"))
		require.Len(t, runs, 1)
		assert.Equal(t, byKey, runs[0].ID)
		assert.Empty(t, decode[[]store.Run](t, f.ok("runs", "list", "--external-id", "lead-0197", "--key", "lead-0197", "--json")), "both must match")

		l := decode[letterList](t, f.ok("deadletters", "list", "--external-id", "lead-0197", "--json"))
		require.Len(t, l.Groups, 1)
		assert.Equal(t, []string{dead}, l.Groups[0].RunIDs)

		r := f.ok("replay", "--filter", "--external-id", "lead-0197", "--dry-run")
		assert.Contains(t, r.stdout, "1 dead-lettered run match:")
		assert.Contains(t, r.stdout, dead)
		assert.NotContains(t, r.stdout, other)
		r = f.plumb("replay", dead, "--external-id", "lead-0197")
		assert.Equal(t, exitUsage, r.code, "a filter flag without --filter\n%s", r)
	})
}

func indexOf(s, sub string) int { return strings.Index(s, sub) }
