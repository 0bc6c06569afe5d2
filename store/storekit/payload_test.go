package storekit

import (
	"bytes"
	"encoding/json"
	"math/rand/v2"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/plumb-dev/plumb/internal/benchfixture"
)

func lead(t testing.TB, n int, edit func(*benchfixture.Lead)) []byte {
	t.Helper()
	l := benchfixture.NewLead(n)
	if edit != nil {
		edit(&l)
	}
	b, err := json.Marshal(l)
	require.NoError(t, err)
	return b
}

func roundTrip(t *testing.T, p, dict []byte) []byte {
	t.Helper()
	b := PackPayload(p, dict)
	var d []byte
	if PayloadNeedsDict(b) {
		d = dict
	}
	got, err := UnpackPayload(b, d)
	require.NoError(t, err)
	require.True(t, bytes.Equal(p, got), "round trip of %q", p)
	require.Equal(t, p == nil, got == nil)
	return b
}

func TestPayloadRoundTrips(t *testing.T) {
	in := lead(t, 7, nil)
	out := lead(t, 7, func(l *benchfixture.Lead) { l.Stage, l.Score = "qualified", l.Score+5 })
	rng := rand.New(rand.NewPCG(1, 2))
	random := make([]byte, 5000)
	for i := range random {
		random[i] = byte(rng.IntN(256))
	}
	cases := map[string][]byte{
		"nil": nil, "empty": {}, "small": []byte(`{"a":1}`), "string": []byte(`"` + strings.Repeat("ab", 100) + `"`),
		"lead": in, "lead changed": out, "long run": []byte(`"` + strings.Repeat(" ", 1<<21) + `"`),
		"not JSON": {0x01, 0x02, 0x03}, "not JSON, long": append([]byte{0x02}, random...), "random": random,
		"whitespace first": append([]byte("\n\t "), in...),
	}
	for name, p := range cases {
		t.Run(name, func(t *testing.T) {
			for _, dict := range [][]byte{nil, in, out, random, []byte("short")} {
				roundTrip(t, p, dict)
			}
		})
	}
	// A step's output packed against the run's input repeats none of it.
	b := roundTrip(t, out, in)
	assert.True(t, PayloadNeedsDict(b))
	assert.Less(t, len(b), 64, "an edited Lead against its input")
	b = roundTrip(t, in, nil)
	assert.Equal(t, PayloadPacked, b[0])
	assert.Less(t, len(b), len(in)*7/8)
	// Too small to pack, or nothing saved: the JSON itself.
	assert.Equal(t, []byte(`{"a":1}`), PackPayload([]byte(`{"a":1}`), in))
	assert.Equal(t, random, PackPayload(random, nil)[:len(random)], "random bytes stay as they are")
}

func TestUnpackPayloadRefusesWhatItCannotRead(t *testing.T) {
	in := lead(t, 7, nil)
	b := PackPayload(lead(t, 7, func(l *benchfixture.Lead) { l.Stage = "won" }), in)
	_, err := UnpackPayload(b, nil)
	assert.ErrorIs(t, err, ErrPayloadDict)
	_, err = UnpackPayload(b, lead(t, 8, nil))
	assert.ErrorContains(t, err, "packed against another input")
	_, err = UnpackPayload([]byte{0x07, 1, 2}, nil)
	assert.ErrorContains(t, err, "form 0x7")
	for i := 1; i < len(b); i++ {
		_, err := UnpackPayload(b[:i], in)
		assert.Error(t, err, "truncated at %d", i)
	}
}

func FuzzUnpackPayload(f *testing.F) {
	in := lead(f, 1, nil)
	f.Add(PackPayload(lead(f, 1, func(l *benchfixture.Lead) { l.Score = 99 }), in), true)
	f.Add(PackPayload(in, nil), false)
	f.Fuzz(func(t *testing.T, b []byte, withDict bool) {
		var dict []byte
		if withDict {
			dict = in
		}
		_, _ = UnpackPayload(b, dict) // never panics
	})
}

func FuzzPackPayload(f *testing.F) {
	f.Add([]byte(`{"a":"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"}`), []byte(`{"a":"aaaa"}`))
	f.Fuzz(func(t *testing.T, p, dict []byte) {
		b := PackPayload(p, dict)
		got, err := UnpackPayload(b, dict)
		if err != nil || !bytes.Equal(got, p) {
			t.Fatalf("round trip of %q against %q: %q, %v", p, dict, got, err)
		}
	})
}

func TestDictsAreBounded(t *testing.T) {
	var d Dicts
	in := lead(t, 1, nil)
	d.Put("a", 1, in)
	assert.Equal(t, in, d.Get("a", 1))
	assert.Nil(t, d.Get("a", 2), "another attempt")
	d.Put("a", 2, []byte("{}"))
	assert.Nil(t, d.Get("a", 2), "too small to serve")
	assert.Nil(t, d.Get("a", 1))
	for i := range dictsMaxEntries + 10 {
		d.Put(string(rune(i)), 1, in)
	}
	assert.LessOrEqual(t, len(d.m), dictsMaxEntries)
	d.Drop(string(rune(5)))
	assert.Nil(t, d.Get(string(rune(5)), 1))
}

// cpuTime is the process's CPU time so far: on a busy machine the
// benchmarks report it per op (cpu-ns/op) beside the wall clock's ns/op.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func loopCPU(b *testing.B, fn func()) {
	t0 := cpuTime()
	for b.Loop() {
		fn()
	}
	b.ReportMetric(float64(cpuTime()-t0)/float64(b.N), "cpu-ns/op")
}

func BenchmarkPackPayload(b *testing.B) {
	in := lead(b, 7, nil)
	out := lead(b, 7, func(l *benchfixture.Lead) { l.Stage, l.Score = "qualified", l.Score+5 })
	b.Run("output against input", func(b *testing.B) {
		var n int
		loopCPU(b, func() { n = len(PackPayload(out, in)) })
		b.ReportMetric(float64(n), "bytes")
	})
	b.Run("alone", func(b *testing.B) {
		var n int
		loopCPU(b, func() { n = len(PackPayload(in, nil)) })
		b.ReportMetric(float64(n), "bytes")
	})
}

func BenchmarkUnpackPayload(b *testing.B) {
	in := lead(b, 7, nil)
	out := lead(b, 7, func(l *benchfixture.Lead) { l.Stage, l.Score = "qualified", l.Score+5 })
	for name, c := range map[string][2][]byte{"output against input": {PackPayload(out, in), in}, "alone": {PackPayload(in, nil), nil}} {
		b.Run(name, func(b *testing.B) {
			loopCPU(b, func() {
				if _, err := UnpackPayload(c[0], c[1]); err != nil {
					b.Fatal(err)
				}
			})
		})
	}
}
