package e2e

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// gw is a proxy-mode test world: a loopback DNS server that maps the
// .nono.test names, and a TLS origin on 127.0.0.2.
type gw struct {
	*env
	dns    *dnsServer
	origin *origin
}

func newGW(t *testing.T) *gw {
	t.Helper()
	e := newEnv(t)
	d := startDNS(t, map[string]string{
		"origin.nono.test":    originIP,
		"other.nono.test":     originIP,
		"bypass.nono.test":    originIP,
		"refused.nono.test":   originIP,
		"rebind.nono.test":    "169.254.169.254",
		"loop.wild.nono.test": "127.0.0.1",
		"ll.wild.nono.test":   "169.254.10.10",
		"ok.wild.nono.test":   originIP,
	})
	o := startOrigin(t, e, "origin.nono.test", "other.nono.test", "bypass.nono.test", "refused.nono.test", "ok.wild.nono.test")
	return &gw{env: e, dns: d, origin: o}
}

// run executes nono in proxy mode with the test DNS server.
func (g *gw) run(args ...string) result {
	return g.nonoEnv([]string{"NONO_DNS_SERVER=" + g.dns.addr}, args...)
}

func (g *gw) proxyArgs(extra ...string) []string {
	return append([]string{"run", "--allow", g.work, "--allow-domain", "origin.nono.test"}, extra...)
}

func TestGatewayCurl(t *testing.T) {
	g := newGW(t)
	r := g.run(append(g.proxyArgs(), "--", "curl", "-sS", "--cacert", g.origin.caFile, g.origin.url("origin.nono.test", "/"))...)
	if r.code != 0 || !strings.Contains(r.stdout, "hello from origin") {
		t.Fatalf("curl through the gateway failed: %s", r)
	}
	r = g.run(append(g.proxyArgs(), "--", "curl", "-sS", "-v", "--cacert", g.origin.caFile, g.origin.url("other.nono.test", "/"))...)
	if r.code == 0 || strings.Contains(r.stdout, "hello") {
		t.Fatalf("curl reached a host that is not allowed: %s", r)
	}
	mustContain(t, r, r.stderr, "403", "proxy_filtered")
	if n := g.dns.count("other.nono.test"); n != 0 {
		t.Fatalf("a denied name was resolved %d times", n)
	}
	// The footer names the refused host and the exact flag that allows it.
	mustContain(t, r, r.stderr, "Gateway refused CONNECT other.nono.test:", "(1 allowed host entry)",
		"To grant additional access, re-run with:\n    --allow-domain other.nono.test\n", "Explain a host with: nono why --host other.nono.test")
}

func TestGatewayPythonRequests(t *testing.T) {
	needPython(t)
	if exec.Command(python, "-c", "import requests").Run() != nil {
		t.Skip("needs python3-requests (apt-get install python3-requests)")
	}
	g := newGW(t)
	code := `
import requests, sys
try:
    r = requests.get(sys.argv[1], verify=sys.argv[2], timeout=10)
    print("STATUS", r.status_code, r.text)
except Exception as e:
    print("ERROR", e)
`
	r := g.run(append(g.proxyArgs(), "--", python, "-c", code, g.origin.url("origin.nono.test", "/"), g.origin.caFile)...)
	mustContain(t, r, r.stdout, "STATUS 200 hello from origin")
	r = g.run(append(g.proxyArgs(), "--", python, "-c", code, g.origin.url("other.nono.test", "/"), g.origin.caFile)...)
	mustContain(t, r, r.stdout, "ERROR", "403")
}

func TestGatewayGoClient(t *testing.T) {
	g := newGW(t)
	bin := helperBin(t, "goclient")
	tools := filepath.Dir(bin)
	r := g.run(append(g.proxyArgs("--read", tools), "--", bin, g.origin.caFile, g.origin.url("origin.nono.test", "/"))...)
	mustContain(t, r, r.stdout, "STATUS 200", "hello from origin")
	r = g.run(append(g.proxyArgs("--read", tools), "--", bin, g.origin.caFile, g.origin.url("other.nono.test", "/"))...)
	mustContain(t, r, r.stdout, "ERROR", "Forbidden")
}

func TestGatewayGitClone(t *testing.T) {
	if _, err := os.Stat("/usr/lib/git-core/git-http-backend"); err != nil {
		t.Skip("needs git")
	}
	g := newGW(t)
	r := g.run(append(g.proxyArgs(), "--", "env", "GIT_SSL_CAINFO="+g.origin.caFile, "git", "clone", "-q", g.origin.url("origin.nono.test", "/repo.git"), "cloned")...)
	if r.code != 0 {
		t.Fatalf("git clone through the gateway failed: %s", r)
	}
	b, err := os.ReadFile(filepath.Join(g.work, "cloned", "README"))
	if err != nil || !strings.Contains(string(b), "cloned through nono") {
		t.Fatalf("clone content missing: %v %q", err, b)
	}
	r = g.run(append(g.proxyArgs(), "--", "env", "GIT_SSL_CAINFO="+g.origin.caFile, "git", "clone", "-q", g.origin.url("other.nono.test", "/repo.git"), "denied")...)
	if r.code == 0 {
		t.Fatalf("git cloned from a host that is not allowed: %s", r)
	}
	mustContain(t, r, r.stderr, "403")
}

func TestGatewayEnvEscapesFailClosed(t *testing.T) {
	g := newGW(t)
	ip := fmt.Sprintf("https://%s:%d/", originIP, g.origin.port)
	for name, script := range map[string]string{
		"noproxy":      "curl -sS -m5 --noproxy '*' --cacert " + g.origin.caFile + " " + ip,
		"unset-proxy":  "env -u HTTPS_PROXY -u https_proxy -u ALL_PROXY -u all_proxy curl -sS -m5 --cacert " + g.origin.caFile + " " + ip,
		"dns-in-child": "curl -sS -m5 --noproxy '*' https://origin.nono.test:1/",
	} {
		t.Run(name, func(t *testing.T) {
			r := g.run(append(g.proxyArgs(), "--", "sh", "-c", script)...)
			if r.code == 0 || strings.Contains(r.stdout, "hello") {
				t.Fatalf("escape worked: %s", r)
			}
		})
	}
	if n := g.origin.hits.Load(); n != 0 {
		t.Fatalf("the origin was reached %d times", n)
	}
}

func TestGatewayRawSocketAttacks(t *testing.T) {
	needPython(t)
	g := newGW(t)
	udp, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer udp.Close()
	code := fmt.Sprintf(`
import os, socket, struct
gw = int(os.environ["HTTPS_PROXY"].rsplit(":", 1)[1])
def attempt(name, fn):
    try:
        fn(); print(name, "OPEN")
    except OSError as e:
        print(name, "errno", e.errno)
def tcp(fam, addr):
    s = socket.socket(fam, socket.SOCK_STREAM); s.settimeout(3); s.connect(addr)
attempt("gateway", lambda: tcp(socket.AF_INET, ("127.0.0.1", gw)))
attempt("other-ip-gw-port", lambda: tcp(socket.AF_INET, ("127.0.0.2", gw)))
attempt("mapped-gw", lambda: tcp(socket.AF_INET6, ("::ffff:127.0.0.1", gw)))
attempt("v6-gw", lambda: tcp(socket.AF_INET6, ("::1", gw)))
attempt("origin-direct", lambda: tcp(socket.AF_INET, (%q, %d)))
attempt("udp", lambda: socket.socket(socket.AF_INET, socket.SOCK_DGRAM).sendto(b"x", ("127.0.0.1", %d)))
q = struct.pack(">HHHHHH", 1, 0x100, 1, 0, 0, 0) + b"\x06origin\x04nono\x04test\x00\x00\x01\x00\x01"
attempt("dns-query", lambda: socket.socket(socket.AF_INET, socket.SOCK_DGRAM).sendto(q, ("127.0.0.1", %d)))
attempt("getaddrinfo", lambda: socket.getaddrinfo("origin.nono.test", 443))
attempt("raw", lambda: socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP))
attempt("mptcp", lambda: socket.socket(socket.AF_INET, socket.SOCK_STREAM, 262))
attempt("abstract", lambda: socket.socket(socket.AF_UNIX, socket.SOCK_STREAM).connect("\0nono-e2e-none"))
`, originIP, g.origin.port, udp.LocalAddr().(*net.UDPAddr).Port, g.dnsPort())
	r := g.run(append(g.proxyArgs(), "--", python, "-c", code)...)
	if r.code != 0 {
		t.Fatalf("probe failed: %s", r)
	}
	for _, want := range []string{"gateway OPEN", "other-ip-gw-port errno 13", "mapped-gw errno 13", "v6-gw errno 13",
		"origin-direct errno 13", "udp errno 1", "dns-query errno 1", "raw errno 1", "mptcp errno 1", "abstract errno 13"} {
		if !strings.Contains(r.stdout, want+"\n") {
			t.Errorf("missing %q:\n%s", want, r.stdout)
		}
	}
	if strings.Contains(r.stdout, "getaddrinfo OPEN") {
		t.Errorf("the child resolved a name itself:\n%s", r.stdout)
	}
	if n := g.dns.count("origin.nono.test"); n != 0 {
		t.Errorf("DNS server saw %d queries from the child", n)
	}
	udp.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
	if _, _, err := udp.ReadFrom(make([]byte, 8)); err == nil {
		t.Error("a UDP datagram got out")
	}
	if g.origin.hits.Load() != 0 {
		t.Error("the origin was reached directly")
	}
}

func TestGatewayRebindingAndMetadata(t *testing.T) {
	g := newGW(t)
	args := []string{"run", "--allow", g.work, "--allow-domain", "*.wild.nono.test", "--allow-domain", "rebind.nono.test", "--"}
	for host, reason := range map[string]string{
		"loop.wild.nono.test":      "address_denied",
		"ll.wild.nono.test":        "denied",
		"rebind.nono.test":         "metadata_denied",
		"169.254.169.254":          "metadata_denied",
		"metadata.google.internal": "metadata_denied",
	} {
		t.Run(host, func(t *testing.T) {
			r := g.run(append(args, "curl", "-sS", "-v", "-m5", "--cacert", g.origin.caFile, fmt.Sprintf("https://%s:%d/", host, g.origin.port))...)
			if r.code == 0 {
				t.Fatalf("reached %s: %s", host, r)
			}
			mustContain(t, r, r.stderr, "403", reason)
		})
	}
	r := g.run(append(args, "curl", "-sS", "--cacert", g.origin.caFile, g.origin.url("ok.wild.nono.test", "/"))...)
	if r.code == 0 {
		t.Fatalf("a wildcard entry reached a loopback origin: %s", r)
	}
}

func TestGatewayConflictsAndBadInput(t *testing.T) {
	e := newEnv(t)
	oneClearError(t, e.nono("run", "--block-net", "--allow-domain", "x.com", "--", "true"), "conflicts with proxy flags")
	oneClearError(t, e.nono("run", "--network-profile", "nope", "--", "true"), "developer")
	oneClearError(t, e.nono("run", "--upstream-proxy", "ftp://x:1", "--", "true"), "upstream")
	oneClearError(t, e.nono("run", "--upstream-proxy", "squid.corp", "--", "true"), "port")
	oneClearError(t, e.nono("run", "--allow-domain", "x.com", "--upstream-bypass", "y.com", "--", "true"), "requires --upstream-proxy")
	oneClearError(t, e.nono("wrap", "--allow-domain", "x.com", "--", "true"), "nono wrap does not support proxy flags")
	oneClearError(t, e.nono("run", "--allow-domain", "*", "--", "true"), "*")
	oneClearError(t, e.nono("run", "--open-port", "70000", "--", "true"), "not a TCP port")
	oneClearError(t, e.nonoEnv([]string{"NONO_NETWORK_PROFILE=bogus"}, "run", "--", "true"), "bogus")
}

func TestOpenPortLoopbackIPC(t *testing.T) {
	needPython(t)
	e := newEnv(t)
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Write([]byte("ipc-ok"))
			c.Close()
		}
	}()
	defer ln.Close()
	code := fmt.Sprintf(`
import socket
s = socket.create_connection(("127.0.0.1", %d), timeout=3); print(s.recv(10))
try:
    socket.create_connection(("127.0.0.1", %d), timeout=3); print("other OPEN")
except OSError as e:
    print("other errno", e.errno)
srv = socket.socket(); srv.bind(("127.0.0.1", %d)); print("bind-open-port ok")
`, port, port+1, port+2)
	r := e.nono("run", "--allow", e.work, "--block-net", "--open-port", fmt.Sprint(port), "--open-port", fmt.Sprint(port+2), "--", python, "-c", code)
	mustContain(t, r, r.stdout, "b'ipc-ok'", "other errno 13", "bind-open-port ok")
}

func (g *gw) dnsPort() int {
	_, p, _ := net.SplitHostPort(g.dns.addr)
	var n int
	fmt.Sscan(p, &n)
	return n
}

func TestGatewayNeedsTokenAndStopsWithChild(t *testing.T) {
	g := newGW(t)
	port := freePort(t)
	ready := filepath.Join(g.work, "ready")
	cmd := exec.CommandContext(testCtx(t), nonoBin, "run", "--allow", g.work, "--allow-domain", "origin.nono.test", "--proxy-port", fmt.Sprint(port), "--",
		"sh", "-c", "touch "+ready+"; sleep 5")
	cmd.Dir, cmd.Env = g.work, append(baseEnv(g.home), "NONO_DNS_SERVER="+g.dns.addr)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	for i := 0; i < 200; i++ {
		if _, err := os.Stat(ready); err == nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	// A process on the host, outside the sandbox, without the token.
	for _, args := range [][]string{
		{"-x", fmt.Sprintf("http://127.0.0.1:%d", port), "--cacert", g.origin.caFile, g.origin.url("origin.nono.test", "/")},
		{"-x", fmt.Sprintf("http://nono:wrong@127.0.0.1:%d", port), "--cacert", g.origin.caFile, g.origin.url("origin.nono.test", "/")},
		{"-x", fmt.Sprintf("http://127.0.0.1:%d", port), fmt.Sprintf("http://origin.nono.test:%d/", g.origin.httpPort)},
	} {
		out, _ := exec.Command("curl", append([]string{"-sS", "-v", "-m", "5"}, args...)...).CombinedOutput()
		if !strings.Contains(string(out), "407") || strings.Contains(string(out), "hello from origin") {
			t.Fatalf("gateway usable without the token (%v):\n%s", args, out)
		}
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("nono: %v", err)
	}
	if c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", port), time.Second); err == nil {
		c.Close()
		t.Fatal("the gateway is still listening after the child exited")
	}
	if g.origin.hits.Load() != 0 {
		t.Fatal("an unauthenticated request reached the origin")
	}
}

func TestGatewayDryRunShowsAllowlist(t *testing.T) {
	e := newEnv(t)
	r := e.nono("run", "--allow", e.work, "--network-profile", "minimal", "--allow-domain", "github", "--dry-run", "--", "true")
	mustContain(t, r, r.stdout, "[net] proxy", "network profile minimal", "api.openai.com", "raw.githubusercontent.com", "Gateway allowlist")
	// Credentials alone: the allowlist is empty, and the preview says the
	// credential's upstream is still reachable, and why. No secret is read.
	r = e.nono("run", "--allow", e.work, "--credential", "openai", "--dry-run", "--", "my-agent")
	mustContain(t, r, r.stdout, "(0 allowed host entries + 1 credential upstream)", "Gateway allowlist (0):",
		"Credential upstreams, reachable without an entry: api.openai.com", "secrets are loaded only when the command runs")
	if r.code != 0 {
		t.Fatalf("credential dry-run: %s", r)
	}
}
