// Package deadletter keeps what gave up, with everything needed to put it
// right: a Letter holds the pipeline, the run, the failed step, what
// triggered the run, the step's input, the last raw output, every attempt
// with its error and class, the trace, and whether a person must look.
//
// # Sinks
//
// A Sink receives letters and returns only once a letter is safely kept.
// Built in: Memory (tests), JSONL (an append-only file, one letter per
// line, fsynced before Send returns, safe for concurrent writers in several
// processes, with earlier letters intact after a crash mid-write), NewSlog
// (logs each letter at Error level) and Multi (several sinks; one failing
// does not stop the others). Store makes any store a sink: it records each
// letter with Import, so that there a dead letter is a run in the
// dead_lettered state of the canonical record.
//
// # Never silent
//
// A pipeline whose sink refuses a letter counts the failure in telemetry,
// logs the whole letter, and says so in the run's *Error (SinkErr). Read a
// JSONL file back with ReadJSONL, which skips a torn last line.
package deadletter
