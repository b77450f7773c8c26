package testenv

import (
	"syscall"
	"time"
)

// CPUTime is the CPU time (user and system) this process has used so far.
// Benchmarks report its growth per operation beside wall time: on a machine
// shared with other work, wall time measures the neighbours too.
func CPUTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
