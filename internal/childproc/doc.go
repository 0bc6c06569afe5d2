// Package childproc starts the worker processes of multi-process and crash
// tests: re-executions of the test binary that die with the test, so a
// test that fails or times out leaves no process behind polling a deleted
// file.
package childproc
