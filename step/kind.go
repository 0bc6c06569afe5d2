package step

import "fmt"

// AttemptKind says what an attempt was. Its zero value is AttemptCall, so
// records written before kinds were recorded read as calls.
type AttemptKind uint8

// The kinds of attempt.
const (
	// AttemptCall is a call of the step's function, or a model step's first
	// call to its primary model.
	AttemptCall AttemptKind = iota
	// AttemptRetry is a call again after a transient failure: a retry of
	// the function, or a model step's transport retry (a timeout, a 429, a
	// 5xx).
	AttemptRetry
	// AttemptReask is a model step's call with the violations of the
	// previous answer listed (Attempt.Reask numbers them).
	AttemptReask
	// AttemptFallbackModel is a model step's first call to a fallback model
	// (Attempt.FallbackModel names it).
	AttemptFallbackModel
	// AttemptInputContract is the check of the input against its contract,
	// which refused it before any call.
	AttemptInputContract
	// AttemptOutcome is the step's outcome when the attempts of a
	// self-recording function do not tell it: a failure before any call,
	// or an answer the step's own output contract refused.
	AttemptOutcome
)

var kindNames = [...]string{
	AttemptCall:          "call",
	AttemptRetry:         "retry",
	AttemptReask:         "reask",
	AttemptFallbackModel: "fallback_model",
	AttemptInputContract: "input_contract",
	AttemptOutcome:       "step_outcome",
}

func (k AttemptKind) String() string {
	if int(k) < len(kindNames) {
		return kindNames[k]
	}
	return fmt.Sprintf("AttemptKind(%d)", uint8(k))
}

// MarshalText writes the kind's name: "call", "retry", "reask",
// "fallback_model", "input_contract", "step_outcome".
func (k AttemptKind) MarshalText() ([]byte, error) {
	if int(k) >= len(kindNames) {
		return nil, fmt.Errorf("step: unknown attempt kind %d", uint8(k))
	}
	return []byte(kindNames[k]), nil
}

// UnmarshalText reads a kind's name.
func (k *AttemptKind) UnmarshalText(b []byte) error {
	for i, n := range kindNames {
		if n == string(b) {
			*k = AttemptKind(i)
			return nil
		}
	}
	return fmt.Errorf("step: unknown attempt kind %q", b)
}
