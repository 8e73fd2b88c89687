//go:build !linux

package bench

import "time"

// threadCPU falls back to the wall clock where the thread's CPU clock is
// not read (see cputime_linux_test.go).
func threadCPU() time.Duration { return time.Duration(time.Now().UnixNano()) }
