//go:build linux

package sandbox

import "runtime"

// As in cmd/nono: keep the main thread away from sandbox.Start's thread.
func init() { runtime.LockOSThread() }
