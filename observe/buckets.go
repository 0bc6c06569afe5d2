package observe

import "slices"

// Histogram bucket boundaries. They travel to the SDK as the OTel API's
// advisory metric.WithExplicitBucketBoundaries, so an application's own
// View still overrides them; without them the SDK's defaults (0, 5, 10 …
// 10000) would put every call under 5 s into one bucket.
var (
	// A step is a function call, a database write or a chain of model
	// calls with retries: from about a millisecond to several minutes. A
	// 1-2.5-5 series up to 10 s, then minute-scale steps up to the
	// ten-minute mark, so a slow step shows how slow.
	stepDurationBuckets = []float64{
		0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5,
		1, 2.5, 5, 10, 30, 60, 120, 300, 600,
	}
	// Recovery is a person's work: from a replay minutes after the dead
	// letter to one days later, so the boundaries run from 10 s to a week.
	recoveryBuckets = []float64{
		10, 30, 60, 300, 600, 1800, 3600, 2 * 3600, 4 * 3600, 8 * 3600, 12 * 3600,
		24 * 3600, 2 * 24 * 3600, 3 * 24 * 3600, 7 * 24 * 3600,
	}
	// A wait for a rate limiter or a concurrency slot: none at all most of
	// the time, up to a minute when a provider's limit is reached.
	waitBuckets = []float64{0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60}
	// As the GenAI semantic conventions specify for
	// gen_ai.client.operation.duration: doubling from 10 ms to 81.92 s.
	genAIDurationBuckets = []float64{
		0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48, 40.96, 81.92,
	}
	// As the GenAI semantic conventions specify for
	// gen_ai.client.token.usage: powers of 4 from 1 to 4^13.
	genAITokenBuckets = []float64{
		1, 4, 16, 64, 256, 1024, 4096, 16384, 65536, 262144, 1048576, 4194304, 16777216, 67108864,
	}
)

// StepDurationBuckets returns the bucket boundaries, in seconds, of
// plumb.step.duration: 1 ms to 10 min.
func StepDurationBuckets() []float64 { return slices.Clone(stepDurationBuckets) }

// GenAIOperationDurationBuckets returns the bucket boundaries, in seconds,
// that the GenAI semantic conventions specify for
// gen_ai.client.operation.duration.
func GenAIOperationDurationBuckets() []float64 { return slices.Clone(genAIDurationBuckets) }

// GenAITokenUsageBuckets returns the bucket boundaries, in tokens, that the
// GenAI semantic conventions specify for gen_ai.client.token.usage.
func GenAITokenUsageBuckets() []float64 { return slices.Clone(genAITokenBuckets) }

// RecoveryBuckets returns the bucket boundaries, in seconds, of
// plumb.recovery.duration: 10 s to a week.
func RecoveryBuckets() []float64 { return slices.Clone(recoveryBuckets) }

// WaitBuckets returns the bucket boundaries, in seconds, of plumb.llm.wait:
// 1 ms to a minute.
func WaitBuckets() []float64 { return slices.Clone(waitBuckets) }
