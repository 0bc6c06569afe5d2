package storekit

import (
	"bytes"
	"encoding/json"
	"fmt"

	"github.com/plumb-dev/plumb/store"
)

// AttemptFormat is the version of the attempts blob EncodeAttempts writes:
// {"v":1,"attempts":[...]}, each element a store.AttemptRecord. Version 0
// is the bare JSON array of attempts that stores wrote before the format
// had a version; DecodeAttempts reads both. A change to what an
// AttemptRecord means on disk raises AttemptFormat and teaches
// DecodeAttempts the old version, with a golden file in testdata for it.
const AttemptFormat = 1

// attemptBlob is the versioned envelope of a step record's attempts.
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
	b, err := json.Marshal(attemptBlob{V: AttemptFormat, Attempts: attempts})
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
	case *blob.V < 1 || *blob.V > AttemptFormat:
		return nil, fmt.Errorf("storekit: decode attempts: format %d is not one this build reads (0 to %d)", *blob.V, AttemptFormat)
	}
	var recs []store.AttemptRecord
	if err := json.Unmarshal(blob.Attempts, &recs); err != nil {
		return nil, fmt.Errorf("storekit: decode attempts (format %d): %w", *blob.V, err)
	}
	return recs, nil
}
