//go:build linux

package sandbox

import (
	"errors"
	"os"
	"strings"

	"golang.org/x/sys/unix"
)

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

// landlockFeatures lists Landlock features by the ABI that introduced them.
var landlockFeatures = []struct {
	abi  int
	name string
}{
	{1, "Basic filesystem access control"},
	{2, "File rename across directories (Refer)"},
	{3, "File truncation (Truncate)"},
	{4, "TCP network filtering (bind/connect ports)"},
	{5, "Device ioctl filtering"},
	{6, "Signal and abstract UNIX socket scoping"},
	{7, "Audit logging of denials"},
	{9, "Pathname UNIX socket connect (ResolveUnix)"},
	{10, "UDP network filtering"},
}

// Probe inspects the running kernel without changing anything.
func Probe() Report {
	r := ProbeEnforcement()
	if _, err := os.Stat("/proc/sys/fs/binfmt_misc/WSLInterop"); err == nil {
		r.WSL = true
	} else if b, err := os.ReadFile("/proc/version"); err == nil {
		v := strings.ToLower(string(b))
		r.WSL = strings.Contains(v, "microsoft") || strings.Contains(v, "wsl")
	}
	return r
}

// ProbeEnforcement is Probe without the WSL detection (Report.WSL stays
// false): what every start needs to decide what it can enforce.
func ProbeEnforcement() Report {
	var r Report
	var u unix.Utsname
	if unix.Uname(&u) == nil {
		r.Kernel = unix.ByteSliceToString(u.Sysname[:]) + " " + unix.ByteSliceToString(u.Release[:])
	}
	r.LandlockABI = ABI()
	for _, f := range landlockFeatures {
		r.Landlock = append(r.Landlock, Feature{Name: f.name, Available: r.LandlockABI >= f.abi})
	}
	if _, err := unix.PrctlRetInt(unix.PR_GET_SECCOMP, 0, 0, 0, 0); err == nil {
		r.Seccomp = true
	}
	if b, err := os.ReadFile("/proc/sys/kernel/seccomp/actions_avail"); err == nil {
		r.SeccompNotif = strings.Contains(string(b), "user_notif")
	}
	// pidfd_getfd on an invalid pidfd: EBADF means the syscall exists.
	_, err := unix.PidfdGetfd(-1, 0, 0)
	r.PidfdGetfd = errors.Is(err, unix.EBADF)
	return r
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
