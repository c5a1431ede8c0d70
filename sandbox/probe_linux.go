//go:build linux

package sandbox

import (
	"errors"
	"os"
	"strings"

	"golang.org/x/sys/unix"
)

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
