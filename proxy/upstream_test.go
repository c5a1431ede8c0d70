package proxy

import (
	"bufio"
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"strconv"
	"strings"
	"sync"
	"testing"
)

func TestParseUpstream(t *testing.T) {
	good := []struct {
		in   string
		host string
		port uint16
		user string
		str  string
	}{
		{"proxy.corp:3128", "proxy.corp", 3128, "", "http://proxy.corp:3128"},
		{"PROXY.corp.:3128", "proxy.corp", 3128, "", "http://proxy.corp:3128"},
		{"127.0.0.1:8080", "127.0.0.1", 8080, "", "http://127.0.0.1:8080"},
		{"[::1]:8080", "::1", 8080, "", "http://[::1]:8080"},
		{"http://proxy.corp:3128", "proxy.corp", 3128, "", "http://proxy.corp:3128"},
		{"http://proxy.corp:3128/", "proxy.corp", 3128, "", "http://proxy.corp:3128"},
		{"http://alice@proxy.corp:3128", "proxy.corp", 3128, "alice", "http://alice@proxy.corp:3128"},
		{"  http://alice@[::1]:3128  ", "::1", 3128, "alice", "http://alice@[::1]:3128"},
	}
	for _, c := range good {
		u, err := ParseUpstream(c.in)
		if err != nil {
			t.Errorf("ParseUpstream(%q): %v", c.in, err)
			continue
		}
		if u.Host != c.host || u.Port != c.port || u.User != c.user || u.String() != c.str {
			t.Errorf("ParseUpstream(%q) = %+v (%s)", c.in, u, u)
		}
	}
	bad := []string{
		"", "proxy.corp", "proxy.corp:", ":3128", "proxy.corp:0", "proxy.corp:65536", "proxy.corp:abc",
		"https://proxy.corp:3128", "socks5://proxy.corp:1080", "ftp://proxy.corp:21", "HTTP://proxy.corp:3128x",
		"http://proxy.corp", "http://proxy.corp:3128/path", "http://proxy.corp:3128?x=1", "http://proxy.corp:3128#f",
		"http://alice:hunter2@proxy.corp:3128", "http://:hunter2@proxy.corp:3128", "alice@proxy.corp:3128",
		"proxy.corp:3128/path", "pro\x00xy.corp:3128", "pro_xy.corp:3128", "::1:3128", "[fe80::1%eth0]:3128",
		"http://[fe80::1%25eth0]:3128", "http://proxy.corp:3128:1",
	}
	for _, in := range bad {
		if u, err := ParseUpstream(in); err == nil {
			t.Errorf("ParseUpstream(%q) = %+v, want error", in, u)
		} else if strings.Contains(err.Error(), "hunter2") || strings.ContainsAny(err.Error(), "\x00") {
			t.Errorf("ParseUpstream(%q) error leaks input: %v", in, err)
		}
	}
}

func TestBypassMatch(t *testing.T) {
	b, err := NewBypass([]string{"internal.corp", "*.svc.corp", "bücher.example"})
	if err != nil {
		t.Fatal(err)
	}
	for h, want := range map[string]bool{
		"internal.corp": true, "INTERNAL.corp.": true, "internal\u3002corp": true,
		"a.svc.corp": true, "A.B.SVC.corp.": true, "svc.corp": false, "evilsvc.corp": false,
		"xn--bcher-kva.example": true, "sub.internal.corp": false, "internal.corp.evil": false,
		"inter\x00nal.corp": false, "": false,
	} {
		if got := b.Match(h); got != want {
			t.Errorf("Match(%q) = %v, want %v", h, got, want)
		}
	}
	for _, e := range []string{"*", "*corp", "a.*.corp", "corp:80"} {
		if _, err := NewBypass([]string{e}); err == nil {
			t.Errorf("bypass entry %q accepted", e)
		}
	}
	var nilB *Bypass
	if nilB.Match("x.test") {
		t.Fatal("nil bypass matched")
	}
}

// fakeUpstream is a tiny CONNECT + absolute-form proxy. It resolves every
// name to 127.0.0.1 and records what it was asked.
type fakeUpstream struct {
	mu      sync.Mutex
	seen    []string // "METHOD target auth"
	refuse  int      // answer this status to everything when non-zero
	port    uint16
	forward *httputil.ReverseProxy
}

func (f *fakeUpstream) dialLocal(_ context.Context, _, addr string) (net.Conn, error) {
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, err
	}
	return net.Dial("tcp4", "127.0.0.1:"+port)
}

func (f *fakeUpstream) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	target := r.RequestURI
	f.mu.Lock()
	f.seen = append(f.seen, r.Method+" "+target+" "+r.Header.Get("Proxy-Authorization"))
	f.mu.Unlock()
	if f.refuse != 0 {
		w.WriteHeader(f.refuse)
		return
	}
	if r.Method != http.MethodConnect {
		r.Header.Set("X-Via-Upstream", "yes")
		f.forward.ServeHTTP(w, r)
		return
	}
	oc, err := f.dialLocal(r.Context(), "tcp", target)
	if err != nil {
		w.WriteHeader(http.StatusBadGateway)
		return
	}
	c, brw, _ := w.(http.Hijacker).Hijack()
	io.WriteString(c, "HTTP/1.1 200 OK\r\nX-Upstream: 1\r\n\r\n")
	go func() {
		io.Copy(oc, brw)
		oc.(*net.TCPConn).CloseWrite()
	}()
	io.Copy(c, oc)
	c.Close()
	oc.Close()
}

func (f *fakeUpstream) requests() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.seen...)
}

func startUpstream(t *testing.T, refuse int) *fakeUpstream {
	f := &fakeUpstream{refuse: refuse}
	f.forward = &httputil.ReverseProxy{
		Rewrite:   func(pr *httputil.ProxyRequest) { pr.Out.URL = pr.In.URL; pr.Out.Host = pr.In.Host },
		Transport: &http.Transport{DialContext: f.dialLocal},
	}
	f.port = startOrigin(t, f)
	return f
}

func chainedGateway(t *testing.T, up *fakeUpstream, user, password string, bypass ...string) *testGW {
	return startGateway(t, func(_ *PolicyConfig, c *Config) {
		c.Upstream = &Upstream{Host: "127.0.0.1", Port: up.port, User: user, Password: []byte(password)}
		c.UpstreamBypass = bypass
	})
}

func TestChainedConnect(t *testing.T) {
	up := startUpstream(t, 0)
	g := chainedGateway(t, up, "alice", "s3cret")
	port := startOrigin(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "via-chain") }))
	c := g.dial(t)
	br := bufio.NewReader(c)
	resp, _ := sendRaw(t, c, br, connectReq("ALLOWED.test.:"+strconv.Itoa(int(port)), true))
	if resp.StatusCode != 200 {
		t.Fatalf("chained CONNECT: %d", resp.StatusCode)
	}
	resp, body := sendRaw(t, c, br, "GET / HTTP/1.1\r\nHost: allowed.test\r\n\r\n")
	if resp.StatusCode != 200 || body != "via-chain" {
		t.Fatalf("through chained tunnel: %d %q", resp.StatusCode, body)
	}
	reqs := up.requests()
	want := "CONNECT allowed.test:" + strconv.Itoa(int(port)) + " " + "Basic " + basicB64("alice:s3cret")
	if len(reqs) != 1 || reqs[0] != want {
		t.Fatalf("upstream saw %q, want %q", reqs, want)
	}
	c.Close()
	e := g.audit.next(t, func(e Event) bool { return e.Mode == ModeConnect && e.Decision == DecisionAllow })
	if e.Upstream != "127.0.0.1:"+strconv.Itoa(int(up.port)) || strings.Contains(e.Upstream, "s3cret") || strings.Contains(e.Upstream, "alice") {
		t.Fatalf("audit upstream field: %q", e.Upstream)
	}
}

func TestChainedForward(t *testing.T) {
	up := startUpstream(t, 0)
	g := chainedGateway(t, up, "", "")
	seen := make(chan http.Header, 1)
	port := startOrigin(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		seen <- r.Header.Clone()
		io.WriteString(w, "fwd-via-chain")
	}))
	resp, body := g.roundTrip(t, getReq("http://allowed.test:"+strconv.Itoa(int(port))+"/p?q=1", true))
	if resp.StatusCode != 200 || body != "fwd-via-chain" {
		t.Fatalf("chained forward: %d %q", resp.StatusCode, body)
	}
	h := <-seen
	if h.Get("X-Via-Upstream") != "yes" || h.Get("Proxy-Authorization") != "" {
		t.Fatalf("origin headers: %v", h)
	}
	reqs := up.requests()
	if len(reqs) != 1 || reqs[0] != "GET http://allowed.test:"+strconv.Itoa(int(port))+"/p?q=1 " {
		t.Fatalf("upstream saw %q (our session token must not be forwarded)", reqs)
	}
}

func TestChainedForwardSendsUpstreamAuth(t *testing.T) {
	up := startUpstream(t, 0)
	g := chainedGateway(t, up, "bob", "pw")
	port := startOrigin(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") }))
	if resp, _ := g.roundTrip(t, getReq("http://allowed.test:"+strconv.Itoa(int(port))+"/", true)); resp.StatusCode != 200 {
		t.Fatalf("status %d", resp.StatusCode)
	}
	reqs := up.requests()
	if len(reqs) != 1 || !strings.HasSuffix(reqs[0], "Basic "+basicB64("bob:pw")) {
		t.Fatalf("upstream saw %q", reqs)
	}
}

func TestRefusingUpstreamIs502(t *testing.T) {
	up := startUpstream(t, http.StatusForbidden)
	g := chainedGateway(t, up, "", "")
	for _, raw := range []string{connectReq("allowed.test:443", true), getReq("http://allowed.test/", true)} {
		resp, body := g.roundTrip(t, raw)
		if raw[0] == 'C' {
			if resp.StatusCode != 502 || resp.Header.Get("X-Nono-Reason") != ReasonUpstream || !strings.Contains(body, "403") {
				t.Errorf("%s: %d %q", firstLine(raw), resp.StatusCode, body)
			}
		} else if resp.StatusCode != 403 {
			// For http the upstream's own answer is relayed as is.
			t.Errorf("%s: %d %q", firstLine(raw), resp.StatusCode, body)
		}
	}
}

func TestUpstream407Is502(t *testing.T) {
	up := startUpstream(t, http.StatusProxyAuthRequired)
	g := chainedGateway(t, up, "alice", "wrong")
	for _, raw := range []string{connectReq("allowed.test:443", true), getReq("http://allowed.test/", true)} {
		resp, body := g.roundTrip(t, raw)
		if resp.StatusCode != 502 || resp.Header.Get("X-Nono-Reason") != ReasonUpstream || strings.Contains(body, "wrong") {
			t.Errorf("%s: %d %q", firstLine(raw), resp.StatusCode, body)
		}
	}
}

func TestUnreachableUpstreamIs502(t *testing.T) {
	ln, _ := net.Listen("tcp4", "127.0.0.1:0")
	port := uint16(ln.Addr().(*net.TCPAddr).Port)
	ln.Close()
	g := startGateway(t, func(_ *PolicyConfig, c *Config) { c.Upstream = &Upstream{Host: "127.0.0.1", Port: port} })
	for _, raw := range []string{connectReq("allowed.test:443", true), getReq("http://allowed.test/", true)} {
		resp, body := g.roundTrip(t, raw)
		if resp.StatusCode != 502 || resp.Header.Get("X-Nono-Reason") != ReasonUpstream || strings.Count(body, "\n") != 1 {
			t.Errorf("%s: %d %q", firstLine(raw), resp.StatusCode, body)
		}
	}
}

func TestChainedPolicyAppliesBeforeUpstream(t *testing.T) {
	up := startUpstream(t, 0)
	g := chainedGateway(t, up, "", "")
	for _, h := range []string{"secret.corp.test", "metadata.google.internal", "169.254.169.254", "[fd00:ec2::254]", "not-allowed.test", "2852039166",
		"b.wild.test", // resolves locally to metadata: caught by the best-effort check
		"a.wild.test", // resolves locally to loopback via a wildcard
	} {
		for _, raw := range []string{connectReq(h+":443", true), getReq("http://"+h+"/", true)} {
			resp, _ := g.roundTrip(t, raw)
			if resp.StatusCode != 403 {
				t.Errorf("%s: %d", firstLine(raw), resp.StatusCode)
			}
		}
	}
	// Unauthenticated requests never reach the upstream either.
	if resp, _ := g.roundTrip(t, connectReq("allowed.test:443", false)); resp.StatusCode != 407 {
		t.Errorf("unauthenticated chained CONNECT: %d", resp.StatusCode)
	}
	if reqs := up.requests(); len(reqs) != 0 {
		t.Fatalf("denied requests reached the upstream: %q", reqs)
	}
	// A name the local resolver cannot resolve is left to the upstream.
	port := startOrigin(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") }))
	if resp, _ := g.roundTrip(t, getReq("http://nx.wild.test:"+strconv.Itoa(int(port))+"/", true)); resp.StatusCode != 200 {
		t.Fatalf("unresolvable-locally name via upstream: %d", resp.StatusCode)
	}
}

func TestBypassGoesDirect(t *testing.T) {
	up := startUpstream(t, 0)
	g := chainedGateway(t, up, "", "", "ALLOWED.test.")
	port := startOrigin(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "direct") }))
	c := g.dial(t)
	br := bufio.NewReader(c)
	if resp, _ := sendRaw(t, c, br, connectReq("allowed.test:"+strconv.Itoa(int(port)), true)); resp.StatusCode != 200 {
		t.Fatalf("bypass CONNECT: %d", resp.StatusCode)
	}
	if resp, body := g.roundTrip(t, getReq("http://allowed.test:"+strconv.Itoa(int(port))+"/", true)); resp.StatusCode != 200 || body != "direct" {
		t.Fatalf("bypass forward: %d %q", resp.StatusCode, body)
	}
	if reqs := up.requests(); len(reqs) != 0 {
		t.Fatalf("bypassed host went through the upstream: %q", reqs)
	}
	// Bypass does not bypass policy.
	g2 := chainedGateway(t, up, "", "", "secret.corp.test", "*.wild.test")
	for _, h := range []string{"secret.corp.test", "a.wild.test"} {
		if resp, _ := g2.roundTrip(t, connectReq(h+":443", true)); resp.StatusCode != 403 {
			t.Errorf("bypassed %s: %d", h, resp.StatusCode)
		}
	}
}

func TestUpstreamIsSelfRefused(t *testing.T) {
	pol := mustPolicy(t, PolicyConfig{Allow: []string{"a.test"}})
	// Bind a port, then ask the gateway to use that same port for itself and as upstream.
	ln, _ := net.Listen("tcp4", "127.0.0.1:0")
	port := uint16(ln.Addr().(*net.TCPAddr).Port)
	ln.Close()
	s, err := New(Config{Policy: pol, Token: testToken, Port: port, Upstream: &Upstream{Host: "localhost", Port: port}})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(); err == nil {
		s.Shutdown(context.Background())
		t.Fatal("gateway started with itself as upstream")
	}
}
