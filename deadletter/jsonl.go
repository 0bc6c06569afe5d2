package deadletter

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
)

// JSONL is a sink that appends each letter as one line of JSON to a file.
// Each Send writes the whole line with one write, fsyncs it, and returns
// only then. Writers in several processes may share the file: an advisory
// lock orders them. A crash mid-write leaves at most one torn last line,
// which readers skip and the next writer closes off, so earlier letters are
// always intact.
type JSONL struct {
	path string
	mu   sync.Mutex
	f    *os.File
}

var _ Sink = (*JSONL)(nil)

// OpenJSONL opens (creating it and its directory if needed) the file at
// path for appending letters.
func OpenJSONL(path string) (*JSONL, error) {
	if dir := filepath.Dir(path); dir != "." {
		if err := os.MkdirAll(dir, 0o750); err != nil {
			return nil, fmt.Errorf("deadletter: create directory for %s: %w", path, err)
		}
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR|os.O_APPEND, 0o600)
	if err != nil {
		return nil, fmt.Errorf("deadletter: open %s: %w", path, err)
	}
	return &JSONL{path: path, f: f}, nil
}

// Name returns "jsonl:<path>".
func (j *JSONL) Name() string { return "jsonl:" + j.path }

// Path returns the file's path.
func (j *JSONL) Path() string { return j.path }

// Send appends l and syncs the file.
func (j *JSONL) Send(ctx context.Context, l *Letter) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	line, err := json.Marshal(l)
	if err != nil {
		return fmt.Errorf("deadletter: encode letter of run %s: %w", l.RunID, err)
	}
	line = append(line, '\n')
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.f == nil {
		return fmt.Errorf("deadletter: %s is closed", j.path)
	}
	unlock, err := lockFile(j.f)
	if err != nil {
		return fmt.Errorf("deadletter: lock %s: %w", j.path, err)
	}
	defer unlock()
	torn, err := endsTorn(j.f)
	if err != nil {
		return fmt.Errorf("deadletter: inspect %s: %w", j.path, err)
	}
	if torn {
		// A writer died mid-line: start ours on a line of its own.
		line = append([]byte{'\n'}, line...)
	}
	if _, err := j.f.Write(line); err != nil {
		return fmt.Errorf("deadletter: write %s: %w", j.path, err)
	}
	if err := j.f.Sync(); err != nil {
		return fmt.Errorf("deadletter: sync %s: %w", j.path, err)
	}
	return nil
}

// endsTorn reports whether the file's last byte is not a newline.
func endsTorn(f *os.File) (bool, error) {
	st, err := f.Stat()
	if err != nil || st.Size() == 0 {
		return false, err
	}
	var b [1]byte
	if _, err := f.ReadAt(b[:], st.Size()-1); err != nil {
		return false, err
	}
	return b[0] != '\n', nil
}

// Close closes the file.
func (j *JSONL) Close() error {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.f == nil {
		return nil
	}
	err := j.f.Close()
	j.f = nil
	return err
}

// ReadJSONL reads every letter in a JSONL file. Lines that do not decode (a
// torn line left by a crash) are skipped and counted in skipped.
func ReadJSONL(path string) (letters []*Letter, skipped int, err error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, 0, fmt.Errorf("deadletter: open %s: %w", path, err)
	}
	defer f.Close()
	return DecodeJSONL(f)
}

// DecodeJSONL reads letters from r, one per line, skipping and counting
// lines that do not decode.
func DecodeJSONL(r io.Reader) (letters []*Letter, skipped int, err error) {
	br := bufio.NewReaderSize(r, 64<<10)
	for {
		line, rerr := br.ReadBytes('\n')
		if t := bytes.TrimSpace(line); len(t) > 0 {
			var l Letter
			if json.Unmarshal(t, &l) == nil && line[len(line)-1] == '\n' {
				letters = append(letters, &l)
			} else {
				skipped++
			}
		}
		if rerr == io.EOF {
			return letters, skipped, nil
		}
		if rerr != nil {
			return letters, skipped, rerr
		}
	}
}
