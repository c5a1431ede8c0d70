//go:build linux

package sandbox

import (
	"errors"
	"fmt"
	"math"
	"os"
	"os/exec"
	"runtime"
	"syscall"

	ll "github.com/landlock-lsm/go-landlock/landlock/syscall"
	"golang.org/x/sys/unix"
)

// needsNotify reports whether the network syscalls must go to the supervisor.
// Every restricted mode needs it: Landlock's TCP rules cannot check the
// destination address, and this kernel cannot mediate pathname unix sockets.
func needsNotify(spec *Spec) bool {
	return spec.Net != NetAllow
}

// plan is everything prepared on an unrestricted thread, so the restricted
// thread only has to apply it.
type plan struct {
	rulesetFD  int
	llFlags    uint32
	static     []unix.SockFilter
	notify     []unix.SockFilter
	notifyFlag uintptr
}

func (p *plan) close() {
	if p.rulesetFD >= 0 {
		unix.Close(p.rulesetFD)
		p.rulesetFD = -1
	}
}

// prepare builds the Landlock ruleset and the notify filter. The static
// filter is built by the caller (buildStatic), because the supervised start
// only knows the forking thread's id once it runs on that thread.
func prepare(spec *Spec, withNotify bool) (*plan, error) {
	abi := ABI()
	fd, flags, _, err := buildRuleset(spec, abi)
	if err != nil {
		return nil, err
	}
	p := &plan{rulesetFD: fd, llFlags: flags}
	if withNotify && needsNotify(spec) {
		if p.notify, err = filterProgram(notifyRules(), retAllow); err != nil {
			p.close()
			return nil, err
		}
		p.notifyFlag = seccompFlagNewListener | seccompFlagWaitKillableRecv
	}
	return p, nil
}

// buildStatic assembles the always-on filter for spec plus extra rules.
func (p *plan) buildStatic(spec *Spec, extra []syscallRule) error {
	prog, err := filterProgram(append(staticRules(spec), extra...), retAllow)
	if err != nil {
		return err
	}
	p.static = prog
	return nil
}

// restrictThread confines the calling OS thread. The caller holds
// runtime.LockOSThread and never unlocks it afterwards. It returns the
// seccomp listener fd, or -1.
func (p *plan) restrictThread() (int, error) {
	if err := unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); err != nil {
		return -1, fmt.Errorf("prctl(PR_SET_NO_NEW_PRIVS): %w", err)
	}
	if err := ll.LandlockRestrictSelf(p.rulesetFD, p.llFlags); err != nil {
		return -1, fmt.Errorf("landlock_restrict_self: %w", err)
	}
	if _, err := installFilter(p.static, 0); err != nil {
		return -1, fmt.Errorf("installing the seccomp filter: %w", err)
	}
	if p.notify == nil {
		return -1, nil
	}
	fd, err := installFilter(p.notify, p.notifyFlag)
	if err != nil {
		return -1, fmt.Errorf("installing the seccomp notify filter: %w", err)
	}
	return fd, nil
}

// markInheritedCloexec makes sure no descriptor nono itself inherited
// leaks into the child: only the explicit stdio survive exec.
func markInheritedCloexec() error {
	if err := unix.CloseRange(3, math.MaxUint32, unix.CLOSE_RANGE_CLOEXEC); err != nil {
		return fmt.Errorf("close_range(CLOEXEC): %w", err)
	}
	return nil
}

// Child is a confined child process started by Start.
type Child struct {
	Cmd *exec.Cmd
	// Listener is the seccomp user-notification fd, or nil when the spec
	// needs no network mediation.
	Listener *os.File
	release  chan struct{}
	spec     *Spec
	stopR    *os.File // Serve polls this; closing stopW stops it
	stopW    *os.File
	sigs     chan os.Signal // termination signals to forward, caught from before fork
}

// Start confines and starts cmd. A dedicated goroutine locks its OS thread,
// restricts only that thread (no_new_privs, Landlock, seccomp), and
// fork/execs cmd from it, so the child inherits the domain while the rest of
// nono stays unrestricted. The thread stays parked until Wait has reaped the
// child (the parent-death signal is tied to it), then dies with the
// goroutine because it is never unlocked.
//
// cmd.Stdin, Stdout and Stderr must already be *os.File (or nil, which is
// replaced by /dev/null opened here, before any restriction).
func Start(spec *Spec, cmd *exec.Cmd, sc *SignalCatch) (child *Child, err error) {
	if sc == nil {
		sc = CatchSignals()
	}
	defer func() {
		if err != nil {
			sc.Stop()
		}
	}()
	if err := markInheritedCloexec(); err != nil {
		return nil, &SetupError{err}
	}
	if err := fillStdio(cmd); err != nil {
		return nil, &SetupError{err}
	}
	p, err := prepare(spec, true)
	if err != nil {
		return nil, &SetupError{err}
	}
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	cmd.SysProcAttr.Pdeathsig = syscall.SIGKILL

	type result struct {
		listener int
		err      error
	}
	res := make(chan result, 1)
	release := make(chan struct{})
	// Termination signals are caught from before the child exists, so one
	// sent the moment it starts is forwarded rather than killing nono.
	if s := sc.pending(); s != nil {
		p.close()
		return nil, &InterruptedError{Signal: s.(syscall.Signal)}
	}
	if err := protectSupervisor(); err != nil {
		return nil, &SetupError{err}
	}
	confine := func() {
		runtime.LockOSThread() // never unlocked: the thread is tainted
		defer p.close()
		pid, tid := unix.Getpid(), unix.Gettid()
		if tid == pid {
			// Restricting the thread group leader would put nono's own pid in
			// the child's domain. onWorkerThread rules this out.
			res <- result{-1, &SetupError{errors.New("internal: the sandbox thread must not be nono's main thread")}}
			return
		}
		if err := p.buildStatic(spec, supervisorRules(pid, tid)); err != nil {
			res <- result{-1, &SetupError{err}}
			return
		}
		if err := dropCapabilities(); err != nil {
			res <- result{-1, &SetupError{err}}
			return
		}
		lfd, err := p.restrictThread()
		if err != nil {
			res <- result{-1, &SetupError{err}}
			return
		}
		if err := cmd.Start(); err != nil {
			if lfd >= 0 {
				unix.Close(lfd)
			}
			res <- result{-1, &ExecError{Path: cmd.Path, Err: unwrapExec(err)}}
			return
		}
		res <- result{lfd, nil}
		<-release
	}
	go onWorkerThread(confine)
	r := <-res
	if r.err != nil {
		return nil, r.err
	}
	c := &Child{Cmd: cmd, release: release, spec: spec, sigs: sc.ch}
	if r.listener >= 0 {
		c.Listener = os.NewFile(uintptr(r.listener), "seccomp-notify")
		if c.stopR, c.stopW, err = os.Pipe(); err != nil {
			return nil, &SetupError{fmt.Errorf("creating the supervisor pipe: %w", err)}
		}
	}
	return c, nil
}

func unwrapExec(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

func fillStdio(cmd *exec.Cmd) error {
	open := func() (*os.File, error) { return os.OpenFile(os.DevNull, os.O_RDWR, 0) }
	if cmd.Stdin == nil {
		f, err := open()
		if err != nil {
			return err
		}
		cmd.Stdin = f
	}
	if cmd.Stdout == nil {
		f, err := open()
		if err != nil {
			return err
		}
		cmd.Stdout = f
	}
	if cmd.Stderr == nil {
		f, err := open()
		if err != nil {
			return err
		}
		cmd.Stderr = f
	}
	for _, s := range []any{cmd.Stdin, cmd.Stdout, cmd.Stderr} {
		if _, ok := s.(*os.File); !ok {
			return errors.New("sandbox.Start: child stdio must be *os.File so nothing is opened on the restricted thread")
		}
	}
	return nil
}

// Exec confines nono itself and replaces it with argv (direct mode, wrap).
// execve keeps only the calling thread, so restricting that one thread is
// exactly what the new program inherits. It returns only on failure.
func Exec(spec *Spec, path string, argv, env []string) error {
	if err := markInheritedCloexec(); err != nil {
		return &SetupError{err}
	}
	p, err := prepare(spec, false)
	if err != nil {
		return &SetupError{err}
	}
	if err := p.buildStatic(spec, nil); err != nil {
		p.close()
		return &SetupError{err}
	}
	runtime.LockOSThread() // never unlocked on the success path: exec replaces us
	if _, err := p.restrictThread(); err != nil {
		p.close()
		return &SetupError{err}
	}
	p.close()
	err = unix.Exec(path, argv, env)
	return &ExecError{Path: path, Err: err}
}

// onWorkerThread runs f on a goroutine that is locked to an OS thread other
// than the main thread (the thread group leader). If the calling goroutine
// was scheduled on the main thread, it keeps that thread locked until f's
// goroutine has locked its own, so the scheduler cannot hand f the main
// thread, and then lets it go.
func onWorkerThread(f func()) {
	runtime.LockOSThread()
	if unix.Gettid() != unix.Getpid() {
		f() // f locks again; its thread stays locked for good
		return
	}
	locked := make(chan struct{})
	go func() {
		runtime.LockOSThread()
		close(locked)
		f()
	}()
	<-locked
	runtime.UnlockOSThread()
}
