//go:build !race

package authv2_test

const raceEnabled = false
