//go:build unix

package proxy

import (
	"syscall"
	"time"
)

// processCPU is the user+system CPU time of this process so far. Client,
// gateway and upstream share the process, so its delta per request is the
// whole path's CPU cost, which other load on the machine barely moves.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
