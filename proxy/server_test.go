package proxy

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// hostAttack is one malicious or tricky target, tried on both paths.
type hostAttack struct {
	name   string
	host   string // as written in the CONNECT authority / URL host (no port)
	status int
	reason string
}

func hostAttacks() []hostAttack {
	return []hostAttack{
		{"deny/trailing-dot", "secret.corp.test.", 403, ReasonHostDenied},
		{"deny/mixed-case", "SeCrEt.CORP.test", 403, ReasonHostDenied},
		{"deny/punycode-of-unicode-entry", "xn--bcher-kva.corp.test", 403, ReasonHostDenied},
		{"deny/uppercase-punycode", "XN--BCHER-KVA.corp.test.", 403, ReasonHostDenied},
		{"not-allowed/lookalike-suffix", "evilallowed.test", 403, ReasonFiltered},
		{"not-allowed/allowed-as-prefix", "allowed.test.evil.test", 403, ReasonFiltered},
		{"not-allowed/wildcard-apex", "wild.test", 403, ReasonFiltered},
		{"loopback/decimal-not-allowed", "2130706433", 403, ReasonFiltered},
		{"loopback/hex-not-allowed", "0x7f.1", 403, ReasonFiltered},
		{"loopback/octal-not-allowed", "0177.0.0.1", 403, ReasonFiltered},
		{"loopback/short-not-allowed", "127.1", 403, ReasonFiltered},
		{"metadata/dotted", "169.254.169.254", 403, ReasonMetadata},
		{"metadata/decimal", "2852039166", 403, ReasonMetadata},
		{"metadata/hex", "0xa9fea9fe", 403, ReasonMetadata},
		{"metadata/octal", "0251.0376.0251.0376", 403, ReasonMetadata},
		{"metadata/short", "169.254.43518", 403, ReasonMetadata},
		{"metadata/v4-mapped-v6", "[::ffff:169.254.169.254]", 403, ReasonMetadata},
		{"metadata/aws-v6", "[fd00:ec2::254]", 403, ReasonMetadata},
		{"metadata/gcp-name", "metadata.google.internal", 403, ReasonMetadata},
		{"metadata/gcp-name-dot-case", "METADATA.google.internal.", 403, ReasonMetadata},
		{"metadata/azure-name", "metadata.azure.internal", 403, ReasonMetadata},
		{"metadata/alibaba", "100.100.100.200", 403, ReasonMetadata},
		{"rebind/wildcard-to-loopback", "a.wild.test", 403, ReasonAddress},
		{"rebind/wildcard-to-metadata", "b.wild.test", 403, ReasonMetadata},
		{"rebind/wildcard-mixed-linklocal", "c.wild.test", 403, ReasonAddress},
		{"rebind/wildcard-to-rfc1918", "d.wild.test", 403, ReasonAddress},
		{"rebind/wildcard-to-mapped-metadata", "e.wild.test", 403, ReasonMetadata},
		{"rebind/wildcard-to-nat64-metadata", "f.wild.test", 403, ReasonMetadata},
		{"rebind/wildcard-to-alibaba", "g.wild.test", 403, ReasonMetadata},
		{"rebind/wildcard-to-aws-v6", "h.wild.test", 403, ReasonMetadata},
		{"invalid/zone-id", "[fe80::1%25eth0]", 400, ReasonInvalidHost},
		{"invalid/ends-in-bad-number", "1.2.3.256", 400, ReasonInvalidHost},
		{"invalid/underscore", "a_b.wild.test", 400, ReasonInvalidHost},
		{"invalid/bad-punycode", "xn--zz.wild.test", 400, ReasonInvalidHost},
		{"dns/nxdomain", "nx.wild.test", 502, ReasonDNSFailed},
	}
}

func checkDenied(t *testing.T, g *testGW, resp *http.Response, body string, a hostAttack) {
	t.Helper()
	if resp.StatusCode != a.status {
		t.Fatalf("status %d (%s), want %d", resp.StatusCode, strings.TrimSpace(body), a.status)
	}
	if a.reason != "" && resp.Header.Get("X-Nono-Reason") != a.reason {
		t.Fatalf("X-Nono-Reason %q (%s), want %q", resp.Header.Get("X-Nono-Reason"), strings.TrimSpace(body), a.reason)
	}
	if strings.Count(body, "\n") > 1 || strings.ContainsAny(body, "\r\x00\x1b") {
		t.Fatalf("reason body is not one clean line: %q", body)
	}
}

func TestAttackHostsConnect(t *testing.T) {
	g := startGateway(t, nil)
	for _, a := range hostAttacks() {
		t.Run(a.name, func(t *testing.T) {
			resp, body := g.roundTrip(t, connectReq(a.host+":443", true))
			checkDenied(t, g, resp, body, a)
		})
	}
	assertDeniedNamesNotResolved(t, g)
}

func TestAttackHostsForward(t *testing.T) {
	g := startGateway(t, nil)
	for _, a := range hostAttacks() {
		t.Run(a.name, func(t *testing.T) {
			resp, body := g.roundTrip(t, getReq("http://"+a.host+"/x", true))
			checkDenied(t, g, resp, body, a)
		})
	}
	assertDeniedNamesNotResolved(t, g)
}

func assertDeniedNamesNotResolved(t *testing.T, g *testGW) {
	t.Helper()
	for _, n := range []string{"secret.corp.test", "xn--bcher-kva.corp.test", "evilallowed.test", "allowed.test.evil.test", "wild.test", "metadata.google.internal", "metadata.azure.internal"} {
		if c := g.res.count(n); c != 0 {
			t.Errorf("denied name %s reached the resolver %d times", n, c)
		}
	}
}

// Canonicalised literals must be what the policy and the audit log see.
func TestIPv4FormsAreCanonicalInAudit(t *testing.T) {
	g := startGateway(t, nil)
	for _, h := range []string{"2130706433", "0x7f.1", "0177.0.0.1", "127.1"} {
		resp, _ := g.roundTrip(t, connectReq(h+":9", true))
		if resp.StatusCode != 403 {
			t.Fatalf("%s: status %d", h, resp.StatusCode)
		}
		e := g.audit.next(t, func(e Event) bool { return e.Mode == ModeConnect && e.Port == 9 })
		if e.Host != "127.0.0.1" || e.Reason != ReasonFiltered || e.Decision != DecisionDeny {
			t.Fatalf("%s: audit %+v", h, e)
		}
	}
}

func TestControlCharactersInTarget(t *testing.T) {
	g := startGateway(t, nil)
	for _, raw := range []string{
		"CONNECT allowed.test\x00.evil:443 HTTP/1.1\r\nProxy-Authorization: " + basicAuth("n", testToken) + "\r\n\r\n",
		"CONNECT allowed.test\x1b:443 HTTP/1.1\r\nProxy-Authorization: " + basicAuth("n", testToken) + "\r\n\r\n",
		"CONNECT allowed.test\u200b:443 HTTP/1.1\r\nProxy-Authorization: " + basicAuth("n", testToken) + "\r\n\r\n",
		"CONNECT allowed.test\ufeff:443 HTTP/1.1\r\nProxy-Authorization: " + basicAuth("n", testToken) + "\r\n\r\n",
		"CONNECT allowed.test\r:443 HTTP/1.1\r\nProxy-Authorization: " + basicAuth("n", testToken) + "\r\n\r\n",
		"GET http://allowed.test\x00.evil/ HTTP/1.1\r\nProxy-Authorization: " + basicAuth("n", testToken) + "\r\n\r\n",
		"GET http://allowed.test\u200b/ HTTP/1.1\r\nProxy-Authorization: " + basicAuth("n", testToken) + "\r\n\r\n",
	} {
		resp, body := g.roundTrip(t, raw)
		if resp.StatusCode != 400 && resp.StatusCode != 403 {
			t.Errorf("%q: status %d", raw[:30], resp.StatusCode)
		}
		if strings.ContainsAny(body, "\x00\x1b\r\u200b\ufeff") {
			t.Errorf("%q: response echoes control characters: %q", raw[:30], body)
		}
	}
	if n := g.res.total(); n != 0 {
		t.Fatalf("resolver called %d times for control-character hosts", n)
	}
}

// Unicode hosts: net/http refuses a non-ASCII Host header (400); without
// one, the CONNECT authority reaches the policy and must hit the deny list.
func TestUnicodeSeparatorsHitTheDenyList(t *testing.T) {
	g := startGateway(t, nil)
	auth := "Proxy-Authorization: " + basicAuth("n", testToken) + "\r\n"
	for _, h := range []string{"secret\u3002corp.test", "secret\uff0ecorp\uff61test", "bücher.corp.test", "BÜCHER.corp.test", "secret\u3002corp\u3002test\u3002"} {
		resp, body := g.roundTrip(t, "CONNECT "+h+":443 HTTP/1.1\r\n"+auth+"\r\n")
		if resp.StatusCode != 403 || resp.Header.Get("X-Nono-Reason") != ReasonHostDenied {
			t.Errorf("CONNECT %q: %d %s", h, resp.StatusCode, body)
		}
		resp, _ = g.roundTrip(t, connectReq(h+":443", true))
		if resp.StatusCode != 400 {
			t.Errorf("CONNECT %q with Host header: %d", h, resp.StatusCode)
		}
		resp, body = g.roundTrip(t, "GET http://"+h+"/ HTTP/1.1\r\n"+auth+"\r\n")
		if resp.StatusCode != 403 && resp.StatusCode != 400 {
			t.Errorf("GET http://%s/: %d %s", h, resp.StatusCode, body)
		}
	}
	if g.res.total() != 0 {
		t.Fatal("denied Unicode names were resolved")
	}
}

func TestConnectTunnelRelaysAndAudits(t *testing.T) {
	g := startGateway(t, nil)
	port := startOrigin(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		fmt.Fprintf(w, "origin saw %s %s body=%s", r.Method, r.RequestURI, b)
	}))
	target := "ALLOWED.test.:" + strconv.Itoa(int(port))
	c := g.dial(t)
	br := bufio.NewReader(c)
	resp, _ := sendRaw(t, c, br, connectReq(target, true))
	if resp.StatusCode != 200 {
		t.Fatalf("CONNECT status %d", resp.StatusCode)
	}
	resp, body := sendRaw(t, c, br, "POST /p HTTP/1.1\r\nHost: allowed.test\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello")
	if resp.StatusCode != 200 || body != "origin saw POST /p body=hello" {
		t.Fatalf("through tunnel: %d %q", resp.StatusCode, body)
	}
	c.Close()
	e := g.audit.next(t, func(e Event) bool { return e.Mode == ModeConnect && e.Decision == DecisionAllow })
	if e.Host != "allowed.test" || e.Port != port || e.Status != 200 || e.Reason != ReasonAllowed || e.BytesUp <= 0 || e.BytesDown <= 0 || e.Duration <= 0 {
		t.Fatalf("tunnel audit event: %+v", e)
	}
	if g.res.count("allowed.test") != 1 {
		t.Fatalf("allowed.test resolved %d times", g.res.count("allowed.test"))
	}
}

func TestConnectEarlyClientBytes(t *testing.T) {
	g := startGateway(t, nil)
	port := startOrigin(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "early-ok") }))
	c := g.dial(t)
	br := bufio.NewReader(c)
	// CONNECT and the first tunnelled request in one write.
	raw := connectReq("allowed.test:"+strconv.Itoa(int(port)), true) + "GET / HTTP/1.1\r\nHost: allowed.test\r\n\r\n"
	resp, _ := sendRaw(t, c, br, raw)
	if resp.StatusCode != 200 {
		t.Fatalf("CONNECT %d", resp.StatusCode)
	}
	r2, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(r2.Body)
	if string(b) != "early-ok" {
		t.Fatalf("early bytes lost: %q", b)
	}
}

// The tunnel is opaque TCP: an absolute-form request for a denied host sent
// inside it goes to the allowed origin, not to the gateway's policy, and
// the gateway does not resolve or contact the denied host.
func TestAbsoluteFormInsideTunnelGoesToOrigin(t *testing.T) {
	g := startGateway(t, nil)
	var mu sync.Mutex
	var seen []string
	port := startOrigin(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		seen = append(seen, r.RequestURI+" host="+r.Host)
		mu.Unlock()
		io.WriteString(w, "origin-answered")
	}))
	c := g.dial(t)
	br := bufio.NewReader(c)
	if resp, _ := sendRaw(t, c, br, connectReq("allowed.test:"+strconv.Itoa(int(port)), true)); resp.StatusCode != 200 {
		t.Fatalf("CONNECT %d", resp.StatusCode)
	}
	resp, body := sendRaw(t, c, br, getReq("http://secret.corp.test/steal", true))
	if resp.StatusCode != 200 || body != "origin-answered" || resp.Header.Get("X-Nono-Reason") != "" {
		t.Fatalf("inner request: %d %q", resp.StatusCode, body)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(seen) != 1 || seen[0] != "http://secret.corp.test/steal host=secret.corp.test" {
		t.Fatalf("origin saw %v", seen)
	}
	if g.res.count("secret.corp.test") != 0 {
		t.Fatal("gateway resolved the host named inside the tunnel")
	}
}

func TestConnectHalfClose(t *testing.T) {
	g := startGateway(t, nil)
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		b, _ := io.ReadAll(c) // until the client's half-close arrives
		fmt.Fprintf(c, "got %d bytes after EOF", len(b))
	}()
	c := g.dial(t)
	br := bufio.NewReader(c)
	if resp, _ := sendRaw(t, c, br, connectReq("allowed.test:"+strconv.Itoa(ln.Addr().(*net.TCPAddr).Port), true)); resp.StatusCode != 200 {
		t.Fatalf("CONNECT %d", resp.StatusCode)
	}
	io.WriteString(c, "0123456789")
	c.(*net.TCPConn).CloseWrite()
	b, err := io.ReadAll(br)
	if err != nil || string(b) != "got 10 bytes after EOF" {
		t.Fatalf("half-close relay: %q %v", b, err)
	}
	e := g.audit.next(t, func(e Event) bool { return e.Mode == ModeConnect && e.Decision == DecisionAllow })
	if e.BytesUp != 10 || e.BytesDown != int64(len("got 10 bytes after EOF")) {
		t.Fatalf("byte counts: %+v", e)
	}
}

func TestTunnelIdleTimeoutClosesTunnel(t *testing.T) {
	g := startGateway(t, func(_ *PolicyConfig, c *Config) { c.TunnelIdleTimeout = 150 * time.Millisecond })
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	originClosed := make(chan struct{})
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		io.Copy(io.Discard, c) // returns when the gateway closes the tunnel
		c.Close()
		close(originClosed)
	}()
	c := g.dial(t)
	br := bufio.NewReader(c)
	if resp, _ := sendRaw(t, c, br, connectReq("allowed.test:"+strconv.Itoa(ln.Addr().(*net.TCPAddr).Port), true)); resp.StatusCode != 200 {
		t.Fatalf("CONNECT %d", resp.StatusCode)
	}
	// Send nothing: the idle timeout must close both sides.
	if _, err := br.ReadByte(); err == nil {
		t.Fatal("idle tunnel delivered data")
	}
	<-originClosed
	g.audit.next(t, func(e Event) bool { return e.Mode == ModeConnect && e.Decision == DecisionAllow })
}

func TestTunnelStaysOpenWhileOneDirectionIsActive(t *testing.T) {
	g := startGateway(t, func(_ *PolicyConfig, c *Config) { c.TunnelIdleTimeout = time.Second })
	const ticks = 15
	_, br := tunnelThrough(t, g, func(c net.Conn) {
		// Trickle download: one byte every 100 ms, far below the idle limit
		// per gap but longer than it in total, while the client sends nothing.
		for i := 0; i < ticks; i++ {
			if _, err := c.Write([]byte{'x'}); err != nil {
				return
			}
			time.Sleep(100 * time.Millisecond)
		}
	})
	b, _ := io.ReadAll(br)
	if len(b) != ticks {
		t.Fatalf("active tunnel was cut: got %d of %d bytes", len(b), ticks)
	}
}

func TestProxyAuth(t *testing.T) {
	g := startGateway(t, nil)
	port := startOrigin(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") }))
	target := "allowed.test:" + strconv.Itoa(int(port))
	enc := func(s string) string { return "Basic " + basicB64(s) }
	cases := []struct {
		name   string
		header []string
		ok     bool
	}{
		{"missing", nil, false},
		{"wrong token", []string{"Proxy-Authorization: " + basicAuth("nono", []byte(strings.Repeat("x", 64)))}, false},
		{"token prefix", []string{"Proxy-Authorization: " + basicAuth("nono", testToken[:63])}, false},
		{"token plus suffix", []string{"Proxy-Authorization: " + basicAuth("nono", append(append([]byte{}, testToken...), 'x'))}, false},
		{"basic without colon", []string{"Proxy-Authorization: " + enc(string(testToken))}, false},
		{"basic token as user", []string{"Proxy-Authorization: " + enc(string(testToken)+":")}, false},
		{"bad base64", []string{"Proxy-Authorization: Basic !!!"}, false},
		{"token in Authorization", []string{"Authorization: Bearer " + string(testToken)}, false},
		{"raw token no scheme", []string{"Proxy-Authorization: " + string(testToken)}, false},
		{"digest scheme", []string{"Proxy-Authorization: Digest " + string(testToken)}, false},
		{"two headers", []string{"Proxy-Authorization: Bearer " + string(testToken), "Proxy-Authorization: Bearer " + string(testToken)}, false},
		{"basic nono", []string{"Proxy-Authorization: " + basicAuth("nono", testToken)}, true},
		{"basic any user", []string{"Proxy-Authorization: " + basicAuth("whoever", testToken)}, true},
		{"basic empty user", []string{"Proxy-Authorization: " + basicAuth("", testToken)}, true},
		{"lowercase scheme", []string{"proxy-authorization: basic " + basicB64("nono:"+string(testToken))}, true},
		{"bearer", []string{"Proxy-Authorization: Bearer " + string(testToken)}, true},
		{"bearer upper", []string{"Proxy-Authorization: BEARER " + string(testToken)}, true},
	}
	for _, c := range cases {
		for _, path := range []string{"connect", "forward"} {
			t.Run(path+"/"+c.name, func(t *testing.T) {
				var raw string
				if path == "connect" {
					raw = "CONNECT " + target + " HTTP/1.1\r\nHost: " + target + "\r\n"
				} else {
					raw = "GET http://" + target + "/ HTTP/1.1\r\nHost: " + target + "\r\n"
				}
				for _, h := range c.header {
					raw += h + "\r\n"
				}
				resp, body := g.roundTrip(t, raw+"\r\n")
				if c.ok {
					if resp.StatusCode != 200 {
						t.Fatalf("status %d %s", resp.StatusCode, body)
					}
					return
				}
				if resp.StatusCode != 407 || resp.Header.Get("Proxy-Authenticate") != `Basic realm="nono"` || resp.Header.Get("X-Nono-Reason") != ReasonAuth {
					t.Fatalf("status %d, headers %v", resp.StatusCode, resp.Header)
				}
				if strings.Contains(body, string(testToken)) {
					t.Fatal("407 body leaks the token")
				}
			})
		}
	}
	// A rejected CONNECT must not be resolved or dialled.
	if g.res.count("allowed.test") != 12 {
		t.Fatalf("allowed.test resolved %d times; want once per authorised request (12)", g.res.count("allowed.test"))
	}
	for _, e := range g.audit.all() {
		if strings.Contains(fmt.Sprintf("%+v", e), string(testToken)) {
			t.Fatalf("audit event leaks the token: %+v", e)
		}
	}
}

func basicB64(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }

func TestRetryAfter407OnSameConnection(t *testing.T) {
	g := startGateway(t, nil)
	port := startOrigin(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") }))
	target := "allowed.test:" + strconv.Itoa(int(port))
	c := g.dial(t)
	br := bufio.NewReader(c)
	if resp, _ := sendRaw(t, c, br, connectReq(target, false)); resp.StatusCode != 407 {
		t.Fatalf("first CONNECT %d", resp.StatusCode)
	}
	if resp, _ := sendRaw(t, c, br, connectReq(target, true)); resp.StatusCode != 200 {
		t.Fatalf("retried CONNECT %d", resp.StatusCode)
	}
}

func TestForwardStripsProxyHeadersAndPinsHost(t *testing.T) {
	g := startGateway(t, nil)
	type seenReq struct {
		host, uri string
		hdr       http.Header
		body      string
	}
	seen := make(chan seenReq, 1)
	port := startOrigin(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		seen <- seenReq{r.Host, r.RequestURI, r.Header.Clone(), string(b)}
		w.Header().Set("Proxy-Authenticate", "Basic realm=origin")
		io.WriteString(w, "fwd-ok")
	}))
	url := "http://ALLOWED.test.:" + strconv.Itoa(int(port)) + "/a%2Fb/c?q=1"
	raw := "POST " + url + " HTTP/1.1\r\nHost: evil.test\r\n" +
		"Proxy-Authorization: " + basicAuth("nono", testToken) + "\r\n" +
		"Proxy-Connection: keep-alive\r\nProxy-Foo: bar\r\nConnection: X-Secret\r\nX-Secret: drop-me\r\n" +
		"Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n"
	resp, body := g.roundTrip(t, raw)
	if resp.StatusCode != 200 || body != "fwd-ok" {
		t.Fatalf("forward: %d %q", resp.StatusCode, body)
	}
	if resp.Header.Get("Proxy-Authenticate") != "" {
		t.Fatal("origin's Proxy-Authenticate reached the client")
	}
	s := <-seen
	wantHost := "allowed.test:" + strconv.Itoa(int(port))
	if s.host != wantHost || s.uri != "/a%2Fb/c?q=1" || s.body != "hello world" {
		t.Fatalf("origin saw host=%q uri=%q body=%q", s.host, s.uri, s.body)
	}
	for _, h := range []string{"Proxy-Authorization", "Proxy-Connection", "Proxy-Foo", "X-Secret", "X-Forwarded-For"} {
		if v := s.hdr.Get(h); v != "" {
			t.Errorf("origin received %s: %q", h, v)
		}
	}
	e := g.audit.next(t, func(e Event) bool { return e.Mode == ModeForward && e.Decision == DecisionAllow })
	if e.Host != "allowed.test" || e.Method != "POST" || e.Path != "/a/b/c" || e.Status != 200 || e.BytesUp != 11 || e.BytesDown != 6 {
		t.Fatalf("forward audit: %+v", e)
	}
}

// Each request on a keep-alive connection is checked on its own; a request
// hidden behind CL/TE framing tricks is parsed as a separate request and
// never reaches the origin as part of the first.
func TestForwardSmugglingAttempts(t *testing.T) {
	g := startGateway(t, nil)
	var mu sync.Mutex
	var seen []string
	port := startOrigin(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		if r.URL.Path == "/fold" {
			if v := r.Header.Get("X-A"); v != "a b" {
				t.Errorf("folded header reached the origin as %q", v)
			}
			io.WriteString(w, "ok")
			return
		}
		mu.Lock()
		seen = append(seen, r.Method+" "+r.RequestURI+" "+string(b))
		mu.Unlock()
		io.WriteString(w, "ok")
	}))
	auth := "Proxy-Authorization: " + basicAuth("n", testToken) + "\r\n"
	base := "http://allowed.test:" + strconv.Itoa(int(port))

	resp, _ := g.roundTrip(t, "POST "+base+"/ HTTP/1.1\r\nHost: x\r\n"+auth+"Content-Length: 5\r\nContent-Length: 6\r\n\r\nhello!")
	if resp.StatusCode != 400 {
		t.Errorf("duplicate differing Content-Length: %d", resp.StatusCode)
	}
	resp, _ = g.roundTrip(t, "POST "+base+"/ HTTP/1.1\r\nHost: x\r\n"+auth+"Content-Length : 5\r\n\r\nhello")
	if resp.StatusCode != 400 {
		t.Errorf("space before colon: %d", resp.StatusCode)
	}
	resp, _ = g.roundTrip(t, "GET "+base+"/ HTTP/1.1\r\nHost: x\r\n"+auth+"X-A: a\rGET http://secret.corp.test/ HTTP/1.1\r\n\r\n")
	if resp.StatusCode != 400 {
		t.Errorf("bare CR in a header value: %d", resp.StatusCode)
	}
	// obs-fold is unfolded by net/http and the request is re-serialised,
	// so the origin sees one header line, never a continuation.
	resp, _ = g.roundTrip(t, "GET "+base+"/fold HTTP/1.1\r\nHost: x\r\n"+auth+"X-A: a\r\n b\r\n\r\n")
	if resp.StatusCode != 400 && resp.StatusCode != 200 {
		t.Errorf("obs-fold: %d", resp.StatusCode)
	}

	c := g.dial(t)
	br := bufio.NewReader(c)
	hidden := "GET http://secret.corp.test/ HTTP/1.1\r\nHost: secret.corp.test\r\n" + auth + "\r\n"
	smuggle := "POST " + base + "/first HTTP/1.1\r\nHost: x\r\n" + auth +
		"Content-Length: 40\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n" + hidden
	r1, _ := sendRaw(t, c, br, smuggle)
	if r1.StatusCode != 200 {
		t.Fatalf("first request: %d", r1.StatusCode)
	}
	r2, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	if r2.StatusCode != 403 || r2.Header.Get("X-Nono-Reason") != ReasonHostDenied {
		t.Fatalf("hidden request: %d %s", r2.StatusCode, r2.Header.Get("X-Nono-Reason"))
	}
	mu.Lock()
	defer mu.Unlock()
	if len(seen) != 1 || seen[0] != "POST /first abc" {
		t.Fatalf("origin saw %q", seen)
	}
}

func TestForwardDialsOnlyCheckedAddresses(t *testing.T) {
	g := startGateway(t, nil)
	port := startOrigin(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") }))
	for i := 0; i < 3; i++ {
		resp, _ := g.roundTrip(t, getReq("http://allowed.test:"+strconv.Itoa(int(port))+"/", true))
		if resp.StatusCode != 200 {
			t.Fatalf("status %d", resp.StatusCode)
		}
	}
	// One policy resolution per request, none by the transport.
	if n := g.res.count("allowed.test"); n != 3 {
		t.Fatalf("allowed.test resolved %d times, want 3", n)
	}
	// The transport refuses to dial without a policy decision.
	if _, err := g.dialChecked(context.Background(), "tcp", "allowed.test:80"); err == nil {
		t.Fatal("dialChecked dialled without checked addresses")
	}
	ctx := context.WithValue(context.Background(), forwardKey, &forwardTarget{authority: "allowed.test:80", addrs: nil})
	if _, err := g.dialChecked(ctx, "tcp", "allowed.test:80"); err == nil {
		t.Fatal("dialChecked dialled with an empty address list")
	}
}

func TestForwardHTTPSAbsoluteIs400(t *testing.T) {
	g := startGateway(t, nil)
	resp, body := g.roundTrip(t, "GET https://allowed.test/ HTTP/1.1\r\nHost: allowed.test\r\nProxy-Authorization: "+basicAuth("n", testToken)+"\r\n\r\n")
	if resp.StatusCode != 400 || !strings.Contains(body, "CONNECT") || strings.Count(body, "\n") != 1 {
		t.Fatalf("https absolute-form: %d %q", resp.StatusCode, body)
	}
	if g.res.total() != 0 {
		t.Fatal("https absolute-form was resolved")
	}
}

func TestForwardRejectsUserinfoAndOddTargets(t *testing.T) {
	g := startGateway(t, nil)
	auth := "Proxy-Authorization: " + basicAuth("n", testToken) + "\r\n"
	for _, raw := range []string{
		"GET http://user@allowed.test/ HTTP/1.1\r\nHost: allowed.test\r\n" + auth + "\r\n",
		"GET http://secret.corp.test@allowed.test/ HTTP/1.1\r\nHost: allowed.test\r\n" + auth + "\r\n",
		"GET ftp://allowed.test/ HTTP/1.1\r\nHost: allowed.test\r\n" + auth + "\r\n",
		"OPTIONS * HTTP/1.1\r\nHost: allowed.test\r\n" + auth + "\r\n",
		"GET http:allowed.test HTTP/1.1\r\nHost: allowed.test\r\n" + auth + "\r\n",
		"GET http://allowed.test:/ HTTP/1.1\r\nHost: allowed.test\r\n" + auth + "\r\n",
	} {
		resp, body := g.roundTrip(t, raw)
		if resp.StatusCode != 400 {
			t.Errorf("%q: %d %s", firstLine(raw), resp.StatusCode, body)
		}
	}
	if g.res.total() != 0 {
		t.Fatalf("odd targets were resolved %d times", g.res.total())
	}
}

func TestOriginForm(t *testing.T) {
	g := startGateway(t, nil)
	resp, body := g.roundTrip(t, "GET /openai/v1/models HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
	if resp.StatusCode != 404 || resp.Header.Get("X-Nono-Reason") != ReasonNoRoute || strings.Count(body, "\n") != 1 {
		t.Fatalf("origin-form without reverse: %d %q", resp.StatusCode, body)
	}
	var got http.Header
	g2 := startGateway(t, func(_ *PolicyConfig, c *Config) {
		c.Reverse = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			got = r.Header.Clone()
			io.WriteString(w, "reverse:"+r.URL.Path)
		})
	})
	resp, body = g2.roundTrip(t, "GET /openai/v1/models HTTP/1.1\r\nHost: 127.0.0.1\r\nProxy-Authorization: "+basicAuth("n", testToken)+"\r\nAuthorization: Bearer phantom\r\n\r\n")
	if resp.StatusCode != 200 || body != "reverse:/openai/v1/models" {
		t.Fatalf("reverse: %d %q", resp.StatusCode, body)
	}
	if got.Get("Proxy-Authorization") != "" || got.Get("Authorization") != "Bearer phantom" {
		t.Fatalf("reverse handler headers: %v", got)
	}
}

func TestMalformedConnect(t *testing.T) {
	g := startGateway(t, nil)
	auth := "Proxy-Authorization: " + basicAuth("n", testToken) + "\r\n"
	for _, line := range []string{
		"CONNECT allowed.test HTTP/1.1",
		"CONNECT allowed.test: HTTP/1.1",
		"CONNECT :443 HTTP/1.1",
		"CONNECT allowed.test:0 HTTP/1.1",
		"CONNECT allowed.test:65536 HTTP/1.1",
		"CONNECT allowed.test:-1 HTTP/1.1",
		"CONNECT allowed.test:0x1bb HTTP/1.1",
		"CONNECT /allowed.test:443 HTTP/1.1",
		"CONNECT http://allowed.test:443 HTTP/1.1",
		"CONNECT user@allowed.test:443 HTTP/1.1",
		"CONNECT ::1:443 HTTP/1.1",
		"CONNECT [::1:443 HTTP/1.1",
		"CONNECT allowed.test:443 allowed.test:443 HTTP/1.1",
		"CONNECT allowed.test:443 HTTP/9.9",
		"CONNECT allowed.test:443",
		"CONNECT  HTTP/1.1",
		"CONNECT allowed.test:443:443 HTTP/1.1",
	} {
		resp, body := g.roundTrip(t, line+"\r\nHost: x\r\n"+auth+"\r\n")
		if resp.StatusCode != 400 && resp.StatusCode != 505 && resp.StatusCode != 403 {
			t.Errorf("%q: %d %s", line, resp.StatusCode, body)
		}
		if resp.StatusCode == 200 {
			t.Errorf("%q: tunnel opened", line)
		}
	}
	// A CONNECT with a body is refused.
	resp, _ := g.roundTrip(t, "CONNECT allowed.test:443 HTTP/1.1\r\nHost: x\r\n"+auth+"Content-Length: 3\r\n\r\nabc")
	if resp.StatusCode != 400 {
		t.Errorf("CONNECT with body: %d", resp.StatusCode)
	}
	if n := g.res.total(); n != 0 {
		t.Fatalf("malformed CONNECTs were resolved %d times", n)
	}
}

func TestOversizedHeaders431(t *testing.T) {
	g := startGateway(t, func(_ *PolicyConfig, c *Config) { c.MaxHeaderBytes = 16 << 10 })
	big := "X-Big: " + strings.Repeat("a", 64<<10) + "\r\n"
	for _, first := range []string{"CONNECT allowed.test:443 HTTP/1.1", "GET http://allowed.test/ HTTP/1.1"} {
		resp, _ := g.roundTrip(t, first+"\r\nHost: allowed.test\r\n"+big+"\r\n")
		if resp.StatusCode != http.StatusRequestHeaderFieldsTooLarge {
			t.Errorf("%s: %d", first, resp.StatusCode)
		}
	}
	// A head with no newline at all, larger than the limit.
	c := g.dial(t)
	io.WriteString(c, "GET http://allowed.test/"+strings.Repeat("a", 128<<10))
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil || resp.StatusCode != http.StatusRequestHeaderFieldsTooLarge {
		t.Errorf("no-newline head: %v %v", resp, err)
	}
	if g.res.total() != 0 {
		t.Fatal("oversized request was resolved")
	}
}

func TestSlowlorisSlotFreedByHeaderTimeout(t *testing.T) {
	g := startGateway(t, func(_ *PolicyConfig, c *Config) {
		c.HeaderTimeout = 100 * time.Millisecond
		c.MaxConns = 1
	})
	c := g.dial(t)
	io.WriteString(c, "CONNECT allowed.test:443 HTTP/1.1\r\nHost: allo")
	// Never finish the head: the gateway must close the connection.
	if _, err := io.ReadAll(c); err != nil && !isClosed(err) {
		t.Fatalf("slowloris read: %v", err)
	}
	// The only slot is free again: a new client gets a real answer (407).
	waitForAnswer(t, g, connectReq("allowed.test:443", false), 407)
}

// waitForAnswer retries until the gateway answers with want (a slot is
// released asynchronously after a close); the test timeout bounds it.
func waitForAnswer(t *testing.T, g *testGW, raw string, want int) {
	t.Helper()
	for {
		resp, _ := g.roundTrip(t, raw)
		if resp.StatusCode == want {
			return
		}
		if resp.StatusCode != http.StatusServiceUnavailable {
			t.Fatalf("status %d, want %d", resp.StatusCode, want)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestConnectionCap(t *testing.T) {
	g := startGateway(t, func(_ *PolicyConfig, c *Config) { c.MaxConns = 2 })
	held := []net.Conn{g.dial(t), g.dial(t)}
	for _, c := range held {
		// Complete one request on each so both are surely admitted and held.
		if resp, _ := sendRaw(t, c, bufio.NewReader(c), connectReq("allowed.test:443", false)); resp.StatusCode != 407 {
			t.Fatalf("held connection: %d", resp.StatusCode)
		}
	}
	resp, body := g.roundTrip(t, connectReq("allowed.test:443", true))
	if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("X-Nono-Reason") != ReasonOverCapacity || strings.Count(body, "\n") != 1 {
		t.Fatalf("over cap: %d %q", resp.StatusCode, body)
	}
	g.audit.next(t, func(e Event) bool { return e.Reason == ReasonOverCapacity })
	held[0].Close()
	waitForAnswer(t, g, connectReq("allowed.test:443", false), 407)
}

func TestSelfLoopRefused(t *testing.T) {
	g := startGateway(t, func(pc *PolicyConfig, _ *Config) {
		pc.Allow = append(pc.Allow, "127.0.0.1", "127.0.0.2", "0.0.0.0", "[::1]")
	})
	p := strconv.Itoa(int(g.Addr().Port()))
	for _, h := range []string{"127.0.0.1", "2130706433", "0x7f.1", "127.1", "127.0.0.2", "0.0.0.0", "0", "[::1]", "[::ffff:127.0.0.1]", "localhost", "LOCALHOST.", "x.localhost", "ip6.allowed.test", "allowed.test"} {
		for _, raw := range []string{connectReq(h+":"+p, true), getReq("http://"+h+":"+p+"/", true)} {
			resp, body := g.roundTrip(t, raw)
			if resp.StatusCode != 403 || resp.Header.Get("X-Nono-Reason") != ReasonLoop {
				t.Errorf("%s: %d %s %q", firstLine(raw), resp.StatusCode, resp.Header.Get("X-Nono-Reason"), body)
			}
		}
	}
}

func TestDNSFailureIs502(t *testing.T) {
	g := startGateway(t, nil)
	for _, raw := range []string{connectReq("nx.wild.test:443", true), getReq("http://nx.wild.test/", true)} {
		resp, body := g.roundTrip(t, raw)
		if resp.StatusCode != 502 || resp.Header.Get("X-Nono-Reason") != ReasonDNSFailed || strings.Count(body, "\n") != 1 {
			t.Errorf("%s: %d %q", firstLine(raw), resp.StatusCode, body)
		}
	}
}

func TestUnreachableOriginIs502(t *testing.T) {
	g := startGateway(t, nil)
	ln, _ := net.Listen("tcp4", "127.0.0.1:0")
	port := strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)
	ln.Close() // nothing listens there now
	for _, raw := range []string{connectReq("allowed.test:"+port, true), getReq("http://allowed.test:"+port+"/", true)} {
		resp, body := g.roundTrip(t, raw)
		if resp.StatusCode != 502 || resp.Header.Get("X-Nono-Reason") != ReasonUpstream || strings.Count(body, "\n") != 1 {
			t.Errorf("%s: %d %q", firstLine(raw), resp.StatusCode, body)
		}
	}
}

func TestShutdownClosesTunnels(t *testing.T) {
	g := startGateway(t, nil)
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		c, err := ln.Accept()
		if err == nil {
			io.Copy(io.Discard, c)
			c.Close()
		}
	}()
	c := g.dial(t)
	br := bufio.NewReader(c)
	if resp, _ := sendRaw(t, c, br, connectReq("allowed.test:"+strconv.Itoa(ln.Addr().(*net.TCPAddr).Port), true)); resp.StatusCode != 200 {
		t.Fatalf("CONNECT %d", resp.StatusCode)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := g.Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	if _, err := br.ReadByte(); err == nil {
		t.Fatal("tunnel survived Shutdown")
	}
	if _, err := net.Dial("tcp", g.Addr().String()); err == nil {
		t.Fatal("listener still accepting after Shutdown")
	}
	if g.token != nil {
		t.Fatal("token not dropped after Shutdown")
	}
}

func TestNewValidatesConfig(t *testing.T) {
	pol := mustPolicy(t, PolicyConfig{Allow: []string{"a.test"}})
	for name, cfg := range map[string]Config{
		"no policy":       {Token: testToken},
		"short token":     {Policy: pol, Token: []byte("short")},
		"token with LF":   {Policy: pol, Token: []byte(strings.Repeat("a", 40) + "\n")},
		"bypass no proxy": {Policy: pol, Token: testToken, UpstreamBypass: []string{"a.test"}},
		"bad bypass":      {Policy: pol, Token: testToken, Upstream: &Upstream{Host: "127.0.0.1", Port: 3128}, UpstreamBypass: []string{"*"}},
	} {
		if _, err := New(cfg); err == nil {
			t.Errorf("%s: New accepted the config", name)
		}
	}
	tok := append([]byte{}, testToken...)
	s, err := New(Config{Policy: pol, Token: tok})
	if err != nil {
		t.Fatal(err)
	}
	wipe(tok)
	if string(s.token) != string(testToken) {
		t.Fatal("New did not copy the token")
	}
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	held := s.token
	if err := s.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	for _, b := range held {
		if b != 0 {
			t.Fatal("token not wiped by Shutdown")
		}
	}
	// A wiped (all-zero) token must never authorise anything.
	h := http.Header{"Proxy-Authorization": {basicAuth("n", make([]byte, len(testToken)))}}
	if s.authorized(h) {
		t.Fatal("zeroed credentials accepted after Shutdown")
	}
}

// bulkOrigin serves, per connection, size bytes of a deterministic stream
// and returns its SHA-256; hold keeps the connection open afterwards.
func bulkOrigin(t *testing.T, size int64, hold <-chan struct{}) (port uint16, sum [32]byte) {
	t.Helper()
	stream := func(w io.Writer) {
		rng := rand.New(rand.NewPCG(1, 2))
		buf := make([]byte, 192<<10) // not a divisor of the relay's sizes
		for left := size; left > 0; {
			for i := 0; i+8 <= len(buf); i += 8 {
				binary.LittleEndian.PutUint64(buf[i:], rng.Uint64())
			}
			n := min(left, int64(len(buf)))
			if _, err := w.Write(buf[:n]); err != nil {
				return
			}
			left -= n
		}
	}
	h := sha256.New()
	stream(h)
	copy(sum[:], h.Sum(nil))
	addr := serveEach(t, func(c net.Conn) {
		stream(c)
		if hold != nil {
			<-hold
		}
	})
	return uint16(addr.Port), sum
}

// A bulk download moves from splice to the buffered relay and back without
// losing, duplicating or reordering a byte, also when more bulk tunnels run
// than the buffer budget allows, and the audit counts every byte.
func TestBulkTunnelsBufferedRelayIsExact(t *testing.T) {
	old := fastChunk
	fastChunk = time.Hour // every full chunk asks for a buffer
	t.Cleanup(func() { fastChunk = old })
	const size = 48 << 20
	port, want := bulkOrigin(t, size, nil)
	g := startGateway(t, nil)
	before := bulk.taken.Load()
	const tunnels = bulkBufs + 4
	var wg sync.WaitGroup
	errs := make(chan error, tunnels)
	for i := 0; i < tunnels; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := g.dial(t)
			defer c.Close()
			br := bufio.NewReaderSize(c, 4096)
			if _, err := io.WriteString(c, connectReq("allowed.test:"+strconv.Itoa(int(port)), true)); err != nil {
				errs <- err
				return
			}
			resp, err := http.ReadResponse(br, &http.Request{Method: http.MethodConnect})
			if err != nil || resp.StatusCode != 200 {
				errs <- fmt.Errorf("CONNECT: %v %v", resp, err)
				return
			}
			h := sha256.New()
			n, err := io.Copy(h, br)
			if err != nil || n != size || !bytes.Equal(h.Sum(nil), want[:]) {
				errs <- fmt.Errorf("got %d of %d bytes (err %v), digest match %v", n, size, err, bytes.Equal(h.Sum(nil), want[:]))
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	// The audit event is written when the gateway side of a tunnel ends.
	for i := 0; i < tunnels; i++ {
		e := g.audit.next(t, func(e Event) bool { return e.Mode == ModeConnect && e.Decision == DecisionAllow })
		if e.BytesDown != size {
			t.Errorf("audit BytesDown %d, want %d", e.BytesDown, size)
		}
	}
	if bulk.taken.Load() == before {
		t.Fatal("no tunnel used the buffered relay")
	}
	if len(bulk.slots) != 0 {
		t.Fatalf("%d bulk buffers still held after every tunnel ended", len(bulk.slots))
	}
}

// The idle watchdog still closes a tunnel whose download stopped while
// the direction was in the buffered relay.
func TestBulkTunnelGoesIdleAndIsClosed(t *testing.T) {
	old := fastChunk
	fastChunk = time.Hour
	t.Cleanup(func() { fastChunk = old })
	const size = 32 << 20
	hold := make(chan struct{})
	defer close(hold)
	port, want := bulkOrigin(t, size, hold)
	g := startGateway(t, func(_ *PolicyConfig, c *Config) { c.TunnelIdleTimeout = 300 * time.Millisecond })
	c := g.dial(t)
	defer c.Close()
	br := bufio.NewReader(c)
	if resp, _ := sendRaw(t, c, br, connectReq("allowed.test:"+strconv.Itoa(int(port)), true)); resp.StatusCode != 200 {
		t.Fatalf("CONNECT %d", resp.StatusCode)
	}
	h := sha256.New()
	n, err := io.Copy(h, br) // ends when the watchdog closes the idle tunnel
	if n != size || !bytes.Equal(h.Sum(nil), want[:]) {
		t.Fatalf("got %d of %d bytes (%v)", n, size, err)
	}
	e := g.audit.next(t, func(e Event) bool { return e.Mode == ModeConnect && e.Decision == DecisionAllow })
	if e.BytesDown != size {
		t.Fatalf("audit BytesDown %d, want %d", e.BytesDown, size)
	}
}
