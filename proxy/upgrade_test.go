package proxy

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nono-sandbox/nono/credentials"
)

// TestUpgradeNegatives: upgrades are no way around the policy or the
// protocol checks.
func TestUpgradeNegatives(t *testing.T) {
	auth := "Proxy-Authorization: " + basicAuth("nono", testToken) + "\r\n"
	wsHeaders := "Connection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"

	t.Run("websocket to a host outside the allowlist", func(t *testing.T) {
		g := startGateway(t, nil)
		resp, _ := g.roundTrip(t, "GET http://not-allowed.test/ws HTTP/1.1\r\nHost: not-allowed.test\r\n"+auth+wsHeaders+"\r\n")
		if resp.StatusCode != http.StatusForbidden || resp.Header.Get("X-Nono-Reason") != ReasonFiltered {
			t.Fatalf("upgrade to a denied host: %d %s", resp.StatusCode, resp.Header.Get("X-Nono-Reason"))
		}
		if g.res.count("not-allowed.test") != 0 {
			t.Fatal("the denied name was resolved")
		}
	})

	t.Run("h2 preface and extended CONNECT are not spoken", func(t *testing.T) {
		g := startGateway(t, nil)
		c := g.dial(t)
		// An HTTP/2 client preface, then a SETTINGS frame enabling extended
		// CONNECT: the gateway speaks HTTP/1.1 only and must not switch.
		io.WriteString(c, "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00\x06\x04\x00\x00\x00\x00\x00\x00\x08\x00\x00\x00\x01")
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode < 400 {
				t.Fatalf("h2 preface answered with %d", resp.StatusCode)
			}
		}
		// Either an HTTP/1 error or a closed connection: never an h2 session.
	})

	t.Run("a 101 for a protocol the client did not ask for", func(t *testing.T) {
		o := startTLSOrigin(t, func(w http.ResponseWriter, r *http.Request) {
			// A hostile upstream switches to something else than requested.
			c, _ := switchTo(w, "h2c")
			if c == nil {
				return
			}
			defer c.Close()
			io.Copy(io.Discard, c)
		})
		g := startCredGateway(t, []CredentialRoute{credRouteTo(t, "svc", o, "", secretA, credentials.CustomCredential{})}, nil)
		resp, body := g.roundTrip(t, "GET /svc/ws HTTP/1.1\r\nHost: x\r\n"+phantomHeader+"\r\n"+wsHeaders+"\r\n")
		if resp.StatusCode == http.StatusSwitchingProtocols {
			t.Fatalf("the gateway relayed a mismatched 101 (%q)", body)
		}
		if resp.StatusCode != http.StatusBadGateway || strings.Contains(body, secretA) {
			t.Fatalf("want 502 without the secret: %d %q", resp.StatusCode, body)
		}
	})
}

// TestForwardUpgradeRelaysAndCounts: an upgrade through the plain forward
// path (absolute-form, allowed host) relays both ways after the 101, and
// the audit event counts those bytes, which never pass the ResponseWriter.
func TestForwardUpgradeRelaysAndCounts(t *testing.T) {
	port := startOrigin(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Upgrade") != "echo" {
			http.Error(w, "want Upgrade: echo", http.StatusBadRequest)
			return
		}
		c, brw := switchTo(w, "echo")
		if c == nil {
			return
		}
		defer c.Close()
		io.Copy(c, brw)
	}))
	g := startGateway(t, nil)
	c := g.dial(t)
	br := bufio.NewReader(c)
	target := "allowed.test:" + strconv.Itoa(int(port))
	io.WriteString(c, "GET http://"+target+"/up HTTP/1.1\r\nHost: "+target+"\r\nProxy-Authorization: "+basicAuth("nono", testToken)+
		"\r\nConnection: Upgrade\r\nUpgrade: echo\r\n\r\n")
	resp, err := http.ReadResponse(br, &http.Request{Method: http.MethodGet})
	if err != nil || resp.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("upgrade: %v %v", resp, err)
	}
	msg := strings.Repeat("ping", 10000)
	if _, err := io.WriteString(c, msg); err != nil {
		t.Fatal(err)
	}
	got := make([]byte, len(msg))
	if _, err := io.ReadFull(br, got); err != nil || string(got) != msg {
		t.Fatalf("echo after the 101: %v", err)
	}
	c.Close()
	e := g.audit.next(t, func(e Event) bool { return e.Mode == ModeForward })
	if e.Status != http.StatusSwitchingProtocols || e.BytesUp < int64(len(msg)) || e.BytesDown < int64(len(msg)) {
		t.Fatalf("audit after the upgrade: status %d, %d bytes up, %d down; want ≥ %d each", e.Status, e.BytesUp, e.BytesDown, len(msg))
	}
}

// An upgraded connection on the forward path (ReverseProxy relays it) is
// closed after TunnelIdleTimeout with no byte either way, as a tunnel is;
// one that trickles bytes stays open.
func TestForwardUpgradeIdleTimeout(t *testing.T) {
	const ticks = 20 // 2 s, over three idle periods
	port := startOrigin(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, _ := switchTo(w, "echo")
		if c == nil {
			return
		}
		defer c.Close()
		if r.URL.Path == "/trickle" {
			for range ticks {
				c.Write([]byte{'x'})
				time.Sleep(100 * time.Millisecond)
			}
			return
		}
		io.Copy(io.Discard, c) // silent until the other side closes
	}))
	// Six times the trickle's interval, so a loaded machine's stalls do not
	// make it look idle.
	g := startGateway(t, func(_ *PolicyConfig, c *Config) { c.TunnelIdleTimeout = 600 * time.Millisecond })
	target := "allowed.test:" + strconv.Itoa(int(port))
	upgrade := func(path string) *bufio.Reader {
		c := g.dial(t)
		br := bufio.NewReader(c)
		io.WriteString(c, "GET http://"+target+path+" HTTP/1.1\r\nHost: "+target+"\r\nProxy-Authorization: "+basicAuth("nono", testToken)+
			"\r\nConnection: Upgrade\r\nUpgrade: echo\r\n\r\n")
		resp, err := http.ReadResponse(br, &http.Request{Method: http.MethodGet})
		if err != nil || resp.StatusCode != http.StatusSwitchingProtocols {
			t.Fatalf("upgrade %s: %v %v", path, resp, err)
		}
		_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
		return br
	}
	if b, err := io.ReadAll(upgrade("/trickle")); len(b) != ticks {
		t.Fatalf("a trickling upgraded connection was cut: %d of %d bytes (%v)", len(b), ticks, err)
	}
	if _, err := io.ReadAll(upgrade("/silent")); err != nil {
		t.Fatalf("an idle upgraded connection stayed open: %v", err)
	}
}

// switchTo is an upstream's side of an upgrade: it hijacks the connection
// and answers 101 for proto. The caller closes the connection; nil means
// the hijack failed.
func switchTo(w http.ResponseWriter, proto string) (net.Conn, *bufio.ReadWriter) {
	c, brw, err := http.NewResponseController(w).Hijack()
	if err != nil {
		return nil, nil
	}
	brw.WriteString("HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: " + proto + "\r\n\r\n")
	brw.Flush()
	return c, brw
}
