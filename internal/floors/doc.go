// Package floors holds the test that keeps Plumb's layering honest: the
// core packages import only packages on floors below their own, and never a
// database driver, a model SDK, an HTTP UI or the OpenTelemetry SDK; the
// store implementations depend on nothing above package store.
package floors
