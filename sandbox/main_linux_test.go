//go:build linux

package sandbox

import (
	"os"
	"runtime"
	"testing"

	"golang.org/x/sys/unix"
)

// The main goroutine is pinned to the main thread only until TestMain has
// checked onWorkerThread from there; the tests then run as nono does, with
// no goroutine pinned to the main thread.
func init() { runtime.LockOSThread() }

// fromMainThread is what onWorkerThread did when called on the main thread:
// the thread f ran on, and nono's pid.
var fromMainThread struct{ caller, tid, pid int }

func TestMain(m *testing.M) {
	fromMainThread.caller, fromMainThread.pid = unix.Gettid(), unix.Getpid()
	done := make(chan int, 1)
	onWorkerThread(func() {
		done <- unix.Gettid()
	})
	fromMainThread.tid = <-done
	runtime.UnlockOSThread()
	os.Exit(m.Run())
}

// TestOnWorkerThreadLeavesMainThread: sandbox.Start confines the thread
// that onWorkerThread picks, so it must never be the thread group leader,
// even when the caller runs on it.
func TestOnWorkerThreadLeavesMainThread(t *testing.T) {
	m := fromMainThread
	if m.caller != m.pid {
		t.Fatalf("TestMain did not run on the main thread (tid %d, pid %d)", m.caller, m.pid)
	}
	if m.tid == m.pid {
		t.Fatalf("onWorkerThread ran f on the main thread (tid %d)", m.tid)
	}
	for range 20 {
		done := make(chan int, 1)
		go onWorkerThread(func() { done <- unix.Gettid() })
		if tid := <-done; tid == unix.Getpid() {
			t.Fatalf("onWorkerThread ran f on the main thread (tid %d)", tid)
		}
	}
}
