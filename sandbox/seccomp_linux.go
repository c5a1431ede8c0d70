//go:build linux

package sandbox

import (
	"fmt"
	"runtime"
	"unsafe"

	"golang.org/x/net/bpf"
	"golang.org/x/sys/unix"
)

// Offsets into struct seccomp_data.
const (
	offNr   = 0
	offArch = 4
	offArgs = 16 // args[i] is at offArgs + 8*i; the low word comes first on little-endian
)

const (
	x32SyscallBit = 0x40000000
	ipprotoTCP    = 6
	ipprotoMPTCP  = 262
	tiocLinux     = 0x541C
)

func retErrno(errno unix.Errno) bpf.RetConstant {
	return bpf.RetConstant{Val: unix.SECCOMP_RET_ERRNO | uint32(errno)}
}

var (
	retAllow  = bpf.RetConstant{Val: unix.SECCOMP_RET_ALLOW}
	retNotify = bpf.RetConstant{Val: unix.SECCOMP_RET_USER_NOTIF}
	retEPERM  = retErrno(unix.EPERM)
	retKill   = bpf.RetConstant{Val: unix.SECCOMP_RET_KILL_PROCESS}
)

func loadArgLow(i int) bpf.LoadAbsolute {
	return bpf.LoadAbsolute{Off: uint32(offArgs + 8*i), Size: 4}
}

func loadArgHigh(i int) bpf.LoadAbsolute {
	return bpf.LoadAbsolute{Off: uint32(offArgs + 8*i + 4), Size: 4}
}

// syscallRule is one syscall number and the program that decides it. Every
// path through body must end in a return, so rules can be laid out linearly.
type syscallRule struct {
	nr   uintptr
	body []bpf.Instruction
}

// filterProgram lays rules out as: arch guard, x32 guard, then for each rule
// "if nr == N { body }", and finally the default action.
func filterProgram(rules []syscallRule, dflt bpf.Instruction) ([]unix.SockFilter, error) {
	prog := []bpf.Instruction{
		bpf.LoadAbsolute{Off: offArch, Size: 4},
		bpf.JumpIf{Cond: bpf.JumpEqual, Val: auditArch, SkipTrue: 1},
		retKill,
		bpf.LoadAbsolute{Off: offNr, Size: 4},
		bpf.JumpIf{Cond: bpf.JumpBitsSet, Val: x32SyscallBit, SkipFalse: 1},
		retKill,
	}
	for _, r := range rules {
		if len(r.body) > 255 {
			return nil, fmt.Errorf("seccomp rule for syscall %d is too long", r.nr)
		}
		prog = append(prog, bpf.JumpIf{Cond: bpf.JumpEqual, Val: uint32(r.nr), SkipFalse: uint8(len(r.body))})
		prog = append(prog, r.body...)
	}
	prog = append(prog, dflt)
	raw, err := bpf.Assemble(prog)
	if err != nil {
		return nil, fmt.Errorf("assembling seccomp filter: %w", err)
	}
	out := make([]unix.SockFilter, len(raw))
	for i, ins := range raw {
		out[i] = unix.SockFilter{Code: ins.Op, Jt: ins.Jt, Jf: ins.Jf, K: ins.K}
	}
	return out, nil
}

// alwaysDenied are syscalls no agent needs and that break isolation or are
// common kernel attack surface: io_uring bypasses seccomp argument checks,
// the rest matter most when the child runs as root.
var alwaysDenied = []uintptr{
	unix.SYS_IO_URING_SETUP, unix.SYS_IO_URING_ENTER, unix.SYS_IO_URING_REGISTER,
	unix.SYS_KEXEC_LOAD, unix.SYS_KEXEC_FILE_LOAD,
	unix.SYS_INIT_MODULE, unix.SYS_FINIT_MODULE, unix.SYS_DELETE_MODULE,
	unix.SYS_REBOOT, unix.SYS_SWAPON, unix.SYS_SWAPOFF, unix.SYS_ACCT,
	unix.SYS_OPEN_BY_HANDLE_AT, unix.SYS_BPF, unix.SYS_PERF_EVENT_OPEN,
	unix.SYS_USERFAULTFD, unix.SYS_KEYCTL, unix.SYS_ADD_KEY, unix.SYS_REQUEST_KEY,
	unix.SYS_FANOTIFY_INIT, unix.SYS_SETNS,
}

// staticRules builds the always-on filter for spec.
func staticRules(spec *Spec) []syscallRule {
	var rules []syscallRule
	for _, nr := range alwaysDenied {
		rules = append(rules, syscallRule{nr, []bpf.Instruction{retEPERM}})
	}
	rules = append(rules, archRules()...)
	// Terminal injection: TIOCSTI and TIOCLINUX on any fd. The ioctl request
	// is an unsigned int, so comparing the low word alone is exact (a
	// 64-bit compare could be dodged by setting the high bits).
	rules = append(rules, syscallRule{unix.SYS_IOCTL, []bpf.Instruction{
		loadArgLow(1),
		bpf.JumpIf{Cond: bpf.JumpEqual, Val: unix.TIOCSTI, SkipTrue: 2},
		bpf.JumpIf{Cond: bpf.JumpEqual, Val: tiocLinux, SkipTrue: 1},
		retAllow,
		retEPERM,
	}})
	if !spec.AllowUserNamespaces {
		// clone3 passes its flags in memory that BPF cannot read: ENOSYS makes
		// libc fall back to clone, whose flags we can check.
		rules = append(rules,
			syscallRule{unix.SYS_CLONE3, []bpf.Instruction{retErrno(unix.ENOSYS)}},
			syscallRule{unix.SYS_CLONE, []bpf.Instruction{
				loadArgLow(cloneFlagsArg),
				bpf.JumpIf{Cond: bpf.JumpBitsSet, Val: unix.CLONE_NEWUSER, SkipTrue: 1},
				retAllow,
				retEPERM,
			}},
			syscallRule{unix.SYS_UNSHARE, []bpf.Instruction{
				loadArgLow(0),
				bpf.JumpIf{Cond: bpf.JumpBitsSet, Val: unix.CLONE_NEWUSER, SkipTrue: 1},
				retAllow,
				retEPERM,
			}},
		)
	}
	switch spec.Net {
	case NetBlock:
		if len(spec.OpenPorts) == 0 {
			rules = append(rules, syscallRule{unix.SYS_SOCKET, unixOnly()})
			break
		}
		rules = append(rules, syscallRule{unix.SYS_SOCKET, unixOrTCP()})
	case NetProxy:
		rules = append(rules, syscallRule{unix.SYS_SOCKET, unixOrTCP()})
	}
	if spec.Net != NetAllow {
		rules = append(rules, syscallRule{unix.SYS_SOCKETPAIR, unixOnly()})
	}
	return rules
}

// unixOnly allows AF_UNIX as the first argument and nothing else.
func unixOnly() []bpf.Instruction {
	return []bpf.Instruction{
		loadArgLow(0),
		bpf.JumpIf{Cond: bpf.JumpEqual, Val: unix.AF_UNIX, SkipFalse: 1},
		retAllow,
		retEPERM,
	}
}

// unixOrTCP allows AF_UNIX sockets and plain TCP stream sockets; UDP, raw,
// packet, netlink, SCTP and MPTCP (which Landlock's TCP rules do not see)
// are refused.
func unixOrTCP() []bpf.Instruction {
	return []bpf.Instruction{
		loadArgLow(0),
		bpf.JumpIf{Cond: bpf.JumpEqual, Val: unix.AF_UNIX, SkipFalse: 1}, // 1
		retAllow, // 2
		bpf.JumpIf{Cond: bpf.JumpEqual, Val: unix.AF_INET, SkipTrue: 2},  // 3
		bpf.JumpIf{Cond: bpf.JumpEqual, Val: unix.AF_INET6, SkipTrue: 1}, // 4
		retEPERM,      // 5
		loadArgLow(1), // 6
		bpf.ALUOpConstant{Op: bpf.ALUOpAnd, Val: 0xf},
		bpf.JumpIf{Cond: bpf.JumpEqual, Val: unix.SOCK_STREAM, SkipFalse: 4},
		loadArgLow(2),
		bpf.JumpIf{Cond: bpf.JumpEqual, Val: 0, SkipTrue: 1},
		bpf.JumpIf{Cond: bpf.JumpEqual, Val: ipprotoTCP, SkipFalse: 1},
		retAllow,
		retEPERM,
	}
}

// notifyRules sends the address-taking network syscalls to the supervisor.
// sendto with a NULL destination (the common case on connected sockets)
// never leaves the kernel.
func notifyRules() []syscallRule {
	return []syscallRule{
		{unix.SYS_CONNECT, []bpf.Instruction{retNotify}},
		{unix.SYS_BIND, []bpf.Instruction{retNotify}},
		{unix.SYS_SENDMSG, []bpf.Instruction{retNotify}},
		{unix.SYS_SENDMMSG, []bpf.Instruction{retNotify}},
		{unix.SYS_SENDTO, []bpf.Instruction{
			loadArgLow(4),
			bpf.JumpIf{Cond: bpf.JumpEqual, Val: 0, SkipFalse: 3},
			loadArgHigh(4),
			bpf.JumpIf{Cond: bpf.JumpEqual, Val: 0, SkipFalse: 1},
			retAllow,
			retNotify,
		}},
	}
}

const (
	seccompSetModeFilter        = 1
	seccompFlagNewListener      = 1 << 3
	seccompFlagWaitKillableRecv = 1 << 5
)

// installFilter loads a filter on the calling thread only (no TSYNC). The
// caller must hold runtime.LockOSThread and have set no_new_privs.
func installFilter(prog []unix.SockFilter, flags uintptr) (int, error) {
	fprog := unix.SockFprog{Len: uint16(len(prog)), Filter: &prog[0]}
	r, _, errno := unix.RawSyscall(unix.SYS_SECCOMP, seccompSetModeFilter, flags, uintptr(unsafe.Pointer(&fprog)))
	runtime.KeepAlive(prog)
	if errno != 0 {
		return -1, errno
	}
	return int(r), nil
}
