package proxy

import (
	"bufio"
	"bytes"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// FuzzRequestHead throws arbitrary request heads at a live gateway. The
// invariants: it never crashes or hangs, it only ever answers with a status
// it is designed to give, a 200 requires the session token, and no name is
// ever resolved that the policy would not allow (denied names never reach
// DNS).
func FuzzRequestHead(f *testing.F) {
	auth := "Proxy-Authorization: " + basicAuth("nono", testToken) + "\r\n"
	for _, s := range []string{
		"CONNECT allowed.test:443 HTTP/1.1\r\nHost: allowed.test:443\r\n" + auth + "\r\n",
		"CONNECT secret.corp.test:443 HTTP/1.1\r\n" + auth + "\r\n",
		"CONNECT 0x7f.1:443 HTTP/1.1\r\n\r\n",
		"GET http://allowed.test/x HTTP/1.1\r\nHost: allowed.test\r\n" + auth + "\r\n",
		"GET http://evil.test/ HTTP/1.1\r\nHost: allowed.test\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n",
		"CONNECT [::ffff:169.254.169.254]:80 HTTP/1.1\r\n" + auth + "\r\n",
		"GET /svc/x HTTP/1.1\r\nHost: x\r\n\r\n",
		"CONNECT a.wild.test.:443 HTTP/1.0\r\n" + auth + "\r\n",
	} {
		f.Add([]byte(s))
	}
	g := startGateway(f, func(_ *PolicyConfig, c *Config) { c.HeaderTimeout = time.Second })
	allowedStatus := map[int]bool{200: true, 400: true, 403: true, 404: true, 405: true, 407: true, 408: true, 421: true, 431: true, 501: true, 502: true, 503: true, 505: true}
	f.Fuzz(func(t *testing.T, head []byte) {
		if len(head) > 8<<10 {
			return
		}
		c, err := net.Dial("tcp", g.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(3 * time.Second))
		c.Write(head)
		if cw, ok := c.(*net.TCPConn); ok {
			cw.CloseWrite()
		}
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err == nil {
			resp.Body.Close()
			if !allowedStatus[resp.StatusCode] {
				t.Fatalf("unexpected status %d for %q", resp.StatusCode, head)
			}
			if resp.StatusCode == 200 && !bytes.Contains(head, testToken) && !bytes.Contains(head, []byte(strings.TrimPrefix(basicAuth("nono", testToken), "Basic "))) {
				t.Fatalf("200 without the token for %q", head)
			}
		}
		g.res.mu.Lock()
		names := make([]string, 0, len(g.res.calls))
		for n := range g.res.calls {
			names = append(names, n)
		}
		g.res.mu.Unlock()
		for _, n := range names {
			if d := g.policy.Check(strings.TrimSuffix(n, "."), 443); !d.Allow {
				t.Fatalf("a name the policy denies was resolved: %q (%s)", n, d.Reason)
			}
		}
	})
}
