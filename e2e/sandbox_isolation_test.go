package e2e

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

const python = "/usr/bin/python3"

func needPython(t *testing.T) {
	t.Helper()
	if _, err := os.Stat(python); err != nil {
		t.Skip("needs /usr/bin/python3 (apt-get install python3)")
	}
}

// py runs a python snippet inside nono with the given extra flags.
func (e *env) py(flags []string, code string) result {
	args := append([]string{"run", "--allow", e.work}, flags...)
	return e.nono(append(args, "--", python, "-c", code)...)
}

func TestBlockNetTCPToLoopbackFails(t *testing.T) {
	needPython(t)
	e := newEnv(t)
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan struct{}, 1)
	go func() {
		if c, err := ln.Accept(); err == nil {
			accepted <- struct{}{}
			c.Close()
		}
	}()
	port := ln.Addr().(*net.TCPAddr).Port
	r := e.py([]string{"--block-net"}, fmt.Sprintf(`
import socket
try:
    s = socket.create_connection(("127.0.0.1", %d), timeout=3)
    print("CONNECTED")
except OSError as e:
    print("errno", e.errno)
`, port))
	if strings.Contains(r.stdout, "CONNECTED") {
		t.Fatalf("TCP to loopback worked under --block-net: %s", r)
	}
	mustContain(t, r, r.stdout, "errno 1") // EPERM from seccomp
	select {
	case <-accepted:
		t.Fatal("listener accepted a connection")
	default:
	}
	// Positive control: without --block-net the same code connects.
	r = e.py(nil, fmt.Sprintf(`
import socket
socket.create_connection(("127.0.0.1", %d), timeout=3); print("CONNECTED")
`, port))
	mustContain(t, r, r.stdout, "CONNECTED")
}

func TestBlockNetUDPRawICMPAndIoUring(t *testing.T) {
	needPython(t)
	e := newEnv(t)
	udp, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer udp.Close()
	port := udp.LocalAddr().(*net.UDPAddr).Port
	r := e.py([]string{"--block-net"}, fmt.Sprintf(`
import socket, ctypes
def attempt(name, fn):
    try:
        fn(); print(name, "OPEN")
    except OSError as e:
        print(name, "errno", e.errno)
attempt("udp", lambda: socket.socket(socket.AF_INET, socket.SOCK_DGRAM).sendto(b"x", ("127.0.0.1", %d)))
attempt("udp6", lambda: socket.socket(socket.AF_INET6, socket.SOCK_DGRAM))
attempt("raw", lambda: socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP))
attempt("icmp", lambda: socket.socket(socket.AF_INET, socket.SOCK_DGRAM, socket.IPPROTO_ICMP))
attempt("packet", lambda: socket.socket(socket.AF_PACKET, socket.SOCK_RAW))
attempt("netlink", lambda: socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, 0))
libc = ctypes.CDLL(None, use_errno=True)
params = ctypes.create_string_buffer(120)
print("io_uring", libc.syscall(425, 8, params), ctypes.get_errno())
`, port))
	if r.code != 0 {
		t.Fatalf("probe failed: %s", r)
	}
	for _, name := range []string{"udp", "udp6", "raw", "icmp", "packet", "netlink"} {
		if !strings.Contains(r.stdout, name+" errno 1\n") {
			t.Errorf("%s not refused with EPERM:\n%s", name, r.stdout)
		}
	}
	mustContain(t, r, r.stdout, "io_uring -1 1")
	udp.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
	if _, _, err := udp.ReadFrom(make([]byte, 10)); err == nil {
		t.Fatal("UDP datagram arrived")
	}
}

func TestIoUringDeniedEvenWithNetwork(t *testing.T) {
	needPython(t)
	e := newEnv(t)
	r := e.py(nil, `
import ctypes
libc = ctypes.CDLL(None, use_errno=True)
print("io_uring", libc.syscall(425, 8, ctypes.create_string_buffer(120)), ctypes.get_errno())`)
	mustContain(t, r, r.stdout, "io_uring -1 1")
}

func TestHostAbstractSocketUnreachable(t *testing.T) {
	needPython(t)
	e := newEnv(t)
	name := fmt.Sprintf("nono-e2e-%d", time.Now().UnixNano())
	ln, err := net.Listen("unix", "@"+name)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Write([]byte("HOST-SERVICE"))
			c.Close()
		}
	}()
	code := fmt.Sprintf(`
import socket
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
try:
    s.connect("\0%s"); print("GOT", s.recv(100))
except OSError as e:
    print("errno", e.errno)`, name)
	r := e.py(nil, code)
	if strings.Contains(r.stdout, "HOST-SERVICE") {
		t.Fatalf("abstract socket reachable: %s", r)
	}
	mustContain(t, r, r.stdout, "errno 1")
}

func TestTIOCSTIRefused(t *testing.T) {
	needPython(t)
	e := newEnv(t)
	r := e.py(nil, `
import fcntl, termios, os
for req in (termios.TIOCSTI, 0x541C, termios.TIOCSTI | (1 << 32)):
    try:
        fcntl.ioctl(0, req, b"x"); print("ALLOWED")
    except OSError as e:
        print("errno", e.errno)`)
	if strings.Contains(r.stdout, "ALLOWED") || strings.Count(r.stdout, "errno 1") != 3 {
		t.Fatalf("TIOCSTI/TIOCLINUX not refused with EPERM: %s", r)
	}
}

func TestInheritedFDNotPassed(t *testing.T) {
	needPython(t)
	e := newEnv(t)
	secret := e.write("leak.txt", "INHERITED-FD-CONTENT")
	f, err := os.Open(secret)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	cmd := exec.CommandContext(testCtx(t), nonoBin, "run", "--allow", e.work, "--", python, "-c", `
import os
for fd in range(3, 20):
    try:
        print("OPEN", fd, os.read(fd, 100))
    except OSError:
        pass
print("done")`)
	cmd.Dir = e.work
	cmd.Env = baseEnv(e.home)
	cmd.ExtraFiles = []*os.File{f} // fd 3 in nono, without close-on-exec
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	if strings.Contains(string(out), "INHERITED") || strings.Contains(string(out), "OPEN") {
		t.Fatalf("an inherited fd reached the child: %s", out)
	}
}

func TestUserNamespaceCreationDenied(t *testing.T) {
	needPython(t)
	e := newEnv(t)
	r := e.py(nil, `
import ctypes, os
libc = ctypes.CDLL(None, use_errno=True)
print("unshare", libc.unshare(0x10000000), ctypes.get_errno())`)
	mustContain(t, r, r.stdout, "unshare -1 1")
}

func TestExitCodes(t *testing.T) {
	e := newEnv(t)
	cases := []struct {
		args []string
		want int
	}{
		{[]string{"sh", "-c", "exit 0"}, 0},
		{[]string{"sh", "-c", "exit 7"}, 7},
		{[]string{"sh", "-c", "kill -TERM $$"}, 128 + 15},
		{[]string{"sh", "-c", "kill -KILL $$"}, 128 + 9},
		{[]string{"definitely-not-a-command-xyz"}, 127},
	}
	for _, c := range cases {
		r := e.nono(append([]string{"run", "--no-diagnostics", "--allow", e.work, "--"}, c.args...)...)
		if r.code != c.want {
			t.Errorf("%v: want %d, got %s", c.args, c.want, r)
		}
	}
	// Not executable inside the sandbox: the binary is outside every grant.
	tool := filepath.Join(e.root, "tools")
	os.MkdirAll(tool, 0o755)
	os.WriteFile(filepath.Join(tool, "hello"), []byte("#!/bin/sh\necho hi\n"), 0o755)
	r := e.nono("run", "--allow", e.work, "--", filepath.Join(tool, "hello"))
	if r.code != 127 {
		t.Errorf("ungranted binary: want 127, got %s", r)
	}
	r = e.nono("wrap", "--allow", e.work, "--", "sh", "-c", "exit 5")
	if r.code != 5 {
		t.Errorf("wrap exit code: want 5, got %s", r)
	}
}

func TestSignalForwarding(t *testing.T) {
	e := newEnv(t)
	marker := filepath.Join(e.work, "got-term")
	cmd := exec.CommandContext(testCtx(t), nonoBin, "run", "--no-diagnostics", "--allow", e.work, "--", "sh", "-c",
		"trap 'echo term > "+marker+"; exit 3' TERM; echo ready; while :; do sleep 0.05; done")
	cmd.Dir, cmd.Env = e.work, baseEnv(e.home)
	stdout, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 6)
	if _, err := stdout.Read(buf); err != nil {
		t.Fatal(err)
	}
	cmd.Process.Signal(syscall.SIGTERM)
	err := cmd.Wait()
	ee, ok := err.(*exec.ExitError)
	if !ok || ee.ExitCode() != 3 {
		t.Fatalf("want exit 3 from the trap, got %v", err)
	}
	if b, _ := os.ReadFile(marker); !strings.Contains(string(b), "term") {
		t.Fatal("child did not receive SIGTERM")
	}
}

func TestChildDiesWithNono(t *testing.T) {
	e := newEnv(t)
	pidFile := filepath.Join(e.work, "pid")
	cmd := exec.CommandContext(testCtx(t), nonoBin, "run", "--allow", e.work, "--", "sh", "-c", "echo $$ > "+pidFile+"; exec sleep 300")
	cmd.Dir, cmd.Env = e.work, baseEnv(e.home)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var pid int
	for i := 0; i < 200; i++ {
		if b, err := os.ReadFile(pidFile); err == nil && len(b) > 1 {
			fmt.Sscanf(string(b), "%d", &pid)
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if pid == 0 {
		t.Fatal("child never started")
	}
	cmd.Process.Kill()
	cmd.Wait()
	for i := 0; i < 200; i++ {
		if err := syscall.Kill(pid, 0); err != nil {
			return // gone
		}
		if b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid)); strings.Contains(string(b), ") Z ") {
			return // zombie awaiting its new reaper: dead
		}
		time.Sleep(20 * time.Millisecond)
	}
	syscall.Kill(pid, syscall.SIGKILL)
	t.Fatalf("child %d outlived a SIGKILLed nono", pid)
}

func TestDryRunExecutesNothing(t *testing.T) {
	e := newEnv(t)
	marker := filepath.Join(e.work, "ran")
	r := e.nono("run", "--allow", e.work, "--read", "/etc", "--dry-run", "--", "sh", "-c", "touch "+marker)
	if r.code != 0 {
		t.Fatalf("dry-run failed: %s", r)
	}
	if _, err := os.Stat(marker); err == nil {
		t.Fatal("--dry-run executed the command")
	}
	mustContain(t, r, r.stdout, "Capabilities that would be granted:", "[rw] "+e.work, "[r-] /etc", "[net] allowed", "Would execute: sh -c")
}

// TestExecOfUngrantedProgramExplains: a program outside every grant (a
// pyenv shim, a tool in ~/bin) is refused by Landlock at exec with a bare
// EACCES; nono says which grant is missing, in run and wrap alike.
func TestExecOfUngrantedProgramExplains(t *testing.T) {
	e := newEnv(t)
	dir := filepath.Join(e.root, "tools")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	tool := filepath.Join(dir, "tool")
	if err := os.WriteFile(tool, []byte("#!/bin/sh\necho ran\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	want := "nono: cannot execute " + tool + ": permission denied: the sandbox does not grant read access to it; add --read " + dir +
		" (nono why --path " + tool + " explains)"
	for _, mode := range []string{"run", "wrap"} {
		r := e.nono(mode, "--allow", e.work, "--", tool)
		if r.code != 127 || strings.TrimSpace(r.stderr) != want || r.stdout != "" {
			t.Fatalf("%s of an ungranted program: want exit 127 and\n%s\ngot %s", mode, want, r)
		}
		r = e.nono(mode, "--allow", e.work, "--read", dir, "--", tool)
		if r.code != 0 || r.stdout != "ran\n" {
			t.Fatalf("%s with the suggested --read: %s", mode, r)
		}
	}
}

// TestDryRunOfMissingCommand: the seed previews `nono run --allow .
// --dry-run -- my-agent`, a command that need not exist. The preview is
// still printed (exit 0) with a note that a real run would stop with 127,
// which it does, with one clean line.
func TestDryRunOfMissingCommand(t *testing.T) {
	e := newEnv(t)
	for _, mode := range []string{"run", "wrap"} {
		r := e.nono(mode, "--allow", e.work, "--dry-run", "--", "my-agent-not-installed", "--flag")
		if r.code != 0 {
			t.Fatalf("%s --dry-run of a missing command: %s", mode, r)
		}
		mustContain(t, r, r.stdout, "Capabilities that would be granted:", "[rw] "+e.work,
			"Would execute: my-agent-not-installed --flag",
			"Note: cannot execute my-agent-not-installed: command not found on PATH; a real run would stop here with exit 127.")
		r = e.nono(mode, "--allow", e.work, "--", "my-agent-not-installed")
		if r.code != 127 || strings.TrimSpace(r.stderr) != "nono: cannot execute my-agent-not-installed: command not found on PATH" {
			t.Fatalf("%s of a missing command: want exit 127 and one line, got %s", mode, r)
		}
	}
	noexec := filepath.Join(e.work, "noexec")
	if err := os.WriteFile(noexec, []byte("#!/bin/sh\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	r := e.nono("run", "--allow", e.work, "--", noexec)
	if r.code != 127 || strings.TrimSpace(r.stderr) != "nono: cannot execute "+noexec+": permission denied" {
		t.Fatalf("a file without exec permission: want exit 127 and 'permission denied', got %s", r)
	}
}
