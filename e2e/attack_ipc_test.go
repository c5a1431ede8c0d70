package e2e

// Attack battery, local IPC: pathname and abstract unix sockets in both
// directions (peers §5 items 26-28).

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// atkUnixListener serves a unix socket (pathname, or abstract with a
// leading "@"), counting accepted connections and greeting each with
// greeting. A pathname socket is made connectable by every user, so only
// nono stands between the child and it.
func atkUnixListener(t *testing.T, addr, greeting string) *atomic.Int64 {
	t.Helper()
	ln, err := net.Listen("unix", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	if !strings.HasPrefix(addr, "@") {
		os.Chmod(addr, 0o777)
	}
	hits := new(atomic.Int64)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			hits.Add(1)
			c.Write([]byte(greeting))
			c.Close()
		}
	}()
	return hits
}

// TestAttackPathnameUnixSockets: host services on pathname sockets (the
// D-Bus session bus, docker.sock) in a directory the child may read. In
// --block-net and proxy mode the seccomp notify supervisor refuses the
// connect (EACCES) unless the socket is granted with --allow-unix-socket;
// the listeners must accept nothing. DBUS_SESSION_BUS_ADDRESS pointing at
// the bus changes nothing.
func TestAttackPathnameUnixSockets(t *testing.T) {
	needPython(t)
	e := newEnv(t)
	xdg := filepath.Join(e.root, "xdg")
	run := filepath.Join(e.root, "run")
	for _, d := range []string{xdg, run} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	bus := filepath.Join(xdg, "bus")
	docker := filepath.Join(run, "docker.sock")
	busHits := atkUnixListener(t, bus, "DBUS-HOST")
	dockerHits := atkUnixListener(t, docker, "DOCKER-HOST")
	code := `
import os, socket, sys
def attempt(name, path):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        s.connect(path); print(name, "OPEN", s.recv(20).decode())
    except OSError as e:
        print(name, "errno", e.errno)
attempt("bus", sys.argv[1])
attempt("docker", sys.argv[2])
addr = os.environ.get("DBUS_SESSION_BUS_ADDRESS", "")
attempt("dbus-env", addr.split("unix:path=", 1)[1].split(",")[0])
d = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
try:
    d.sendto(b"x", sys.argv[2]); print("dgram OPEN")
except OSError as e:
    print("dgram errno", e.errno)
`
	dbusEnv := []string{"DBUS_SESSION_BUS_ADDRESS=unix:path=" + bus, "XDG_RUNTIME_DIR=" + xdg}
	grants := []string{"--read", xdg, "--read", run}
	probe := func(mode []string, extra ...string) result {
		args := append([]string{"run", "--no-diagnostics", "--allow", e.work}, grants...)
		args = append(append(args, mode...), extra...)
		return e.nonoEnv(dbusEnv, append(args, "--", python, "-c", code, bus, docker)...)
	}
	modes := map[string][]string{
		"block-net": {"--block-net"},
		"proxy":     {"--allow-domain", "origin.nono.test"},
	}
	for name, mode := range modes {
		t.Run(name, func(t *testing.T) {
			r := probe(mode)
			if r.code != 0 {
				t.Fatalf("probe failed: %s", r)
			}
			for _, want := range []string{"bus errno 13\n", "docker errno 13\n", "dbus-env errno 13\n"} {
				if !strings.Contains(r.stdout, want) {
					t.Errorf("missing %q (a host unix service was reachable):\n%s", want, r.stdout)
				}
			}
			if strings.Contains(r.stdout, "dgram OPEN") || strings.Contains(r.stdout, "-HOST") {
				t.Errorf("a datagram or a greeting crossed:\n%s", r.stdout)
			}
			if n := busHits.Load() + dockerHits.Load(); n != 0 {
				t.Fatalf("the host listeners accepted %d connections", n)
			}
			// Positive control: granting exactly one socket opens exactly that one.
			r = probe(mode, "--allow-unix-socket", docker)
			mustContain(t, r, r.stdout, "docker OPEN DOCKER-HOST", "bus errno 13\n", "dbus-env errno 13\n")
			if n := dockerHits.Swap(0); n != 1 {
				t.Fatalf("granted socket: want 1 accepted connection, got %d", n)
			}
			r = probe(mode, "--allow-unix-socket", bus)
			mustContain(t, r, r.stdout, "bus OPEN DBUS-HOST", "dbus-env OPEN DBUS-HOST", "docker errno 13\n")
			if n := busHits.Swap(0); n != 2 {
				t.Fatalf("granted bus: want 2 accepted connections, got %d", n)
			}
		})
	}
	// Default (network allowed) mode: on Landlock ABI < 9 no layer mediates
	// connect(2) on pathname sockets, and nono installs no notify filter
	// when the network is unrestricted, so host sockets are reachable there.
	// That is the documented residual risk in docs/security.md (use
	// --block-net or proxy mode); it is recorded here, not asserted, so that
	// closing it does not need a test change.
	r := probe(nil)
	t.Logf("default network mode (residual risk, see docs/security.md):\n%s", r.stdout)
}

// TestAttackAbstractSockets covers abstract unix sockets in both
// directions. Child → host: TestHostAbstractSocketUnreachable covers the
// default mode; here --block-net and proxy mode, against a live host
// listener. Host → child: the child binds an abstract name so that an
// outside process could connect in (and pass descriptors with SCM_RIGHTS,
// landlock-lsm/linux#57); restricted modes refuse the bind itself.
func TestAttackAbstractSockets(t *testing.T) {
	needPython(t)
	e := newEnv(t)
	hostName := fmt.Sprintf("nono-atk-host-%d", time.Now().UnixNano())
	hostHits := atkUnixListener(t, "@"+hostName, "HOST-ABSTRACT")
	code := `
import socket, sys
def attempt(name, fn):
    try:
        print(name, "OPEN", fn())
    except OSError as e:
        print(name, "errno", e.errno)
def connect(addr):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM); s.connect(addr); return s.recv(20).decode()
def bind(addr, kind=socket.SOCK_STREAM):
    s = socket.socket(socket.AF_UNIX, kind); s.bind(addr); return repr(s.getsockname())
attempt("connect-host", lambda: connect("\0" + sys.argv[1]))
attempt("bind-abstract", lambda: bind("\0" + sys.argv[1] + "-in"))
attempt("bind-abstract-dgram", lambda: bind("\0" + sys.argv[1] + "-dg", socket.SOCK_DGRAM))
attempt("autobind", lambda: bind(""))
`
	for name, mode := range map[string][]string{
		"block-net": {"--block-net"},
		"proxy":     {"--allow-domain", "origin.nono.test"},
	} {
		t.Run(name, func(t *testing.T) {
			args := append([]string{"run", "--no-diagnostics", "--allow", e.work}, mode...)
			r := e.nono(append(args, "--", python, "-c", code, hostName)...)
			if r.code != 0 {
				t.Fatalf("probe failed: %s", r)
			}
			for _, want := range []string{"connect-host errno 13\n", "bind-abstract errno 13\n", "bind-abstract-dgram errno 13\n", "autobind errno 13\n"} {
				if !strings.Contains(r.stdout, want) {
					t.Errorf("missing %q:\n%s", want, r.stdout)
				}
			}
			if n := hostHits.Load(); n != 0 {
				t.Fatalf("the host abstract listener accepted %d connections", n)
			}
			// Nothing is listening under the name the child tried to bind.
			if c, err := net.Dial("unix", "@"+hostName+"-in"); err == nil {
				c.Close()
				t.Fatal("a host process connected into a sandbox-bound abstract socket")
			}
		})
	}

	// Default (network allowed) mode. Landlock's abstract-socket scope (ABI
	// 6) only stops connecting OUT of the domain: the child can still bind
	// an abstract name, and an outside process that connects to that name
	// reaches the child. This asserts the behaviour found so that a change
	// is noticed: the outside peer has to choose to connect (it is not
	// confined, so nothing escapes by itself), but a child can squat a
	// well-known abstract name (an X11 display, a D-Bus address) before the
	// real service starts. docs/security.md lists it as a residual risk.
	ready := filepath.Join(e.work, "bound")
	inName := fmt.Sprintf("nono-atk-in-%d", time.Now().UnixNano())
	done := make(chan result, 1)
	go func() {
		done <- e.nono("run", "--no-diagnostics", "--allow", e.work, "--", python, "-c", `
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.bind("\0" + sys.argv[1]); s.listen(1)
open(sys.argv[2], "w").write("ok")
c, _ = s.accept(); print("child accepted", c.recv(20).decode())
try:
    socket.socket(socket.AF_UNIX, socket.SOCK_STREAM).connect("\0" + sys.argv[3]); print("connect-host OPEN")
except OSError as e:
    print("connect-host errno", e.errno)
`, inName, ready, hostName)
	}()
	for i := 0; i < 500; i++ {
		if _, err := os.Stat(ready); err == nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	c, err := net.Dial("unix", "@"+inName)
	if err != nil {
		t.Fatalf("default mode: expected the child's abstract socket to be reachable from the host (Landlock scope is one-way): %v", err)
	}
	c.Write([]byte("from-host"))
	c.Close()
	r := <-done
	mustContain(t, r, r.stdout, "child accepted from-host", "connect-host errno 1\n")
	if n := hostHits.Load(); n != 0 {
		t.Fatalf("default mode: the child reached the host abstract listener %d times", n)
	}
}
