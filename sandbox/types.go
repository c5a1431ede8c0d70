package sandbox

// The platform-neutral part of the package's interface: what a start can
// report and how it can fail. The Linux implementation is in the _linux
// files; elsewhere (unsupported.go) nono refuses to run.

import (
	"fmt"
	"syscall"
)

// SetupError is a failure to confine the child before it ran (exit 126).
type SetupError struct{ Err error }

func (e *SetupError) Error() string { return e.Err.Error() }
func (e *SetupError) Unwrap() error { return e.Err }

// ExecError is a failure to execute the target program (exit 127).
type ExecError struct {
	Path string
	Err  error
}

func (e *ExecError) Error() string {
	return fmt.Sprintf("cannot execute %s: %v", e.Path, e.Err)
}
func (e *ExecError) Unwrap() error { return e.Err }

// Exit is how the child ended.
type Exit struct {
	Code   int            // the shell-style exit code: the child's own, or 128+N for signal N
	Signal syscall.Signal // non-zero when the child died of a signal
}

// InterruptedError: a termination signal arrived while the supervisor was
// setting up, before any child was started, so there was nothing to forward
// it to. Callers exit with 128+N, as if the signal had ended them.
type InterruptedError struct{ Signal syscall.Signal }

func (e *InterruptedError) Error() string {
	return "interrupted by " + e.Signal.String() + " before the command started"
}

// Denial is one network operation the supervisor refused.
type Denial struct {
	Op     string // connect, bind, sendto, sendmsg
	Target string // "127.0.0.2:8080", "/run/docker.sock", "@abstract"
	Reason string
}

// DenialSink receives every refused operation (for audit and the footer).
type DenialSink func(Denial)

// Feature is one kernel capability and whether this kernel has it.
type Feature struct {
	Name      string
	Available bool
	Detail    string
}

// Report describes what this kernel can enforce.
type Report struct {
	Kernel       string
	LandlockABI  int
	Landlock     []Feature
	Seccomp      bool
	SeccompNotif bool
	PidfdGetfd   bool
	WSL          bool
}

// Enforcement is one kind of rule and the layer that enforces it here.
type Enforcement struct {
	Rule     string
	Layer    string
	Enforced bool
}

// Layers says, for this kernel, which layer enforces each kind of rule.
func (r Report) Layers() []Enforcement {
	abi := r.LandlockABI
	notif := r.Seccomp && r.SeccompNotif && r.PidfdGetfd
	pick := func(cond bool, a, b string) string {
		if cond {
			return a
		}
		return b
	}
	return []Enforcement{
		{"filesystem read/write grants", "Landlock", abi >= 1},
		{"cross-directory rename/link (refer)", "Landlock", abi >= 2},
		{"truncate", "Landlock", abi >= 3},
		{"device ioctls (only TTYs allowed)", "Landlock", abi >= 5},
		{"TIOCSTI/TIOCLINUX terminal injection", "seccomp", r.Seccomp},
		{"io_uring", "seccomp", r.Seccomp},
		{"user namespace creation", "seccomp", r.Seccomp},
		{"--block-net (only AF_UNIX sockets)", "seccomp", r.Seccomp},
		{"TCP port rules (--open-port, --listen-port)", pick(abi >= 4, "Landlock", "unavailable (needs Landlock ABI 4)"), abi >= 4},
		{"TCP destination (proxy mode: only the gateway)", "seccomp user notification (connect on the child's behalf)", notif},
		{"UDP, raw, ICMP, MPTCP, netlink sockets", "seccomp", r.Seccomp},
		{"pathname unix sockets (restricted network modes)", pick(abi >= 9, "Landlock", "seccomp user notification"), abi >= 9 || notif},
		{"abstract unix sockets", pick(abi >= 6, "Landlock scope", "unavailable (needs Landlock ABI 6)"), abi >= 6},
		{"signals to processes outside the sandbox", pick(abi >= 6, "Landlock scope", "unavailable (needs Landlock ABI 6)"), abi >= 6},
		{"ptrace of processes outside the sandbox", "Landlock", abi >= 1},
	}
}
