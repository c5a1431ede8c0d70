package proxy

import (
	"bufio"
	"bytes"
	"context"
	"crypto/x509"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nono-sandbox/nono/credentials"
	"golang.org/x/net/websocket"
)

// TestReverseSuiteOverHTTP1Upstreams runs the reverse-path tests again with
// upstreams that speak only HTTP/1.1, so every request goes through the
// loop's own pool (h1pool.go) instead of http.Transport, which serves the
// HTTP/2 upstreams of the other runs.
func TestReverseSuiteOverHTTP1Upstreams(t *testing.T) {
	originHTTP1 = true
	t.Cleanup(func() { originHTTP1 = false })
	for name, f := range map[string]func(*testing.T){
		"InjectsRealSecret":                       TestReverseInjectsRealSecret,
		"PhantomRequired":                         TestReversePhantomRequired,
		"RoutesByPathAndNeverCrossesSecrets":      TestReverseRoutesByPathAndNeverCrossesSecrets,
		"StripsClientCredentialsAndHopByHopAbuse": TestReverseStripsClientCredentialsAndHopByHopAbuse,
		"BasePathCannotBeEscaped":                 TestReverseBasePathCannotBeEscaped,
		"TraceAndTrackRefused":                    TestReverseTraceAndTrackRefused,
		"ScrubsSecretEchoedInHeaders":             TestReverseScrubsSecretEchoedInHeaders,
		"EchoBodyEndpointBlockedByRule":           TestEchoBodyEndpointBlockedByRule,
		"StreamsSSEIncrementally":                 TestReverseStreamsSSEIncrementally,
		"ChunkedRequestBody":                      TestReverseChunkedRequestBody,
		"WebSocketEcho":                           TestReverseWebSocketEcho,
		"HostPolicyStillApplies":                  TestReverseHostPolicyStillApplies,
		"ThroughUpstreamProxy":                    TestReverseThroughUpstreamProxy,
		"AuditNeverHoldsTokenOrSecret":            TestAuditNeverHoldsTokenOrSecret,
		"UpgradeNegatives":                        TestUpgradeNegatives,
		"WebSocketFramesAreScrubbed":              TestReverseWebSocketFramesAreScrubbed,
		"NonWebSocketUpgradeRefused":              TestReverseNonWebSocketUpgradeRefused,
		"LoadTenThousandReverseRequests":          TestLoadTenThousandReverseRequests,
	} {
		t.Run(name, f)
	}
}

// loopGW is a gateway with one credential route, svc, to origin o (so the
// reverse-path loop serves its listener); rules, when given, restrict svc.
func loopGW(t *testing.T, o *tlsOrigin, mutate func(*Config), rules ...string) *credGW {
	t.Helper()
	cr := credRouteTo(t, "svc", o, "", secretA, credentials.CustomCredential{})
	if len(rules) > 0 {
		cr.Endpoints = mkRules(t, rules...)
	}
	return startCredGateway(t, []CredentialRoute{cr}, func(_ *PolicyConfig, c *Config) {
		if mutate != nil {
			mutate(c)
		}
	})
}

// revReq is a raw reverse-path request with the phantom.
func revReq(method, path string, extra ...string) string {
	s := method + " " + path + " HTTP/1.1\r\nHost: gw\r\nAuthorization: " + bearerToken() + "\r\n"
	for _, h := range extra {
		s += h + "\r\n"
	}
	return s + "\r\n"
}

func (o *tlsOrigin) paths() []string {
	var p []string
	for _, r := range o.all() {
		p = append(p, r.method+" "+r.path)
	}
	return p
}

func TestReverseLoopHandsProxyRequestsToTheServer(t *testing.T) {
	o := startTLSOrigin(t, nil)
	g := loopGW(t, o, nil)
	plain := startOrigin(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, "plain "+r.URL.Path)
	}))

	// One connection: a reverse request (the loop), an absolute-form
	// request (handed to net/http with what was read ahead), then a
	// reverse request again, now served by net/http's path.
	c := g.dial(t)
	br := bufio.NewReader(c)
	if resp, body := sendRaw(t, c, br, revReq("GET", "/svc/one")); resp.StatusCode != 200 || body != "ok /one" {
		t.Fatalf("reverse: %d %q", resp.StatusCode, body)
	}
	if resp, body := sendRaw(t, c, br, getReq("http://allowed.test:"+strconv.Itoa(int(plain))+"/fwd", true)); resp.StatusCode != 200 || body != "plain /fwd" {
		t.Fatalf("forward after reverse on one connection: %d %q", resp.StatusCode, body)
	}
	if resp, body := sendRaw(t, c, br, revReq("GET", "/svc/two")); resp.StatusCode != 200 || body != "ok /two" {
		t.Fatalf("reverse after the hand-off: %d %q", resp.StatusCode, body)
	}
	// Without proxy credentials the handed-off request is still refused.
	c2 := g.dial(t)
	if resp, _ := sendRaw(t, c2, bufio.NewReader(c2), getReq("http://allowed.test:"+strconv.Itoa(int(plain))+"/x", false)); resp.StatusCode != http.StatusProxyAuthRequired {
		t.Fatalf("forward without proxy auth: %d", resp.StatusCode)
	}

	// CONNECT with the tunnelled request in the same write: the loop read
	// both ahead, and every byte must still reach the origin in order.
	c3 := g.dial(t)
	target := "allowed.test:" + strconv.Itoa(int(plain))
	if _, err := io.WriteString(c3, connectReq(target, true)+"GET /tunnelled HTTP/1.1\r\nHost: "+target+"\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	br3 := bufio.NewReader(c3)
	resp, err := http.ReadResponse(br3, &http.Request{Method: http.MethodConnect})
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("CONNECT: %v %v", resp, err)
	}
	resp, err = http.ReadResponse(br3, nil)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	if string(body) != "plain /tunnelled" {
		t.Fatalf("early tunnel bytes: %d %q", resp.StatusCode, body)
	}
}

func TestReverseLoopHeadLimitsAndTimeouts(t *testing.T) {
	o := startTLSOrigin(t, nil)
	g := loopGW(t, o, func(c *Config) {
		c.MaxHeaderBytes = 4 << 10
		c.HeaderTimeout = 300 * time.Millisecond
		c.ClientIdleTimeout = 300 * time.Millisecond
	})
	resp, _ := g.roundTrip(t, revReq("GET", "/svc/a", "X-Big: "+strings.Repeat("a", 64<<10)))
	if resp.StatusCode != http.StatusRequestHeaderFieldsTooLarge {
		t.Fatalf("oversized head: %d, want 431", resp.StatusCode)
	}
	// A long request line is left to net/http, whose limits answer too.
	resp, _ = g.roundTrip(t, revReq("GET", "/svc/"+strings.Repeat("a", 64<<10)))
	if resp.StatusCode != http.StatusRequestHeaderFieldsTooLarge {
		t.Fatalf("oversized request line: %d, want 431", resp.StatusCode)
	}
	expectClosed := func(name string, c net.Conn) {
		t.Helper()
		_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
		b := make([]byte, 1)
		for {
			_, err := c.Read(b)
			if err == nil {
				continue
			}
			if isTimeout(err) {
				t.Fatalf("%s: the gateway kept the connection open", name)
			}
			return
		}
	}
	expectClosed("silent client", g.dial(t))
	slow := g.dial(t)
	_, _ = io.WriteString(slow, "GET /svc/a HTTP/1.1\r\nHost: gw\r\n")
	expectClosed("unfinished head", slow)
	idle := g.dial(t)
	if resp, _ := sendRaw(t, idle, bufio.NewReader(idle), revReq("GET", "/svc/a")); resp.StatusCode != 200 {
		t.Fatal(resp.Status)
	}
	expectClosed("idle keep-alive", idle)
}

// Every request the upstream receives was one the gateway checked: the
// loop re-frames bodies itself, so no framing trick makes the upstream see
// a request boundary the gateway did not.
func TestReverseLoopSmugglingAttempts(t *testing.T) {
	o := startTLSOrigin(t, func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		_, _ = io.WriteString(w, "body="+string(b))
	})
	g := loopGW(t, o, nil, "POST /a")
	smuggled := revReq("GET", "/svc/admin")
	for _, raw := range []string{
		// CL and TE together: TE wins, the CL is dropped, and the rest is
		// the next request, checked on its own (and denied by the rules).
		"POST /svc/a HTTP/1.1\r\nHost: gw\r\nAuthorization: " + bearerToken() + "\r\nContent-Length: " + strconv.Itoa(5+len(smuggled)) + "\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n" + smuggled,
		"POST /svc/a HTTP/1.1\r\nHost: gw\r\nAuthorization: " + bearerToken() + "\r\nContent-Length: 3\r\nContent-Length: 40\r\n\r\nabc" + smuggled,
		"POST /svc/a HTTP/1.1\r\nHost: gw\r\nAuthorization: " + bearerToken() + "\r\nTransfer-Encoding: xchunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n" + smuggled,
		"POST /svc/a HTTP/1.1\r\nHost: gw\r\nAuthorization: " + bearerToken() + "\r\nTransfer-Encoding: chunked, identity\r\n\r\n3\r\nabc\r\n0\r\n\r\n" + smuggled,
		"POST /svc/a HTTP/1.1\r\nHost: gw\r\nAuthorization: " + bearerToken() + "\r\nContent-Length : 3\r\n\r\nabc" + smuggled,
		"POST /svc/a HTTP/1.1\r\nHost: gw\r\nAuthorization: " + bearerToken() + "\r\nX-Fold: a\r\n Content-Length: 3\r\n\r\nabc" + smuggled,
		"POST /svc/a HTTP/1.1\r\nHost: gw\r\nAuthorization: " + bearerToken() + "\r\nContent-Length: 3\r\n\r\nabc" + "GET /svc/admin HTTP/1.1\r\nHost: gw\r\nAuthorization: " + bearerToken() + "\r\n\r\n",
		"POST /svc/a HTTP/1.1\nHost: gw\nAuthorization: " + bearerToken() + "\nContent-Length: 3\n\nabc" + smuggled,
		"POST /svc/a HTTP/1.1\r\nHost: gw\r\nAuthorization: " + bearerToken() + "\r\nContent-Length: 3\r\nX-Bad: a\x00b\r\n\r\nabc" + smuggled,
	} {
		c := g.dial(t)
		_ = c.SetDeadline(time.Now().Add(5 * time.Second))
		if _, err := io.WriteString(c, raw); err != nil {
			t.Fatal(err)
		}
		_ = c.(*net.TCPConn).CloseWrite()
		// Read every answer until the gateway closes.
		br := bufio.NewReader(c)
		for {
			resp, err := http.ReadResponse(br, nil)
			if err != nil {
				break
			}
			_, _ = io.ReadAll(resp.Body)
			resp.Body.Close()
		}
		c.Close()
	}
	for _, p := range o.paths() {
		if p != "POST /a" {
			t.Fatalf("the upstream received a request the gateway did not allow: %s (all: %v)", p, o.paths())
		}
	}
	if len(o.paths()) == 0 {
		t.Fatal("no request reached the upstream; the test proves nothing")
	}
	for _, e := range g.audit.all() {
		if e.Mode == ModeReverse && e.Path == "/admin" && e.Decision == DecisionAllow {
			t.Fatalf("the smuggled request was allowed: %+v", e)
		}
	}
}

func TestReverseLoopHTTPSemantics(t *testing.T) {
	o := startTLSOrigin(t, func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/stream":
			_, _ = io.WriteString(w, "part1,")
			w.(http.Flusher).Flush()
			_, _ = io.WriteString(w, "part2")
		case "/echo":
			b, _ := io.ReadAll(r.Body)
			_, _ = io.WriteString(w, "got "+string(b))
		case "/slow":
			time.Sleep(2 * clientWatchDelay)
			okHandler(w, r)
		default:
			okHandler(w, r)
		}
	})
	g := loopGW(t, o, nil)

	t.Run("pipelined requests are answered in order", func(t *testing.T) {
		c := g.dial(t)
		_, _ = io.WriteString(c, revReq("GET", "/svc/one")+revReq("GET", "/svc/two"))
		expectAnswers(t, bufio.NewReader(c), "ok /one", "ok /two")
	})
	t.Run("a request pipelined behind a slow one is not a hang-up", func(t *testing.T) {
		c := g.dial(t)
		_, _ = io.WriteString(c, revReq("GET", "/svc/slow")+revReq("POST", "/svc/echo", "Content-Length: 2")+"hi")
		expectAnswers(t, bufio.NewReader(c), "ok /slow", "got hi")
	})
	t.Run("HEAD keeps the length and the connection", func(t *testing.T) {
		c := g.dial(t)
		br := bufio.NewReader(c)
		resp, body := sendRaw(t, c, br, revReq("HEAD", "/svc/h"))
		if resp.StatusCode != 200 || body != "" || resp.ContentLength != int64(len("ok /h")) {
			t.Fatalf("HEAD: %d %q length %d", resp.StatusCode, body, resp.ContentLength)
		}
		if resp, body := sendRaw(t, c, br, revReq("GET", "/svc/after")); body != "ok /after" {
			t.Fatalf("after HEAD: %d %q", resp.StatusCode, body)
		}
	})
	t.Run("HTTP/1.0 gets no chunking and a close", func(t *testing.T) {
		c := g.dial(t)
		_, _ = io.WriteString(c, "GET /svc/stream HTTP/1.0\r\nAuthorization: "+bearerToken()+"\r\n\r\n")
		all, err := io.ReadAll(c)
		if err != nil {
			t.Fatal(err)
		}
		s := string(all)
		if !strings.HasPrefix(s, "HTTP/1.0 200 OK\r\n") || strings.Contains(strings.ToLower(s), "transfer-encoding") || !strings.HasSuffix(s, "\r\n\r\npart1,part2") {
			t.Fatalf("HTTP/1.0 answer: %q", s)
		}
	})
	t.Run("a stream of unknown length is chunked for HTTP/1.1", func(t *testing.T) {
		resp, body := g.roundTrip(t, revReq("GET", "/svc/stream"))
		if body != "part1,part2" || len(resp.TransferEncoding) != 1 || resp.TransferEncoding[0] != "chunked" {
			t.Fatalf("stream: %q %v", body, resp.TransferEncoding)
		}
	})
	t.Run("Expect 100-continue", func(t *testing.T) {
		c := g.dial(t)
		br := bufio.NewReader(c)
		_, _ = io.WriteString(c, revReq("POST", "/svc/echo", "Content-Length: 5", "Expect: 100-continue"))
		line, err := br.ReadString('\n')
		if err != nil || line != "HTTP/1.1 100 Continue\r\n" {
			t.Fatalf("want 100 Continue first, got %q %v", line, err)
		}
		if l, _ := br.ReadString('\n'); l != "\r\n" {
			t.Fatalf("100 Continue head: %q", l)
		}
		_, _ = io.WriteString(c, "hello")
		expectAnswers(t, br, "got hello")
		// Refused before the body: no 100, and the connection is closed
		// (the body may or may not follow).
		c2 := g.dial(t)
		_, _ = io.WriteString(c2, "POST /svc/echo HTTP/1.1\r\nHost: gw\r\nAuthorization: Bearer wrong\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n")
		all, _ := io.ReadAll(c2)
		if !strings.HasPrefix(string(all), "HTTP/1.1 401 ") || strings.Contains(string(all), "100 Continue") {
			t.Fatalf("refused Expect request: %q", all)
		}
	})
	t.Run("bad heads get one clear answer", func(t *testing.T) {
		for raw, want := range map[string]int{
			"GET /svc/a HTTP/1.1\r\nAuthorization: " + bearerToken() + "\r\n\r\n":               400, // no Host
			"GET /svc/a HTTP/2.0\r\nHost: gw\r\n\r\n":                                           505,
			"GET /svc/a HTTP/1.1\r\nHost: gw\r\nExpect: something-else\r\n\r\n":                 417,
			"GET /svc/a HTTP/1.1\r\nHost: g w\r\n\r\n":                                          400,
			"GET /svc/a HTTP/1.1\r\nHost: gw\r\nBad Header: x\r\n\r\n":                          400,
			"GET /svc/a HTTP/1.1\r\nHost: gw\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n": 400,
			"GET /svc/a HTTP/1.1\r\nHost: gw\r\nTransfer-Encoding: gzip\r\n\r\n":                400,
		} {
			resp, body := g.roundTrip(t, raw)
			if resp.StatusCode != want || !resp.Close {
				t.Errorf("%q: %d %q (close %v), want %d and a close", firstLine(raw), resp.StatusCode, body, resp.Close, want)
			}
		}
	})
}

func TestReverseLoopShutdownFinishesActiveRequests(t *testing.T) {
	release, arrived := make(chan struct{}), make(chan struct{}, 1)
	o := startTLSOrigin(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/slow" {
			arrived <- struct{}{}
			<-release
		}
		okHandler(w, r)
	})
	g := loopGW(t, o, nil)
	idle := g.dial(t)
	if resp, _ := sendRaw(t, idle, bufio.NewReader(idle), revReq("GET", "/svc/a")); resp.StatusCode != 200 {
		t.Fatal(resp.Status)
	}
	busy := g.dial(t)
	_, _ = io.WriteString(busy, revReq("GET", "/svc/slow"))
	select {
	case <-arrived:
	case <-time.After(10 * time.Second):
		t.Fatal("the slow request never reached the upstream")
	}
	done := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		done <- g.Shutdown(ctx)
	}()
	// The idle connection is closed at once, the busy one is not.
	_ = idle.SetReadDeadline(time.Now().Add(3 * time.Second))
	if _, err := idle.Read(make([]byte, 1)); err == nil || isTimeout(err) {
		t.Fatalf("idle connection after Shutdown: %v", err)
	}
	select {
	case err := <-done:
		t.Fatalf("Shutdown returned before the active request finished: %v", err)
	case <-time.After(200 * time.Millisecond):
	}
	close(release)
	resp, err := http.ReadResponse(bufio.NewReader(busy), nil)
	if err != nil {
		t.Fatalf("the active request lost its answer: %v", err)
	}
	b, _ := io.ReadAll(resp.Body)
	if string(b) != "ok /slow" {
		t.Fatalf("active request: %q", b)
	}
	if err := <-done; err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
}

// An upstream closes kept-alive connections after its idle timeout. The
// pool must notice before it sends on one: a POST is not repeated, so a
// stale connection would cost the request (502).
func TestH1PoolSkipsConnectionsTheUpstreamClosed(t *testing.T) {
	originHTTP1 = true
	t.Cleanup(func() { originHTTP1 = false })
	o := &tlsOrigin{}
	o.srv = httptest.NewUnstartedServer(o.record(okHandler))
	o.srv.Config.IdleTimeout = 50 * time.Millisecond
	o.srv.StartTLS()
	t.Cleanup(o.srv.Close)
	o.pool = x509.NewCertPool()
	o.pool.AddCert(o.srv.Certificate())
	o.port = o.srv.Listener.Addr().(*net.TCPAddr).AddrPort().Port()
	g := loopGW(t, o, nil)
	for i := range 3 {
		req, _ := http.NewRequest("POST", g.url("/svc/p"), strings.NewReader("x"))
		req.Header.Set("Authorization", bearerToken())
		resp, err := reverseClient().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("POST %d after the upstream closed its idle connection: %d %q", i, resp.StatusCode, b)
		}
		time.Sleep(300 * time.Millisecond)
	}
	if g.l7.routes["svc"].proto.Load() != protoHTTP1 {
		t.Fatal("the pool was not used")
	}
}

// FuzzReverseLoopClassify: the loop takes a connection only for what
// http.ReadRequest then reads as an origin-form, non-CONNECT request;
// everything else (CONNECT, absolute-form, odd lines) goes to net/http.
func FuzzReverseLoopClassify(f *testing.F) {
	for _, s := range []string{
		"GET /svc/a HTTP/1.1\r\nHost: x\r\n\r\n",
		"CONNECT example.com:443 HTTP/1.1\r\nHost: example.com\r\n\r\n",
		"GET http://example.com/ HTTP/1.1\r\nHost: x\r\n\r\n",
		"OPTIONS * HTTP/1.1\r\nHost: x\r\n\r\n",
		"CONNECT /svc/a HTTP/1.1\r\nHost: x\r\n\r\n",
		"GET  /svc HTTP/1.1\r\n\r\n",
		"\r\nGET /svc/a HTTP/1.1\r\nHost: x\r\n\r\n",
		"G\x00T /a HTTP/1.1\r\n\r\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		rc := &reverseConn{br: bufio.NewReaderSize(bytes.NewReader(data), reverseBufSize)}
		ours, err := rc.classify()
		if err != nil || !ours {
			return
		}
		req, err := http.ReadRequest(rc.br)
		if err != nil {
			return
		}
		if req.Method == http.MethodConnect || !strings.HasPrefix(req.RequestURI, "/") || req.URL.IsAbs() {
			t.Fatalf("the loop took %q %q", req.Method, req.RequestURI)
		}
	})
}

// A client that hangs up while the upstream is still working (an agent
// interrupted mid-call) must cancel the upstream request, as net/http's
// server did: an abandoned model call otherwise runs, and bills, to the end.
func TestReverseLoopClientHangUpCancelsUpstream(t *testing.T) {
	for _, h1 := range []bool{false, true} {
		t.Run(map[bool]string{false: "h2 upstream", true: "HTTP/1.1 upstream"}[h1], func(t *testing.T) {
			originHTTP1 = h1
			t.Cleanup(func() { originHTTP1 = false })
			cancelled, arrived := make(chan struct{}, 1), make(chan struct{}, 1)
			o := startTLSOrigin(t, func(w http.ResponseWriter, r *http.Request) {
				if r.URL.Path != "/think" {
					okHandler(w, r)
					return
				}
				arrived <- struct{}{}
				// net/http's HTTP/1.1 server watches the connection (and
				// cancels the context) only once the body was read.
				_, _ = io.ReadAll(r.Body)
				select {
				case <-r.Context().Done():
					cancelled <- struct{}{}
				case <-time.After(20 * time.Second):
				}
			})
			g := loopGW(t, o, nil)
			for _, body := range []string{"", "{\"prompt\":\"x\"}"} {
				c := g.dial(t)
				method, extra := "GET", []string(nil)
				if body != "" {
					method, extra = "POST", []string{"Content-Length: " + strconv.Itoa(len(body))}
				}
				_, _ = io.WriteString(c, revReq(method, "/svc/think", extra...)+body)
				select {
				case <-arrived:
				case <-time.After(10 * time.Second):
					t.Fatalf("%s: the request never reached the upstream", method)
				}
				c.Close()
				select {
				case <-cancelled:
				case <-time.After(10 * time.Second):
					t.Fatalf("%s: the upstream request went on after the client hung up", method)
				}
			}
			// The gateway still serves.
			resp, body := g.roundTrip(t, revReq("GET", "/svc/after"))
			if resp.StatusCode != 200 || body != "ok /after" {
				t.Fatalf("after hang-ups: %d %q", resp.StatusCode, body)
			}
		})
	}
}

// An upstream may answer before it has read a large body (413, 401) and
// close. The client must get that answer, not a 502 for the broken pipe
// of the upload, on both upstream clients.
func TestReverseEarlyAnswerToALargeUpload(t *testing.T) {
	for _, h1 := range []bool{false, true} {
		t.Run(map[bool]string{false: "h2 upstream", true: "HTTP/1.1 upstream"}[h1], func(t *testing.T) {
			originHTTP1 = h1
			t.Cleanup(func() { originHTTP1 = false })
			o := startTLSOrigin(t, func(w http.ResponseWriter, r *http.Request) {
				if r.URL.Path == "/upload" {
					w.Header().Set("Connection", "close")
					http.Error(w, "too large", http.StatusRequestEntityTooLarge)
					return
				}
				okHandler(w, r)
			})
			g := loopGW(t, o, nil)
			for _, size := range []int{1 << 10, 32 << 20} {
				// A raw client that keeps sending while it reads, so what
				// is checked is the gateway's answer, not a client's
				// handling of a broken upload.
				c := g.dial(t)
				go func() {
					_, _ = io.WriteString(c, revReq("POST", "/svc/upload", "Content-Length: "+strconv.Itoa(size)))
					_, _ = c.Write(make([]byte, size))
				}()
				resp, err := http.ReadResponse(bufio.NewReader(c), nil)
				if err != nil {
					t.Fatalf("%d bytes: no answer: %v", size, err)
				}
				b, _ := io.ReadAll(resp.Body)
				if resp.StatusCode != http.StatusRequestEntityTooLarge {
					t.Fatalf("%d bytes: %d %q, want the upstream's 413", size, resp.StatusCode, b)
				}
				c.Close()
			}
			if resp, body := g.roundTrip(t, revReq("GET", "/svc/after")); resp.StatusCode != 200 || body != "ok /after" {
				t.Fatalf("after: %d %q", resp.StatusCode, body)
			}
		})
	}
}

// FuzzReverseLoopConn writes arbitrary bytes to a gateway connection that
// the reverse-path loop serves. Whatever they are, every request that
// reaches the upstream must be one the checks allowed: on the rules' paths
// only, with the real key injected, and with no trace of the phantom; the
// loop must answer or close, never hang or panic.
func FuzzReverseLoopConn(f *testing.F) {
	for _, s := range []string{
		revReq("GET", "/svc/ok/a"),
		revReq("POST", "/svc/ok/b", "Content-Length: 3") + "abc" + revReq("GET", "/svc/admin"),
		revReq("POST", "/svc/ok/c", "Transfer-Encoding: chunked") + "3\r\nabc\r\n0\r\n\r\n",
		revReq("POST", "/svc/ok/d", "Content-Length: 3", "Transfer-Encoding: chunked") + "0\r\n\r\n" + revReq("GET", "/svc/admin"),
		"GET /svc/ok/../admin HTTP/1.1\r\nHost: x\r\nAuthorization: " + bearerToken() + "\r\n\r\n",
		"GET /svc/ok%2f..%2fadmin HTTP/1.1\r\nHost: x\r\nAuthorization: " + bearerToken() + "\r\n\r\n",
		"CONNECT example.com:443 HTTP/1.1\r\nHost: example.com\r\n\r\n",
		"GET http://example.com/ok/a HTTP/1.1\r\nHost: example.com\r\n\r\n",
		revReq("GET", "/svc/ok/e", "Connection: Upgrade, Authorization", "Upgrade: websocket"),
		revReq("GET", "/svc/ok/f", "Expect: 100-continue", "Content-Length: 2") + "hi",
		"GET /svc/ok/g HTTP/1.0\r\nAuthorization: " + bearerToken() + "\r\n\r\n",
	} {
		f.Add([]byte(s))
	}
	const secret = "sk-fuzz-REAL-secret-value"
	var mu sync.Mutex
	var bad []string
	o := startTLSOrigin(f, func(w http.ResponseWriter, r *http.Request) {
		var why string
		p := r.URL.EscapedPath()
		switch {
		case p != "/ok" && !strings.HasPrefix(p, "/ok/"):
			why = "path outside the rules"
		case r.Header.Get("Authorization") != "Bearer "+secret:
			why = "no injected key"
		}
		for k, vs := range r.Header {
			for _, v := range vs {
				if strings.Contains(k+v, string(testToken)) {
					why = "the phantom reached the upstream in " + k
				}
			}
		}
		if strings.Contains(r.RequestURI, string(testToken)) {
			why = "the phantom reached the upstream in the URI"
		}
		if why != "" {
			mu.Lock()
			bad = append(bad, why+": "+r.Method+" "+r.RequestURI)
			mu.Unlock()
		}
		_, _ = io.Copy(io.Discard, r.Body)
		_, _ = io.WriteString(w, "ok")
	})
	cr := credRouteTo(f, "svc", o, "", secret, credentials.CustomCredential{})
	cr.Endpoints = mkRules(f, "* /ok/**")
	g := startCredGateway(f, []CredentialRoute{cr}, func(_ *PolicyConfig, c *Config) {
		c.HeaderTimeout = time.Second
	})
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := net.Dial("tcp", g.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		_ = c.SetDeadline(time.Now().Add(10 * time.Second))
		go func() {
			_, _ = c.Write(data)
			_ = c.(*net.TCPConn).CloseWrite()
		}()
		if _, err := io.Copy(io.Discard, c); err != nil && isTimeout(err) {
			t.Fatalf("the gateway neither answered nor closed within 10 s")
		}
		mu.Lock()
		defer mu.Unlock()
		if len(bad) > 0 {
			t.Fatalf("the upstream received %v", bad)
		}
	})
}

// The same inside a streamed answer: a reasoning model may send its
// headers and then nothing for a long time. A client that hangs up in
// that pause must cancel the upstream request then, not at the next chunk.
func TestReverseLoopHangUpDuringAStreamPauseCancelsUpstream(t *testing.T) {
	for _, h1 := range []bool{false, true} {
		t.Run(map[bool]string{false: "h2 upstream", true: "HTTP/1.1 upstream"}[h1], func(t *testing.T) {
			originHTTP1 = h1
			t.Cleanup(func() { originHTTP1 = false })
			cancelled := make(chan struct{}, 1)
			o := startTLSOrigin(t, func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "text/event-stream")
				_, _ = io.WriteString(w, "data: first\n\n")
				w.(http.Flusher).Flush()
				select {
				case <-r.Context().Done():
					cancelled <- struct{}{}
				case <-time.After(20 * time.Second):
				}
			})
			g := loopGW(t, o, nil)
			c := g.dial(t)
			_, _ = io.WriteString(c, revReq("GET", "/svc/stream"))
			br := bufio.NewReader(c)
			resp, err := http.ReadResponse(br, nil)
			if err != nil {
				t.Fatal(err)
			}
			line, err := bufio.NewReader(resp.Body).ReadString('\n')
			if err != nil || line != "data: first\n" {
				t.Fatalf("first event: %q %v", line, err)
			}
			c.Close()
			select {
			case <-cancelled:
			case <-time.After(10 * time.Second):
				t.Fatal("the upstream stream went on after the client hung up")
			}
		})
	}
}

// A refused request whose announced body is larger than the loop would
// drain is answered at once and the connection closed: the loop does not
// wait for (or read) a body it will throw away.
func TestReverseLoopRefusesALargeBodyWithoutReadingIt(t *testing.T) {
	o := startTLSOrigin(t, nil)
	g := loopGW(t, o, func(c *Config) { c.HeaderTimeout = 30 * time.Second })
	c := g.dial(t)
	// The head only; the 10 MiB it announces never comes.
	_, _ = io.WriteString(c, "POST /svc/upload HTTP/1.1\r\nHost: gw\r\nAuthorization: Bearer wrong\r\nContent-Length: 10485760\r\n\r\n")
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second)) // far below the gateway's 30 s
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatalf("no answer while the gateway waited for a body it will not use: %v", err)
	}
	if resp.StatusCode != http.StatusUnauthorized || !resp.Close {
		t.Fatalf("got %d (close %v), want 401 and a close", resp.StatusCode, resp.Close)
	}
}

// A WebSocket on the reverse path is closed after TunnelIdleTimeout with no
// bytes either way, as a CONNECT tunnel is; one that keeps talking stays.
func TestReverseWebSocketIdleTimeout(t *testing.T) {
	ws := websocket.Server{Handler: func(c *websocket.Conn) { io.Copy(c, c) }}
	o := startTLSOrigin(t, func(w http.ResponseWriter, r *http.Request) { ws.ServeHTTP(w, r) })
	// Six times the activity interval, so a loaded machine's stalls do not
	// make the active WebSocket look idle.
	g := loopGW(t, o, func(c *Config) { c.TunnelIdleTimeout = 600 * time.Millisecond })
	// Active: a message every 100 ms for 2 s, over three idle periods.
	active := g.dialWS(t, "/svc/v1/realtime")
	for i := range 20 {
		if err := websocket.Message.Send(active, "ping"); err != nil {
			t.Fatalf("message %d on an active WebSocket: %v", i, err)
		}
		var got string
		if err := websocket.Message.Receive(active, &got); err != nil || got != "ping" {
			t.Fatalf("message %d on an active WebSocket: %q %v", i, got, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	// Idle: the gateway closes it.
	idle := g.dialWS(t, "/svc/v1/realtime")
	_ = idle.SetReadDeadline(time.Now().Add(10 * time.Second))
	var got string
	if err := websocket.Message.Receive(idle, &got); err == nil || isTimeout(err) {
		t.Fatalf("an idle WebSocket stayed open: %q %v", got, err)
	}
}

// A hostile HTTP/1.1 upstream cannot make the pool hold an endless answer
// head (502 at 1 MiB, as the transport's limit), and bytes it sends on an
// idle kept-alive connection are never read as the next request's answer.
func TestH1PoolRefusesHostileUpstreams(t *testing.T) {
	originHTTP1 = true
	t.Cleanup(func() { originHTTP1 = false })
	o := startTLSOrigin(t, func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/huge-head":
			c, brw, err := http.NewResponseController(w).Hijack()
			if err != nil {
				return
			}
			defer c.Close()
			brw.WriteString("HTTP/1.1 200 OK\r\n")
			for i := 0; i < 40000; i++ { // about 2 MiB of header lines
				brw.WriteString("X-Pad-" + strconv.Itoa(i) + ": " + strings.Repeat("p", 40) + "\r\n")
			}
			brw.Flush()
		case "/smuggle":
			// A complete answer followed by a forged one, left on the
			// connection for whoever uses it next.
			c, brw, err := http.NewResponseController(w).Hijack()
			if err != nil {
				return
			}
			brw.WriteString("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok" +
				"HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\nforged")
			brw.Flush()
			time.Sleep(200 * time.Millisecond)
			c.Close()
		default:
			okHandler(w, r)
		}
	})
	g := loopGW(t, o, nil)
	get := func(path string) (*http.Response, string) {
		t.Helper()
		req, _ := http.NewRequest("GET", g.url(path), nil)
		req.Header.Set("Authorization", bearerToken())
		resp, err := reverseClient().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		return resp, string(b)
	}
	if resp, body := get("/svc/huge-head"); resp.StatusCode != http.StatusBadGateway || !strings.Contains(body, "larger than") {
		t.Fatalf("endless answer head: %d %q, want 502", resp.StatusCode, body)
	}
	if resp, body := get("/svc/smuggle"); resp.StatusCode != 200 || body != "ok" {
		t.Fatalf("smuggle: %d %q", resp.StatusCode, body)
	}
	for i := range 3 {
		if resp, body := get("/svc/next"); resp.StatusCode != 200 || body != "ok /next" {
			t.Fatalf("request %d after an upstream left a forged answer on its connection: %d %q", i, resp.StatusCode, body)
		}
	}
}

// expectAnswers reads one answer per want from br, in order, and requires
// each to be a 200 whose body is that want.
func expectAnswers(t *testing.T, br *bufio.Reader, wants ...string) {
	t.Helper()
	for _, want := range wants {
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || string(b) != want {
			t.Fatalf("got %d %q, want 200 %q", resp.StatusCode, b, want)
		}
	}
}
