//go:build !linux

package authv2

import "time"

var start = time.Now()

// threadCPU and processCPU fall back to wall time where the CPU clocks are
// not read (see cputime_linux_internal_test.go).
func threadCPU() time.Duration  { return time.Since(start) }
func processCPU() time.Duration { return time.Since(start) }
