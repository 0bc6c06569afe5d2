package storekit

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/plumb-dev/plumb/contract"
	"github.com/plumb-dev/plumb/retry"
	"github.com/plumb-dev/plumb/step"
	"github.com/plumb-dev/plumb/store"
)

// AttemptFormat is the version of the attempts blob EncodeAttempts writes.
// DecodeAttempts reads every version a store ever wrote, each with a
// golden file in testdata:
//
//   - 0: the bare JSON array of store.AttemptRecord that stores wrote
//     before the format had a version.
//   - 1: the JSON envelope {"v":1,"attempts":[...]}, each element a
//     store.AttemptRecord.
//   - 2: binary, for the fields every attempt has, and JSON for the rest
//     (see encodeV2): a plain step's attempt takes about 25 bytes where
//     format 1 took about 100. EncodeAttempts writes format 1 for the rare
//     attempts format 2 cannot hold exactly (a start time outside the
//     range of int64 nanoseconds).
//
// A change to what an AttemptRecord means on disk raises AttemptFormat and
// teaches DecodeAttempts the old version, with a golden file for it.
const AttemptFormat = 2

// attemptBlob is the versioned envelope of a step record's attempts
// (format 1).
type attemptBlob struct {
	V        int                   `json:"v"`
	Attempts []store.AttemptRecord `json:"attempts"`
}

// EncodeAttempts is the blob a store keeps for a step record's attempts,
// in the current AttemptFormat; nil for nil, so that a record without
// attempts stores none (NULL), while an empty list stays an empty list.
func EncodeAttempts(attempts []store.AttemptRecord) ([]byte, error) {
	if attempts == nil {
		return nil, nil
	}
	b, err := encodeV2(attempts)
	if errors.Is(err, errNotV2) {
		return EncodeAttemptsV1(attempts)
	}
	if err != nil {
		return nil, fmt.Errorf("storekit: encode attempts: %w", err)
	}
	return b, nil
}

// EncodeAttemptsV1 writes format 1, which every Plumb since the format
// had a version reads.
func EncodeAttemptsV1(attempts []store.AttemptRecord) ([]byte, error) {
	if attempts == nil {
		return nil, nil
	}
	b, err := json.Marshal(attemptBlob{V: 1, Attempts: attempts})
	if err != nil {
		return nil, fmt.Errorf("storekit: encode attempts: %w", err)
	}
	return b, nil
}

// DecodeAttempts reads a blob EncodeAttempts wrote, in any format up to
// AttemptFormat, or the bare array of version 0; nil reads as nil. A blob
// in a newer format (written by a newer Plumb sharing the database) is an
// error, never a guess.
func DecodeAttempts(b []byte) ([]store.AttemptRecord, error) {
	if b == nil {
		return nil, nil
	}
	if len(b) > 0 && b[0] < 0x09 {
		// A binary format: its first byte is its version (JSON starts
		// with whitespace or a bracket).
		if b[0] != 2 {
			return nil, fmt.Errorf("storekit: decode attempts: format %d is not one this build reads (0 to %d)", b[0], AttemptFormat)
		}
		recs, err := decodeV2(b[1:])
		if err != nil {
			return nil, fmt.Errorf("storekit: decode attempts (format 2): %w", err)
		}
		return recs, nil
	}
	if t := bytes.TrimLeft(b, " \t\r\n"); len(t) == 0 || t[0] != '{' {
		var v0 []store.AttemptRecord
		if err := json.Unmarshal(b, &v0); err != nil {
			return nil, fmt.Errorf("storekit: decode attempts (format 0): %w", err)
		}
		return v0, nil
	}
	var blob struct {
		V        *int            `json:"v"`
		Attempts json.RawMessage `json:"attempts"`
	}
	if err := json.Unmarshal(b, &blob); err != nil {
		return nil, fmt.Errorf("storekit: decode attempts: %w", err)
	}
	switch {
	case blob.V == nil:
		return nil, fmt.Errorf("storekit: decode attempts: the blob has no format version")
	case *blob.V != 1:
		// Only format 1 is a JSON envelope.
		return nil, fmt.Errorf("storekit: decode attempts: format %d is not one this build reads as JSON (0 and 1; 2 is binary)", *blob.V)
	}
	var recs []store.AttemptRecord
	if err := json.Unmarshal(blob.Attempts, &recs); err != nil {
		return nil, fmt.Errorf("storekit: decode attempts (format %d): %w", *blob.V, err)
	}
	return recs, nil
}

// Format 2 is the byte 2, uvarint(number of attempts), then for each
// attempt:
//
//	uvarint(flags)
//	step: uvarint(length), bytes     unless flags&v2SameStep (the previous attempt's step)
//	uvarint(number)                  0 to math.MaxInt32
//	varint(start, unix nanoseconds)  unless flags&v2ZeroStart (the zero time)
//	varint(duration, nanoseconds)
//	uvarint(length), JSON            if flags&v2Rest: the other fields, as
//	                                 in format 1 (attemptRest), empty ones left out
//
// Times decode in UTC, as every time a store keeps.
const (
	v2SameStep = 1 << iota
	v2ZeroStart
	v2Rest
)

// attemptRest is what format 2 keeps as JSON: every field of an
// AttemptRecord but Step, Number, Start and Duration, under format 1's
// names.
type attemptRest struct {
	Kind           step.AttemptKind     `json:"kind,omitempty"`
	Reask          int                  `json:"reask,omitempty"`
	FallbackModel  string               `json:"fallback_model,omitempty"`
	Note           string               `json:"note,omitempty"`
	Error          string               `json:"error,omitempty"`
	Class          retry.Class          `json:"class,omitempty"`
	Unclassified   bool                 `json:"unclassified,omitempty"`
	Abandoned      bool                 `json:"abandoned,omitempty"`
	Violations     []contract.Violation `json:"violations,omitempty"`
	ViolationCount int                  `json:"violation_count,omitempty"`
	Raw            string               `json:"raw,omitempty"`
	Model          string               `json:"model,omitempty"`
	InputTokens    int                  `json:"input_tokens,omitempty"`
	OutputTokens   int                  `json:"output_tokens,omitempty"`
	Cost           float64              `json:"cost,omitempty"`
	Wait           time.Duration        `json:"wait,omitempty"`
	Stack          string               `json:"stack,omitempty"`
}

func restOf(a *store.AttemptRecord) attemptRest {
	return attemptRest{Kind: a.Kind, Reask: a.Reask, FallbackModel: a.FallbackModel, Note: a.Note, Error: a.Error,
		Class: a.Class, Unclassified: a.Unclassified, Abandoned: a.Abandoned, Violations: a.Violations,
		ViolationCount: a.ViolationCount, Raw: a.Raw, Model: a.Model, InputTokens: a.InputTokens,
		OutputTokens: a.OutputTokens, Cost: a.Cost, Wait: a.Wait, Stack: a.Stack}
}

func (r *attemptRest) empty() bool {
	return r.Kind == 0 && r.Reask == 0 && r.FallbackModel == "" && r.Note == "" && r.Error == "" && r.Class == 0 &&
		!r.Unclassified && !r.Abandoned && len(r.Violations) == 0 && r.ViolationCount == 0 && r.Raw == "" &&
		r.Model == "" && r.InputTokens == 0 && r.OutputTokens == 0 && r.Cost == 0 && r.Wait == 0 && r.Stack == ""
}

var errNotV2 = errors.New("not representable in format 2")

func encodeV2(attempts []store.AttemptRecord) ([]byte, error) {
	b := make([]byte, 0, 2+len(attempts)*32)
	b = append(b, 2)
	b = binary.AppendUvarint(b, uint64(len(attempts)))
	for i := range attempts {
		a := &attempts[i]
		var flags uint64
		if i > 0 && a.Step == attempts[i-1].Step {
			flags |= v2SameStep
		}
		if a.Number < 0 || a.Number > math.MaxInt32 {
			// Only a hand-edited or corrupt format 0 or 1 blob has one.
			return nil, errNotV2
		}
		if a.Start.IsZero() {
			flags |= v2ZeroStart
		} else if a.Start.Before(minNanos) || a.Start.After(maxNanos) {
			return nil, errNotV2
		}
		rest := restOf(a)
		if !rest.empty() {
			flags |= v2Rest
		}
		b = binary.AppendUvarint(b, flags)
		if flags&v2SameStep == 0 {
			b = binary.AppendUvarint(b, uint64(len(a.Step)))
			b = append(b, a.Step...)
		}
		b = binary.AppendUvarint(b, uint64(a.Number))
		if flags&v2ZeroStart == 0 {
			b = binary.AppendVarint(b, a.Start.UnixNano())
		}
		b = binary.AppendVarint(b, int64(a.Duration))
		if flags&v2Rest != 0 {
			j, err := json.Marshal(rest)
			if err != nil {
				return nil, err
			}
			b = binary.AppendUvarint(b, uint64(len(j)))
			b = append(b, j...)
		}
	}
	return b, nil
}

var (
	minNanos = time.Unix(0, math.MinInt64)
	maxNanos = time.Unix(0, math.MaxInt64)
)

var errTruncated = errors.New("truncated or corrupt")

func decodeV2(b []byte) ([]store.AttemptRecord, error) {
	uv := func() (uint64, error) {
		v, k := binary.Uvarint(b)
		if k <= 0 {
			return 0, errTruncated
		}
		b = b[k:]
		return v, nil
	}
	sv := func() (int64, error) {
		v, k := binary.Varint(b)
		if k <= 0 {
			return 0, errTruncated
		}
		b = b[k:]
		return v, nil
	}
	bytesOf := func() ([]byte, error) {
		n, err := uv()
		if err != nil || n > uint64(len(b)) {
			return nil, errTruncated
		}
		s := b[:n]
		b = b[n:]
		return s, nil
	}
	n, err := uv()
	// Each attempt takes at least three bytes (flags, number and duration,
	// when it has the previous attempt's step and the zero start), so a
	// count beyond that is corrupt and allocates nothing.
	if err != nil || n > uint64(len(b))/3 {
		return nil, errTruncated
	}
	recs := make([]store.AttemptRecord, n)
	for i := range recs {
		a := &recs[i]
		flags, err := uv()
		if err != nil {
			return nil, err
		}
		if flags&^(v2SameStep|v2ZeroStart|v2Rest) != 0 {
			return nil, fmt.Errorf("unknown flags %#x", flags)
		}
		switch {
		case flags&v2SameStep == 0:
			s, err := bytesOf()
			if err != nil {
				return nil, err
			}
			a.Step = string(s)
		case i == 0:
			return nil, errTruncated
		default:
			a.Step = recs[i-1].Step
		}
		num, err := uv()
		if err != nil || num > math.MaxInt32 {
			return nil, errTruncated
		}
		a.Number = int(num)
		if flags&v2ZeroStart == 0 {
			ns, err := sv()
			if err != nil {
				return nil, err
			}
			a.Start = time.Unix(0, ns).UTC()
		}
		d, err := sv()
		if err != nil {
			return nil, err
		}
		a.Duration = time.Duration(d)
		if flags&v2Rest != 0 {
			j, err := bytesOf()
			if err != nil {
				return nil, err
			}
			var r attemptRest
			if err := json.Unmarshal(j, &r); err != nil {
				return nil, err
			}
			a.Kind, a.Reask, a.FallbackModel, a.Note, a.Error, a.Class = r.Kind, r.Reask, r.FallbackModel, r.Note, r.Error, r.Class
			a.Unclassified, a.Abandoned, a.Violations, a.ViolationCount = r.Unclassified, r.Abandoned, r.Violations, r.ViolationCount
			a.Raw, a.Model, a.InputTokens, a.OutputTokens, a.Cost = r.Raw, r.Model, r.InputTokens, r.OutputTokens, r.Cost
			a.Wait, a.Stack = r.Wait, r.Stack
		}
	}
	if len(b) != 0 {
		return nil, errTruncated
	}
	return recs, nil
}
