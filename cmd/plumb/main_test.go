package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden from the current output")

// plumbBin is the CLI, built once for every test: the tests run the real
// binary as an operator would, against stores real pipelines wrote.
var plumbBin string

func TestMain(m *testing.M) {
	flag.Parse()
	dir, err := os.MkdirTemp("", "plumb-cli-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	plumbBin = filepath.Join(dir, "plumb")
	args := []string{"build", "-o", plumbBin}
	if raceEnabled {
		args = append(args, "-race")
	}
	build := exec.Command("go", append(args, ".")...)
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "build the plumb binary:", err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

type result struct {
	stdout, stderr string
	code           int
}

func (r result) String() string {
	return fmt.Sprintf("exit %d\n--- stdout\n%s--- stderr\n%s", r.code, r.stdout, r.stderr)
}

// cli runs the binary in dir with args, stdin and extra environment; the
// caller's PLUMB_* variables never leak in.
type cli struct {
	dir   string
	env   []string
	stdin string
	// tee, when set, also receives the command's stdout as it is written,
	// so that a test can act once the command reached a point.
	tee io.Writer
}

func (c cli) run(t *testing.T, args ...string) result {
	t.Helper()
	cmd := exec.Command(plumbBin, args...)
	cmd.Dir = c.dir
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "PLUMB_") && !strings.HasPrefix(kv, "USER=") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	// The race runtime sleeps a second at exit for late reports; the
	// CLI has no goroutines left by then.
	cmd.Env = append(cmd.Env, "USER=tester", "GORACE=atexit_sleep_ms=0")
	cmd.Env = append(cmd.Env, c.env...)
	cmd.Stdin = strings.NewReader(c.stdin)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	if c.tee != nil {
		cmd.Stdout = io.MultiWriter(&out, c.tee)
	}
	err := cmd.Run()
	res := result{stdout: out.String(), stderr: errOut.String()}
	if ee, ok := err.(*exec.ExitError); ok {
		res.code = ee.ExitCode()
	} else {
		require.NoError(t, err)
	}
	if strings.Contains(res.stderr, "WARNING: DATA RACE") {
		t.Fatalf("the CLI raced:\n%s", res.stderr)
	}
	return res
}

// plumb runs the CLI against the fixture's store.
func (f *fixture) plumb(args ...string) result {
	f.t.Helper()
	return cli{dir: f.dir}.run(f.t, append(append([]string(nil), f.target...), args...)...)
}

// ok runs the CLI and requires exit code 0.
func (f *fixture) ok(args ...string) result {
	f.t.Helper()
	r := f.plumb(args...)
	require.Equal(f.t, 0, r.code, "plumb %s\n%s", strings.Join(args, " "), r)
	return r
}

// decode parses a command's --json output.
func decode[T any](t *testing.T, r result) T {
	t.Helper()
	var v T
	require.NoError(t, json.Unmarshal([]byte(r.stdout), &v), "stdout is not the JSON expected:\n%s", r)
	return v
}

// golden compares got with testdata/name, or rewrites it with -update.
func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		require.NoError(t, os.WriteFile(path, []byte(got), 0o644))
		return
	}
	want, err := os.ReadFile(path)
	require.NoError(t, err, "run go test ./cmd/plumb -run %s -update to create it", t.Name())
	require.Equal(t, string(want), got, "%s differs; if the change is intended, rerun with -update", path)
}
