package e2e

// Attack battery, the supervisor: the child turning on the unsandboxed
// nono process that started it (signals, ptrace, /proc/<pid>/...), and the
// seccomp architecture guard (peers §5 items 31 and 33).

import (
	"strings"
	"testing"
)

// atkSupervisorMarker is put into nono's own environment under a name nono
// strips from the child's, so the child can only learn it by reaching
// into nono.
const atkSupervisorMarker = "ops_ATKMARKER_7f3a9c2e5b1d"

// TestAttackSignalsAndPtraceOfSupervisor: the child finds nono (its parent)
// and tries to stop, kill or trace it: kill -TERM/-STOP from the shell,
// os.kill, ptrace attach and seize, and the same against every thread of
// nono listed under /proc/<nono>/task (kill(2) on a thread id signals the
// whole process; ptrace on a thread reaches the shared address space).
// pidfd_getfd on nono or one of its threads must not hand the child any of
// nono's descriptors (the seccomp notify listener among them: holding it,
// the child could answer its own connect notifications with CONTINUE).
// Everything must fail with EPERM, and nono must survive and exit normally.
// Probing threads uses signal 0 and PTRACE_SEIZE (which does not stop the
// tracee) so that a hole shows up as a failure, not as a hung test.
func TestAttackSignalsAndPtraceOfSupervisor(t *testing.T) {
	needPython(t)
	e := newEnv(t)
	code := `
import ctypes, os, signal
pp = os.getppid()
libc = ctypes.CDLL(None, use_errno=True)
libc.ptrace.restype = ctypes.c_long
libc.ptrace.argtypes = [ctypes.c_long, ctypes.c_long, ctypes.c_void_p, ctypes.c_void_p]
print("parent", open("/proc/%d/comm" % pp).read().strip())
def sig(name, target, s):
    try:
        os.kill(target, s); print(name, "OPEN", flush=True)
        if s == signal.SIGSTOP:
            os.kill(target, signal.SIGCONT)  # a hole must fail the test, not hang it
    except OSError as e:
        print(name, "errno", e.errno)
def trace(name, req, target):
    r = libc.ptrace(req, target, None, None)
    if r == 0:
        print(name, "OPEN")
        libc.ptrace(17, target, None, None)  # PTRACE_DETACH (the tracer's exit detaches anyway)
    else:
        print(name, "errno", ctypes.get_errno())
sig("os.kill-TERM", pp, signal.SIGTERM)
sig("os.kill-STOP", pp, signal.SIGSTOP)
sig("os.kill-KILL", pp, signal.SIGKILL)
sig("os.kill-0", pp, 0)
trace("ptrace-attach", 16, pp)
trace("ptrace-seize", 0x4206, pp)
try:
    fd = os.pidfd_open(pp)
    try:
        signal.pidfd_send_signal(fd, signal.SIGTERM); print("pidfd_send_signal OPEN")
    except OSError as e:
        print("pidfd_send_signal errno", e.errno)
except OSError as e:
    print("pidfd_open errno", e.errno)
libc.syscall.restype = ctypes.c_long
def getfd(name, target, flags):
    # pidfd_open + pidfd_getfd: take a copy of one of nono's descriptors (the
    # seccomp listener, the gateway socket) into the sandbox.
    pfd = libc.syscall(434, target, flags)
    if pfd < 0:
        print(name, "errno", ctypes.get_errno())
        return
    got = []
    for n in range(3, 64):
        fd = libc.syscall(438, pfd, n, 0)
        if fd >= 0:
            got.append("%d=%s" % (n, os.readlink("/proc/self/fd/%d" % fd)))
    print(name, "OPEN " + ",".join(got) if got else "errno 1")
getfd("pidfd_getfd", pp, 0)
for tid in sorted(int(t) for t in os.listdir("/proc/%d/task" % pp)):
    sig("thread-kill-0", tid, 0)
    trace("thread-seize", 0x4206, tid)
    getfd("thread-pidfd_getfd", tid, os.O_EXCL)  # PIDFD_THREAD
print("child done")
`
	for name, mode := range map[string][]string{"default": nil, "block-net": {"--block-net"}, "proxy": {"--allow-domain", "origin.nono.test"}} {
		t.Run(name, func(t *testing.T) {
			args := append([]string{"run", "--no-diagnostics", "--allow", e.work}, mode...)
			// The shell tries first, then python.
			r := e.nono(append(args, "--", "sh", "-c",
				`kill -TERM $PPID 2>/dev/null && echo "sh-kill-TERM OPEN"; kill -STOP $PPID 2>/dev/null && { echo "sh-kill-STOP OPEN"; kill -CONT $PPID; }; exec `+python+` -c "$0"`, code)...)
			if r.code != 0 {
				t.Fatalf("nono did not survive and exit normally: %s", r)
			}
			mustContain(t, r, r.stdout, "parent nono\n", "child done\n",
				"os.kill-TERM errno 1\n", "os.kill-STOP errno 1\n", "os.kill-KILL errno 1\n",
				"ptrace-attach errno 1\n", "ptrace-seize errno 1\n", "thread-kill-0 errno 1\n", "thread-seize errno 1\n", "thread-pidfd_getfd errno 1\n")
			for _, line := range strings.Split(r.stdout, "\n") {
				if strings.Contains(line, " OPEN") {
					t.Errorf("the child reached nono: %q\n"+
						"(the thread of nono that forked the child shares the child's Landlock domain, so it accepts signals, ptrace and "+
						"pidfd_getfd from the child; that thread shares nono's address space and descriptor table, including the "+
						"seccomp notify listener)", line)
				}
			}
		})
	}
}

// TestAttackProcOfSupervisor: the child reads nono through /proc while nono
// holds a secret in its environment that it does not pass on
// (OP_SERVICE_ACCOUNT_TOKEN is always stripped): environ, mem, the fd
// entries, root/ and cwd/ traversal, for the process and for each of its
// threads. The memory of every thread whose mem file opens is scanned for
// the marker. cmdline and stat stay readable (ordinary /proc semantics; nono
// never puts secrets on its command line); listing /proc/<nono>/fd shows
// numbers only and is not asserted.
func TestAttackProcOfSupervisor(t *testing.T) {
	needPython(t)
	e := newEnv(t)
	code := `
import os, re, sys
pp = os.getppid()
marker = sys.argv[1][::-1].encode()  # passed reversed: nono's own cmdline holds the child's argv
assert os.environ.get("OP_SERVICE_ACCOUNT_TOKEN") is None
def attempt(name, fn):
    try:
        data = fn()
        print(name, "OPEN", "MARKER-LEAKED" if marker in data else "")
    except OSError as e:
        print(name, "errno", e.errno)
def read(p):
    with open(p, "rb") as f:
        return f.read()
def scan_mem(base):
    found = b""
    with open(base + "/maps") as m, open(base + "/mem", "rb", 0) as mem:
        budget = 256 << 20
        for line in m:
            f = line.split()
            lo, hi = (int(x, 16) for x in f[0].split("-"))
            if "r" not in f[1] or hi - lo > budget or (len(f) > 5 and f[5] in ("[vvar]", "[vsyscall]", "[vvar_vclock]")):
                continue
            budget -= hi - lo
            try:
                mem.seek(lo)
                if marker in mem.read(hi - lo):
                    found = marker
            except OSError:
                pass
    return found
base = "/proc/%d" % pp
attempt("environ", lambda: read(base + "/environ"))
attempt("mem", lambda: scan_mem(base))
attempt("root", lambda: "\n".join(os.listdir(base + "/root/")).encode())
attempt("cwd", lambda: "\n".join(os.listdir(base + "/cwd/")).encode())
attempt("fd-open", lambda: read(base + "/fd/0"))
attempt("fd-readlink", lambda: os.readlink(base + "/fd/0").encode())
attempt("fdinfo", lambda: read(base + "/fdinfo/0"))
for tid in sorted(os.listdir(base + "/task"), key=int):
    tb = base + "/task/" + tid
    attempt("thread-environ", lambda: read(tb + "/environ"))
    attempt("thread-mem", lambda: scan_mem(tb))
    attempt("thread-root", lambda: "\n".join(os.listdir(tb + "/root/")).encode())
try:
    print("cmdline", "MARKER-LEAKED" if marker in read(base + "/cmdline") else "clean")
except OSError as e:
    print("cmdline errno", e.errno)
print("child done")
`
	for name, mode := range map[string][]string{"default": nil, "proxy": {"--allow-domain", "origin.nono.test"}} {
		t.Run(name, func(t *testing.T) {
			args := append([]string{"run", "--no-diagnostics", "--allow", e.work}, mode...)
			r := e.nonoEnv([]string{"OP_SERVICE_ACCOUNT_TOKEN=" + atkSupervisorMarker},
				append(args, "--", python, "-c", code, atkReverse(atkSupervisorMarker))...)
			if r.code != 0 {
				t.Fatalf("probe failed: %s", r)
			}
			mustContain(t, r, r.stdout, "child done\n")
			for _, want := range []string{"environ errno 13\n", "mem errno 13\n", "root errno 13\n", "cwd errno 13\n",
				"fd-open errno 13\n", "fd-readlink errno 13\n", "thread-environ errno 13\n", "thread-mem errno 13\n"} {
				if !strings.Contains(r.stdout, want) {
					t.Errorf("missing %q", want)
				}
			}
			if strings.Contains(r.stdout, "MARKER-LEAKED") {
				t.Errorf("the child read the secret held in nono's environment through /proc:\n%s", r.stdout)
			}
			for _, line := range strings.Split(r.stdout, "\n") {
				if strings.Contains(line, " OPEN") {
					t.Errorf("the child opened nono's /proc entry: %q", line)
				}
			}
		})
	}
}

func atkReverse(s string) string {
	b := []byte(s)
	for i, j := 0, len(b)-1; i < j; i, j = i+1, j-1 {
		b[i], b[j] = b[j], b[i]
	}
	return string(b)
}

// TestAttackX32ABI: a syscall number with the x32 bit (0x40000000) set
// would bypass a filter that compares plain x86-64 numbers. nono's arch
// guard kills the child with SIGSYS (exit 159) before the call runs; the
// same holds in --block-net and under nono wrap (direct mode).
func TestAttackX32ABI(t *testing.T) {
	needPython(t)
	e := newEnv(t)
	code := `
import ctypes, os
libc = ctypes.CDLL(None, use_errno=True)
libc.syscall.restype = ctypes.c_long
print("native getpid", libc.syscall(39) == os.getpid(), flush=True)
r = libc.syscall(0x40000000 | 39)
print("x32 getpid RETURNED", r, ctypes.get_errno(), flush=True)
`
	for name, args := range map[string][]string{
		"run":       {"run", "--no-diagnostics", "--allow", e.work},
		"block-net": {"run", "--no-diagnostics", "--allow", e.work, "--block-net"},
		"wrap":      {"wrap", "--allow", e.work},
	} {
		t.Run(name, func(t *testing.T) {
			r := e.nono(append(args, "--", python, "-c", code)...)
			mustContain(t, r, r.stdout, "native getpid True") // positive control
			if strings.Contains(r.stdout, "RETURNED") {
				t.Fatalf("an x32 syscall ran or returned instead of killing the child: %s", r)
			}
			if r.code != 128+31 {
				t.Fatalf("want SIGSYS (exit 159), got %s", r)
			}
		})
	}
}
