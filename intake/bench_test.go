package intake_test

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/plumb-dev/plumb/intake"
	"github.com/plumb-dev/plumb/notify"
	"github.com/plumb-dev/plumb/pipeline"
)

// BenchmarkIntake measures deliveries a second through real HTTP into a
// durable store (SQLite with synchronous FULL; PostgreSQL when
// PLUMB_TEST_POSTGRES_DSN is set), each signed with Standard Webhooks,
// verified, checked against the contract and enqueued before its 202, at
// several sender concurrencies. Requests are signed before the timer
// starts: the figure is the receiver's.
//
//	go test ./intake -run '^$' -bench BenchmarkIntake -benchtime 3000x
func BenchmarkIntake(b *testing.B) {
	for _, kind := range []string{"sqlite", "postgres"} {
		b.Run(kind, func(b *testing.B) {
			for _, senders := range []int{1, 8, 32} {
				b.Run(fmt.Sprintf("senders=%d", senders), func(b *testing.B) { benchIntake(b, kind, senders) })
			}
		})
	}
}

func benchIntake(b *testing.B, kind string, senders int) {
	spec := "sqlite:" + b.TempDir() + "/plumb.db"
	if kind == "postgres" {
		spec = "postgres:" + pgSchema(b)
	}
	st, err := openStore(spec)
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	rt := pipeline.NewRuntime(pipeline.RuntimeConfig{Store: st, Logger: quiet()})
	secret := notify.NewSecret()
	h := intake.New(leadPipeline(rt), intake.Source{Name: "bench", Verify: intake.StandardWebhooks(secret)})
	if err := h.Err(); err != nil {
		b.Fatal(err)
	}
	url := newServer(b, h)

	type req struct {
		header http.Header
		body   []byte
	}
	reqs := make([]req, b.N)
	now := time.Now()
	for i := range reqs {
		body := leadBody(fmt.Sprintf("lead-%d", i), "ada@example.com")
		hd := stdSign(b, secret, fmt.Sprintf("msg_%d", i), now, body)
		hd.Set("Content-Type", "application/json")
		reqs[i] = req{hd, body}
	}
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: senders}}
	var next atomic.Int64
	var failed atomic.Int64
	var wg sync.WaitGroup
	b.ResetTimer()
	start := time.Now()
	for range senders {
		wg.Go(func() {
			for {
				i := next.Add(1) - 1
				if i >= int64(len(reqs)) {
					return
				}
				r, _ := http.NewRequest(http.MethodPost, url, bytes.NewReader(reqs[i].body))
				r.Header = reqs[i].header
				res, err := client.Do(r)
				if err != nil {
					failed.Add(1)
					continue
				}
				_, _ = io.Copy(io.Discard, res.Body)
				res.Body.Close()
				if res.StatusCode != http.StatusAccepted {
					failed.Add(1)
				}
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	if f := failed.Load(); f > 0 {
		b.Fatalf("%d of %d deliveries not accepted", f, b.N)
	}
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "deliveries/s")
}
