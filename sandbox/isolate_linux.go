//go:build linux

package sandbox

import (
	"fmt"

	"golang.org/x/net/bpf"
	"golang.org/x/sys/unix"
)

// The supervised child is forked from a thread of nono that is in the same
// Landlock domain, so Landlock alone would let the child ptrace that thread
// (and with it all of nono's memory and descriptors) and signal it. Three
// measures close that:
//
//  1. nono is made non-dumpable, so ptrace, /proc/<nono>/{mem,environ},
//     process_vm_readv and pidfd_getfd need CAP_SYS_PTRACE;
//  2. the forking thread drops every capability outside keptCaps from its
//     bounding, permitted, effective, inheritable and ambient sets, so a
//     root child has no CAP_SYS_PTRACE (nor the other escape capabilities)
//     even after exec;
//  3. the child's seccomp filter refuses every signal and pidfd aimed at
//     nono's pid or at the forking thread (supervisorRules).

// keptCaps is the capability set a root child keeps: the container
// runtimes' default set, without anything that reaches outside the sandbox
// (ptrace, sys_admin, module loading, raw I/O, mknod, raw sockets, ...).
var keptCaps = []uintptr{
	unix.CAP_CHOWN, unix.CAP_DAC_OVERRIDE, unix.CAP_FOWNER, unix.CAP_FSETID,
	unix.CAP_KILL, unix.CAP_SETGID, unix.CAP_SETUID, unix.CAP_SETPCAP,
	unix.CAP_NET_BIND_SERVICE, unix.CAP_SYS_CHROOT, unix.CAP_AUDIT_WRITE, unix.CAP_SETFCAP,
}

// protectSupervisor makes nono itself non-dumpable (process-wide).
func protectSupervisor() error {
	if err := unix.Prctl(unix.PR_SET_DUMPABLE, 0, 0, 0, 0); err != nil {
		return fmt.Errorf("prctl(PR_SET_DUMPABLE, 0): %w", err)
	}
	return nil
}

// dropCapabilities limits the calling thread (and so the child) to keptCaps.
// A thread without CAP_SETPCAP (any non-root user) has no capabilities to
// drop, and exec under no_new_privs cannot grant new ones.
func dropCapabilities() error {
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	var data [2]unix.CapUserData
	if err := unix.Capget(&hdr, &data[0]); err != nil {
		return fmt.Errorf("capget: %w", err)
	}
	if data[0].Effective == 0 && data[1].Effective == 0 && data[0].Permitted == 0 && data[1].Permitted == 0 {
		return unix.Prctl(unix.PR_CAP_AMBIENT, unix.PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0)
	}
	keep := map[uintptr]bool{}
	for _, c := range keptCaps {
		keep[c] = true
	}
	for c := uintptr(0); c <= unix.CAP_LAST_CAP; c++ {
		if keep[c] {
			continue
		}
		if err := unix.Prctl(unix.PR_CAPBSET_DROP, c, 0, 0, 0); err != nil && err != unix.EINVAL {
			return fmt.Errorf("dropping capability %d from the bounding set: %w", c, err)
		}
	}
	if err := unix.Prctl(unix.PR_CAP_AMBIENT, unix.PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0); err != nil {
		return fmt.Errorf("clearing ambient capabilities: %w", err)
	}
	var mask [2]uint32
	for _, c := range keptCaps {
		mask[c/32] |= 1 << (c % 32)
	}
	for i := range data {
		data[i].Effective &= mask[i]
		data[i].Permitted &= mask[i]
		data[i].Inheritable &= mask[i]
	}
	if err := unix.Capset(&hdr, &data[0]); err != nil {
		return fmt.Errorf("capset: %w", err)
	}
	return nil
}

// supervisorRules refuse signals and pidfds aimed at nono (pid) or at the
// thread the child was forked from (tid). Pids are int: comparing the low
// word is exact.
func supervisorRules(pid, tid int) []syscallRule {
	isUs := func(arg int) []bpf.Instruction {
		return []bpf.Instruction{
			loadArgLow(arg),
			bpf.JumpIf{Cond: bpf.JumpEqual, Val: uint32(pid), SkipTrue: 2},
			bpf.JumpIf{Cond: bpf.JumpEqual, Val: uint32(tid), SkipTrue: 1},
			retAllow,
			retEPERM,
		}
	}
	// tgkill(tgid, tid, sig) and rt_tgsigqueueinfo(tgid, tid, ...): either
	// argument naming us is refused.
	threadOfUs := []bpf.Instruction{
		loadArgLow(0),
		bpf.JumpIf{Cond: bpf.JumpEqual, Val: uint32(pid), SkipTrue: 4},
		loadArgLow(1),
		bpf.JumpIf{Cond: bpf.JumpEqual, Val: uint32(pid), SkipTrue: 2},
		bpf.JumpIf{Cond: bpf.JumpEqual, Val: uint32(tid), SkipTrue: 1},
		retAllow,
		retEPERM,
	}
	return []syscallRule{
		{unix.SYS_KILL, isUs(0)},
		{unix.SYS_TKILL, isUs(0)},
		{unix.SYS_TGKILL, threadOfUs},
		{unix.SYS_RT_SIGQUEUEINFO, isUs(0)},
		{unix.SYS_RT_TGSIGQUEUEINFO, threadOfUs},
		{unix.SYS_PIDFD_OPEN, isUs(0)},
	}
}
