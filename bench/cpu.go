package main

import (
	"os"
	"strconv"
	"strings"
	"time"
)

// cpuSample is where CPU time went on this machine, when the server runs
// on it: the postgres processes (and the backends that exited, reaped by
// the postmaster), and the machine as a whole.
type cpuSample struct {
	postgres, busy, total time.Duration
	ok                    bool
}

const clockTick = 10 * time.Millisecond // USER_HZ is 100 on Linux

func sampleCPU() cpuSample {
	var s cpuSample
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return s
	}
	var pg int64
	for _, e := range ents {
		b, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		st := string(b)
		i, j := strings.IndexByte(st, '('), strings.LastIndexByte(st, ')')
		if i < 0 || j < i || !strings.HasPrefix(st[i+1:j], "postgres") {
			continue
		}
		f := strings.Fields(st[j+2:])
		if len(f) < 15 {
			continue
		}
		for _, k := range []int{11, 12, 13, 14} { // utime, stime, cutime, cstime
			v, _ := strconv.ParseInt(f[k], 10, 64)
			pg += v
		}
	}
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return s
	}
	line, _, _ := strings.Cut(string(b), "\n")
	var total, idle int64
	for i, f := range strings.Fields(line)[1:] {
		v, _ := strconv.ParseInt(f, 10, 64)
		if i >= 8 { // guest time is counted in user already
			break
		}
		total += v
		if i == 3 || i == 4 { // idle, iowait
			idle += v
		}
	}
	s.postgres = time.Duration(pg) * clockTick
	s.busy, s.total = time.Duration(total-idle)*clockTick, time.Duration(total)*clockTick
	s.ok = true
	return s
}

// cpuUse is the CPU spent between two samples.
type cpuUse struct {
	postgres, busy, total time.Duration
	ok                    bool
}

func since(a cpuSample) cpuUse {
	b := sampleCPU()
	return cpuUse{postgres: b.postgres - a.postgres, busy: b.busy - a.busy, total: b.total - a.total, ok: a.ok && b.ok}
}

// cpuPer is the CPU per unit of work, in µs: the machine's busy time, and
// the part of it in the postgres processes.
type cpuPer struct {
	busy, postgres float64
	ok             bool
}

func (u cpuUse) perUnit(n int) cpuPer {
	if !u.ok || u.total == 0 || n == 0 {
		return cpuPer{}
	}
	return cpuPer{busy: float64(u.busy.Microseconds()) / float64(n), postgres: float64(u.postgres.Microseconds()) / float64(n), ok: true}
}
