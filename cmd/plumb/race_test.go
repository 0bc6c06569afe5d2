//go:build race

package main

// raceEnabled builds the CLI under test with -race too.
const raceEnabled = true
