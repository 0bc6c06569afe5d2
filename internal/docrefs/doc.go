// Package docrefs holds the test that keeps the Go comments' references to
// documents honest: a comment that sends the reader to a Markdown file
// ("see BENCHMARKS.md") names a file the repository has, so that godoc
// read on its own, or on pkg.go.dev, never points at nothing.
package docrefs
