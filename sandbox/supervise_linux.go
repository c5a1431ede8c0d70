//go:build linux

package sandbox

import (
	"errors"
	"os"
	"os/signal"
	"syscall"

	"golang.org/x/sys/unix"
)

// forwarded are the signals nono passes on to the child's process group.
var forwarded = []os.Signal{syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP, syscall.SIGQUIT}

// SignalCatch holds the termination signals a supervisor forwards to its
// child, caught from before the child exists.
type SignalCatch struct {
	ch    chan os.Signal
	ready chan struct{}
}

// CatchSignals starts catching SIGINT, SIGTERM, SIGHUP and SIGQUIT in the
// background and returns at once. Registering them costs about 0.7 ms (the
// Go runtime makes a round trip to its signal thread for each one), the
// largest single item in a supervised start, so callers begin it before
// their other set-up work. Start waits until it is complete before it
// forks, so a signal sent the moment the child starts is forwarded rather
// than killing nono; one caught before the fork fails Start with an
// *InterruptedError. Pass the catch to Start, or Stop it.
func CatchSignals() *SignalCatch {
	sc := &SignalCatch{ch: make(chan os.Signal, 8), ready: make(chan struct{})}
	go func() {
		signal.Notify(sc.ch, forwarded...)
		close(sc.ready)
	}()
	return sc
}

// Stop ends the catch; signals get their default action again.
func (sc *SignalCatch) Stop() {
	<-sc.ready
	signal.Stop(sc.ch)
}

// pending waits for the registration, then reports a signal that arrived
// before the child was started, if any.
func (sc *SignalCatch) pending() os.Signal {
	<-sc.ready
	select {
	case s := <-sc.ch:
		return s
	default:
		return nil
	}
}

// Supervise forwards termination signals to the child, keeps job control
// working when the child owns the terminal (ttyFD >= 0), and returns the
// child's exit once it has been reaped. It releases the restricted thread.
func (c *Child) Supervise(ttyFD int) (Exit, error) {
	defer close(c.release)
	pid := c.Cmd.Process.Pid
	sigs := c.sigs
	defer signal.Stop(sigs)
	done := make(chan struct{})
	defer close(done)
	go func() {
		for {
			select {
			case s := <-sigs:
				// The child leads its own process group, so the whole job gets it.
				_ = unix.Kill(-pid, s.(syscall.Signal))
			case <-done:
				return
			}
		}
	}()

	for {
		var ws unix.WaitStatus
		_, err := unix.Wait4(pid, &ws, unix.WUNTRACED, nil)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			return Exit{Code: 1}, err
		}
		switch {
		case ws.Exited():
			reclaimTerminal(ttyFD)
			return Exit{Code: ws.ExitStatus()}, nil
		case ws.Signaled():
			reclaimTerminal(ttyFD)
			return Exit{Code: 128 + int(ws.Signal()), Signal: ws.Signal()}, nil
		case ws.Stopped():
			// Ctrl-Z in the child: hand the terminal back, stop ourselves so
			// the user's shell sees the job stop, and resume the child with us.
			reclaimTerminal(ttyFD)
			_ = unix.Kill(os.Getpid(), unix.SIGSTOP)
			if ttyFD >= 0 {
				giveTerminal(ttyFD, pid)
			}
			_ = unix.Kill(-pid, unix.SIGCONT)
		}
	}
}

// reclaimTerminal makes nono's process group the terminal's foreground again.
func reclaimTerminal(ttyFD int) {
	if ttyFD < 0 {
		return
	}
	giveTerminal(ttyFD, unix.Getpgrp())
}

func giveTerminal(ttyFD, pgrp int) {
	signal.Ignore(syscall.SIGTTOU)
	defer signal.Reset(syscall.SIGTTOU)
	_ = unix.IoctlSetPointerInt(ttyFD, unix.TIOCSPGRP, pgrp)
}
