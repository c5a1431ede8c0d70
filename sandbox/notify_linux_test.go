//go:build linux

package sandbox

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
)

// startSupervised runs name under spec with the notify supervisor serving.
func startSupervised(t *testing.T, spec *Spec, name string, args ...string) (string, int, []Denial) {
	t.Helper()
	out, err := os.CreateTemp(scratch(t), "out-")
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	cmd := exec.Command(name, args...)
	cmd.Stdout, cmd.Stderr = out, out
	c, err := Start(spec, cmd, nil)
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	var denials []Denial
	var mu = make(chan struct{}, 1)
	mu <- struct{}{}
	done := make(chan struct{})
	go func() {
		c.Serve(func(d Denial) { <-mu; denials = append(denials, d); mu <- struct{}{} })
		close(done)
	}()
	ex, err := c.Supervise(-1)
	if err != nil {
		t.Fatal(err)
	}
	c.Stop()
	<-done
	b, _ := os.ReadFile(out.Name())
	return string(b), ex.Code, denials
}

// listen accepts on addr and counts connections.
func listen(t *testing.T, addr string) (*net.TCPListener, *atomic.Int64) {
	t.Helper()
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	var n atomic.Int64
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			n.Add(1)
			c.Close()
		}
	}()
	return ln.(*net.TCPListener), &n
}

func TestProxyModeOnlyGatewayReachable(t *testing.T) {
	if _, err := os.Stat("/usr/bin/python3"); err != nil {
		t.Skip("needs /usr/bin/python3")
	}
	gw, gwHits := listen(t, "127.0.0.1:0")
	port := gw.Addr().(*net.TCPAddr).Port
	_, otherHits := listen(t, fmt.Sprintf("127.0.0.2:%d", port))
	_, v6Hits := listen(t, fmt.Sprintf("[::1]:%d", port))
	spec := &Spec{Grants: systemGrants(t), Net: NetProxy, ProxyPort: uint16(port)}
	out, code, denials := startSupervised(t, spec, "/usr/bin/python3", "-c", fmt.Sprintf(`
import socket
def attempt(name, fam, addr):
    s = socket.socket(fam, socket.SOCK_STREAM)
    try:
        s.connect(addr); print(name, "CONNECTED")
    except OSError as e:
        print(name, "errno", e.errno)
attempt("gateway", socket.AF_INET, ("127.0.0.1", %[1]d))
attempt("other-ip", socket.AF_INET, ("127.0.0.2", %[1]d))
attempt("mapped", socket.AF_INET6, ("::ffff:127.0.0.1", %[1]d))
attempt("v6-loopback", socket.AF_INET6, ("::1", %[1]d))
attempt("other-port", socket.AF_INET, ("127.0.0.1", %[2]d))
try:
    socket.socket(socket.AF_INET, socket.SOCK_DGRAM); print("udp OPEN")
except OSError as e:
    print("udp errno", e.errno)
u = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
try:
    u.connect("\0nono-test-abstract"); print("abstract CONNECTED")
except OSError as e:
    print("abstract errno", e.errno)
`, port, port+1))
	if code != 0 {
		t.Fatalf("exit %d: %s", code, out)
	}
	for _, want := range []string{"gateway CONNECTED", "other-ip errno 13", "mapped errno 13", "v6-loopback errno 13", "other-port errno 13", "udp errno 1", "abstract errno 13"} {
		if !strings.Contains(out, want) {
			t.Errorf("missing %q in:\n%s", want, out)
		}
	}
	if gwHits.Load() != 1 || otherHits.Load() != 0 || v6Hits.Load() != 0 {
		t.Fatalf("hits: gateway=%d other=%d v6=%d", gwHits.Load(), otherHits.Load(), v6Hits.Load())
	}
	if len(denials) < 4 {
		t.Fatalf("denials not reported: %+v", denials)
	}
}

func TestConnectRaceCannotReachForbiddenAddress(t *testing.T) {
	dir := scratch(t)
	racer := filepath.Join(dir, "racer")
	b := exec.Command("go", "build", "-o", racer, "../e2e/helpers/racer")
	b.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := b.CombinedOutput(); err != nil {
		t.Fatalf("building racer: %v\n%s", err, out)
	}
	gw, gwHits := listen(t, "127.0.0.1:0")
	port := gw.Addr().(*net.TCPAddr).Port
	_, forbiddenHits := listen(t, fmt.Sprintf("127.0.0.2:%d", port))
	spec := &Spec{Grants: append(systemGrants(t), Grant{Path: dir, Access: AccessRead}), Net: NetProxy, ProxyPort: uint16(port)}
	out, code, _ := startSupervised(t, spec, racer, fmt.Sprint(port))
	if code != 0 {
		t.Fatalf("racer failed: %s", out)
	}
	t.Logf("racer: %s gateway accepted %d", strings.TrimSpace(out), gwHits.Load())
	if forbiddenHits.Load() != 0 {
		t.Fatalf("the race reached the forbidden address %d times", forbiddenHits.Load())
	}
	if gwHits.Load() == 0 {
		t.Fatal("positive control failed: no connection reached the gateway")
	}
}

func TestUnixSocketGrants(t *testing.T) {
	if _, err := os.Stat("/usr/bin/python3"); err != nil {
		t.Skip("needs /usr/bin/python3")
	}
	dir := scratch(t)
	grantedPath := filepath.Join(dir, "granted.sock")
	otherPath := filepath.Join(dir, "other.sock")
	for _, p := range []string{grantedPath, otherPath} {
		ln, err := net.Listen("unix", p)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { ln.Close() })
		go func() {
			for {
				c, err := ln.Accept()
				if err != nil {
					return
				}
				c.Write([]byte("hello"))
				c.Close()
			}
		}()
	}
	os.Symlink(otherPath, filepath.Join(dir, "link.sock"))
	spec := &Spec{
		Grants:      append(systemGrants(t), Grant{Path: dir, Access: AccessRead}),
		Net:         NetBlock,
		UnixSockets: []UnixSocketGrant{{Path: grantedPath}},
	}
	out, code, _ := startSupervised(t, spec, "/usr/bin/python3", "-c", fmt.Sprintf(`
import socket, os
def attempt(name, path):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        s.connect(path); print(name, s.recv(10))
    except OSError as e:
        print(name, "errno", e.errno)
attempt("granted", %q)
attempt("other", %q)
attempt("link", %q)
os.chdir(%q)
attempt("relative", "granted.sock")
`, grantedPath, otherPath, filepath.Join(dir, "link.sock"), dir))
	if code != 0 {
		t.Fatalf("exit %d: %s", code, out)
	}
	for _, want := range []string{"granted b'hello'", "other errno 13", "link errno 13", "relative b'hello'"} {
		if !strings.Contains(out, want) {
			t.Errorf("missing %q in:\n%s", want, out)
		}
	}
}
