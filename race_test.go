//go:build race

package authv2_test

// raceEnabled: the race detector slows instrumented code by an order of
// magnitude, unevenly, so wall-clock comparisons mean nothing under it.
const raceEnabled = true
