// Package benchfixture holds the shared benchmark value: an Order that
// marshals to about 1.3 KB of JSON with eleven objects, enums,
// patterns, formats (date-time, email, uri), bounds and lengths, plus a
// Validate method. Benchmarks across packages (contract checks, step
// overhead) use it so that their numbers are comparable. Keep it stable:
// changing the type or Sample changes every benchmark that uses it.
package benchfixture
