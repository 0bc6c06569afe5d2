package sqlitestore

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/plumb-dev/plumb/store"
)

// BenchmarkClaimDeepQueue claims (and releases) from a queue of 100,000
// runs: 50,000 of "leads", behind 50,000 of "posts" that are either
// runnable, deferred for an hour, or paused.
//
//	go test -run '^$' -bench ClaimDeepQueue ./store/sqlitestore/
func BenchmarkClaimDeepQueue(b *testing.B) {
	ctx := context.Background()
	for _, head := range []string{"runnable", "deferred", "paused"} {
		s, err := Open(b.TempDir()+"/deep.db", Config{Synchronous: "NORMAL"})
		if err != nil {
			b.Fatal(err)
		}
		now := time.Now()
		err = s.write(ctx, func(tx *writer) error {
			for i := range 100_000 {
				r := store.Run{ID: fmt.Sprintf("run-%06d", i), Pipeline: "leads", Status: store.Queued, Attempt: 1,
					CreatedAt: now.Add(time.Duration(i)), UpdatedAt: now}
				if i < 50_000 {
					r.Pipeline = "posts"
					if head == "deferred" {
						r.NotBefore = now.Add(time.Hour)
					}
				}
				if err := tx.insertRun(&r); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			b.Fatal(err)
		}
		if head == "paused" {
			if err := s.SetPause(ctx, store.Pause{Pipeline: "posts", Reason: "bench"}); err != nil {
				b.Fatal(err)
			}
		}
		for _, filter := range [][]string{{"leads"}, nil} {
			name := fmt.Sprintf("%s/%v", head, filter)
			b.Run(name, func(b *testing.B) {
				for b.Loop() {
					got, err := s.Claim(ctx, store.ClaimRequest{Worker: "w", Pipelines: filter, Limit: 10, Lease: time.Minute})
					if err != nil || len(got) != 10 {
						b.Fatal(err, len(got))
					}
					leases := make([]store.Lease, len(got))
					for i, c := range got {
						leases[i] = c.Lease
					}
					if err := s.Release(ctx, leases); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
		_ = s.Close()
	}
}
