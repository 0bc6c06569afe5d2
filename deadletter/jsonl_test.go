package deadletter_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/plumb-dev/plumb/deadletter"
	"github.com/plumb-dev/plumb/internal/childproc"
	"github.com/plumb-dev/plumb/retry"
	"github.com/plumb-dev/plumb/step"
)

func letter(run string, size int) *deadletter.Letter {
	return &deadletter.Letter{
		Pipeline: "leads", RunID: run, Step: "classify",
		Input: []byte(fmt.Sprintf(`{"note":%q}`, strings.Repeat("x", size))),
		Class: retry.ClassContract, Error: "contract violated: /stage: enum",
		Attempts:  []step.Attempt{{Step: "classify", Number: 1, Error: "contract violated", Class: retry.ClassContract, Raw: `{"stage":"Hot"}`}},
		StartedAt: time.Date(2026, 11, 27, 2, 17, 0, 0, time.UTC), FailedAt: time.Date(2026, 11, 27, 2, 17, 1, 0, time.UTC),
		NeedsHuman: true,
	}
}

func TestJSONLRoundTrip(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sub", "dead.jsonl")
	j, err := deadletter.OpenJSONL(path)
	require.NoError(t, err)
	assert.Equal(t, "jsonl:"+path, j.Name())
	for i := 0; i < 3; i++ {
		require.NoError(t, j.Send(context.Background(), letter(fmt.Sprint("run-", i), 10)))
	}
	require.NoError(t, j.Close())
	require.Error(t, j.Send(context.Background(), letter("late", 1)), "a closed sink says so")

	got, skipped, err := deadletter.ReadJSONL(path)
	require.NoError(t, err)
	assert.Zero(t, skipped)
	require.Len(t, got, 3)
	assert.Equal(t, "run-2", got[2].RunID)
	assert.Equal(t, retry.ClassContract, got[0].Class)
	assert.Equal(t, `{"stage":"Hot"}`, got[0].Attempts[0].Raw)
	info, err := os.Stat(path)
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o600), info.Mode().Perm(), "letters hold customers' data")
}

func TestJSONLRecoversFromATornLastLine(t *testing.T) {
	path := filepath.Join(t.TempDir(), "dead.jsonl")
	j, err := deadletter.OpenJSONL(path)
	require.NoError(t, err)
	require.NoError(t, j.Send(context.Background(), letter("run-1", 10)))
	require.NoError(t, j.Close())
	// A writer died half way through a line.
	f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	require.NoError(t, err)
	_, err = f.WriteString(`{"pipeline":"leads","run_id":"run-torn","st`)
	require.NoError(t, err)
	require.NoError(t, f.Close())

	got, skipped, err := deadletter.ReadJSONL(path)
	require.NoError(t, err)
	assert.Len(t, got, 1, "earlier letters are intact")
	assert.Equal(t, 1, skipped)

	j, err = deadletter.OpenJSONL(path)
	require.NoError(t, err)
	require.NoError(t, j.Send(context.Background(), letter("run-2", 10)))
	require.NoError(t, j.Close())
	got, skipped, err = deadletter.ReadJSONL(path)
	require.NoError(t, err)
	require.Len(t, got, 2, "the next letter starts on a line of its own")
	assert.Equal(t, "run-2", got[1].RunID)
	assert.Equal(t, 1, skipped)
}

func TestJSONLConcurrentWriters(t *testing.T) {
	path := filepath.Join(t.TempDir(), "dead.jsonl")
	const goroutines, each = 8, 25
	sinks := []*deadletter.JSONL{}
	for i := 0; i < 2; i++ { // two handles on one file, as two processes would have
		j, err := deadletter.OpenJSONL(path)
		require.NoError(t, err)
		sinks = append(sinks, j)
	}
	var wg sync.WaitGroup
	for g := 0; g < goroutines; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			for i := 0; i < each; i++ {
				assert.NoError(t, sinks[g%2].Send(context.Background(), letter(fmt.Sprintf("g%d-%d", g, i), 5000)))
			}
		}(g)
	}
	wg.Wait()
	for _, s := range sinks {
		require.NoError(t, s.Close())
	}
	got, skipped, err := deadletter.ReadJSONL(path)
	require.NoError(t, err)
	assert.Zero(t, skipped, "no interleaved lines")
	assert.Len(t, got, goroutines*each)
}

// TestJSONLSurvivesSIGKILL kills a writer process mid-stream, several
// times, and checks that every letter it acknowledged is intact.
func TestJSONLSurvivesSIGKILL(t *testing.T) {
	path := filepath.Join(t.TempDir(), "dead.jsonl")
	acked := filepath.Join(t.TempDir(), "acked")
	for round := 0; round < 3; round++ {
		cmd := childproc.Command()
		cmd.Env = append(os.Environ(), "PLUMB_JSONL_WRITER="+path, "PLUMB_JSONL_ACKED="+acked, "PLUMB_JSONL_ROUND="+strconv.Itoa(round))
		require.NoError(t, cmd.Start())
		// Let it write for a while, then kill it without warning.
		deadline := time.Now().Add(10 * time.Second)
		for time.Now().Before(deadline) {
			if st, err := os.Stat(path); err == nil && st.Size() > int64(round+1)*200_000 {
				break
			}
			time.Sleep(5 * time.Millisecond)
		}
		require.NoError(t, cmd.Process.Signal(syscall.SIGKILL))
		_ = cmd.Wait()
	}
	got, skipped, err := deadletter.ReadJSONL(path)
	require.NoError(t, err)
	assert.LessOrEqual(t, skipped, 3, "at most one torn line per crash")
	have := map[string]bool{}
	for _, l := range got {
		have[l.RunID] = true
	}
	ackedIDs, err := os.ReadFile(acked)
	require.NoError(t, err)
	n := 0
	for _, id := range strings.Fields(string(ackedIDs)) {
		n++
		assert.True(t, have[id], "acknowledged letter %s lost", id)
	}
	assert.Greater(t, n, 10, "the writer got some letters out before each kill")
}

// TestMain turns the test binary into the writer process that
// TestJSONLSurvivesSIGKILL kills, when asked to by the environment.
func TestMain(m *testing.M) {
	if path := os.Getenv("PLUMB_JSONL_WRITER"); path != "" {
		writeUntilKilled(path)
		return
	}
	os.Exit(m.Run())
}

func writeUntilKilled(path string) {
	j, err := deadletter.OpenJSONL(path)
	if err != nil {
		panic(err)
	}
	ack, err := os.OpenFile(os.Getenv("PLUMB_JSONL_ACKED"), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		panic(err)
	}
	for i := 0; ; i++ {
		id := fmt.Sprintf("r%s-%d", os.Getenv("PLUMB_JSONL_ROUND"), i)
		if err := j.Send(context.Background(), letter(id, 20_000)); err != nil {
			panic(err)
		}
		// Only a letter Send acknowledged is promised to survive.
		if _, err := ack.WriteString(id + "\n"); err != nil {
			panic(err)
		}
	}
}
