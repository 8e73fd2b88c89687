//go:build linux

package authv2

import (
	"syscall"
	"time"
	"unsafe"
)

// threadCPU is the CPU time of the calling OS thread, processCPU that of
// the process: on a shared machine a benchmark locked to its thread times
// its own work with them, where wall time also counts the time other
// processes held the CPU.
func threadCPU() time.Duration  { return cpuClock(3) } // CLOCK_THREAD_CPUTIME_ID
func processCPU() time.Duration { return cpuClock(2) } // CLOCK_PROCESS_CPUTIME_ID

func cpuClock(id uintptr) time.Duration {
	var ts syscall.Timespec
	if _, _, errno := syscall.Syscall(syscall.SYS_CLOCK_GETTIME, id, uintptr(unsafe.Pointer(&ts)), 0); errno != 0 {
		return 0
	}
	return time.Duration(ts.Nano())
}
