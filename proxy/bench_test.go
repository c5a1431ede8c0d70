package proxy

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"testing"
	"time"
)

// sinkOrigin accepts one connection, discards want bytes, then answers "k".
func sinkOrigin(b *testing.B, want int64) (port int, done <-chan struct{}) {
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	ch := make(chan struct{})
	go func() {
		defer close(ch)
		defer ln.Close()
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		if _, err := io.CopyN(io.Discard, c, want); err == nil {
			c.Write([]byte("k"))
		}
	}()
	return ln.Addr().(*net.TCPAddr).Port, ch
}

func BenchmarkConnectThroughput(b *testing.B) {
	const chunk = 1 << 20
	buf := make([]byte, chunk)
	// mode: "direct" (no relay), "naive" (bare io.Copy splice relay, the
	// floor for any relay in this process), "gateway" (through Server).
	run := func(b *testing.B, mode string) {
		b.SetBytes(chunk)
		port, done := sinkOrigin(b, int64(b.N)*chunk)
		var c net.Conn
		var err error
		switch mode {
		case "gateway":
			g := startGateway(b, nil)
			c = g.dial(b)
			br := bufio.NewReader(c)
			if resp, _ := sendRaw(b, c, br, connectReq("allowed.test:"+strconv.Itoa(port), true)); resp.StatusCode != 200 {
				b.Fatalf("CONNECT %d", resp.StatusCode)
			}
		case "naive":
			c = naiveRelay(b, port)
		default:
			c, err = net.Dial("tcp4", "127.0.0.1:"+strconv.Itoa(port))
			if err != nil {
				b.Fatal(err)
			}
			defer c.Close()
		}
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			if _, err := c.Write(buf); err != nil {
				b.Fatal(err)
			}
		}
		one := make([]byte, 1)
		if _, err := io.ReadFull(c, one); err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		<-done
	}
	for _, mode := range []string{"direct", "naive", "gateway"} {
		b.Run(mode, func(b *testing.B) { run(b, mode) })
	}
}

func BenchmarkForwardSmallRequest(b *testing.B) {
	g := startGateway(b, nil)
	port := startOrigin(b, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "small response") }))
	proxyURL := &url.URL{Scheme: "http", User: url.UserPassword("nono", string(testToken)), Host: g.Addr().String()}
	client := &http.Client{Transport: &http.Transport{Proxy: http.ProxyURL(proxyURL), MaxIdleConnsPerHost: 4}}
	target := "http://allowed.test:" + strconv.Itoa(int(port)) + "/"
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		resp, err := client.Get(target)
		if err != nil {
			b.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			b.Fatalf("status %d", resp.StatusCode)
		}
	}
}

// naiveRelay is a minimal splice relay for comparison: accept one client,
// dial the origin, io.Copy both ways.
func naiveRelay(b *testing.B, port int) net.Conn {
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	go func() {
		defer ln.Close()
		c, err := ln.Accept()
		if err != nil {
			return
		}
		o, err := net.Dial("tcp4", "127.0.0.1:"+strconv.Itoa(port))
		if err != nil {
			c.Close()
			return
		}
		go func() { io.Copy(o, c); o.(*net.TCPConn).CloseWrite() }()
		io.Copy(c, o)
		c.Close()
		o.Close()
	}()
	c, err := net.Dial("tcp4", ln.Addr().String())
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { c.Close() })
	return c
}

// BenchmarkConnectNewTunnel: one op is a new connection to the gateway, a
// CONNECT, a one-byte echo through the tunnel and the close: the
// gateway's per-tunnel cost (auth, policy, dial, hijack, relay set-up,
// audit), beside the same exchange with no proxy.
func BenchmarkConnectNewTunnel(b *testing.B) {
	port := startEcho(b)
	echo := func(b *testing.B, c net.Conn, r io.Reader) {
		one := []byte{'x'}
		if _, err := c.Write(one); err != nil {
			b.Fatal(err)
		}
		if _, err := io.ReadFull(r, one); err != nil {
			b.Fatal(err)
		}
	}
	b.Run("direct", func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			c, err := net.Dial("tcp4", "127.0.0.1:"+strconv.Itoa(port))
			if err != nil {
				b.Fatal(err)
			}
			echo(b, c, c)
			c.Close()
		}
	})
	b.Run("naive", func(b *testing.B) {
		addr := naiveConnectRelay(b)
		req := "CONNECT 127.0.0.1:" + strconv.Itoa(port) + " HTTP/1.1\r\nHost: x\r\n\r\n"
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			c, err := net.Dial("tcp4", addr)
			if err != nil {
				b.Fatal(err)
			}
			br := bufio.NewReader(c)
			if resp, _ := sendRaw(b, c, br, req); resp.StatusCode != 200 {
				b.Fatalf("CONNECT %d", resp.StatusCode)
			}
			echo(b, c, br)
			c.Close()
		}
	})
	b.Run("gateway", func(b *testing.B) {
		g := startGateway(b, nil)
		req := connectReq("allowed.test:"+strconv.Itoa(port), true)
		b.ReportAllocs()
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			c := g.dial(b)
			br := bufio.NewReader(c)
			if resp, _ := sendRaw(b, c, br, req); resp.StatusCode != 200 {
				b.Fatalf("CONNECT %d", resp.StatusCode)
			}
			echo(b, c, br)
			c.Close()
		}
	})
}

// naiveConnectRelay is the floor for a Go CONNECT proxy: parse the head,
// dial, answer 200, io.Copy both ways; no auth, policy or accounting.
func naiveConnectRelay(b *testing.B) string {
	return serveEach(b, func(c net.Conn) {
		req, err := http.ReadRequest(bufio.NewReader(c))
		if err != nil {
			return
		}
		o, err := net.Dial("tcp4", req.Host)
		if err != nil {
			return
		}
		defer o.Close()
		io.WriteString(c, "HTTP/1.1 200 OK\r\n\r\n")
		go func() { io.Copy(o, c); o.(*net.TCPConn).CloseWrite() }()
		io.Copy(c, o)
	}).String()
}

// serveEach listens on 127.0.0.1 until the test ends and runs handle for
// every connection in its own goroutine, closing the connection after.
func serveEach(tb testing.TB, handle func(net.Conn)) *net.TCPAddr {
	tb.Helper()
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				handle(c)
			}()
		}
	}()
	return ln.Addr().(*net.TCPAddr)
}

// BenchmarkTunnelPingPong: one op is a 512-byte message to an echo origin
// and back over an open tunnel, i.e. two relay traversals: the latency a
// keep-alive request pays for the tunnel, through the gateway and through
// a bare Go relay, beside no proxy at all.
func BenchmarkTunnelPingPong(b *testing.B) {
	port := startEcho(b)
	target := "127.0.0.1:" + strconv.Itoa(port)
	run := func(b *testing.B, c net.Conn, r io.Reader) {
		msg := make([]byte, 512)
		b.ReportAllocs()
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			if _, err := c.Write(msg); err != nil {
				b.Fatal(err)
			}
			if _, err := io.ReadFull(r, msg); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.Run("direct", func(b *testing.B) {
		c, err := net.Dial("tcp4", target)
		if err != nil {
			b.Fatal(err)
		}
		defer c.Close()
		run(b, c, c)
	})
	b.Run("naive", func(b *testing.B) {
		c, err := net.Dial("tcp4", naiveConnectRelay(b))
		if err != nil {
			b.Fatal(err)
		}
		defer c.Close()
		br := bufio.NewReader(c)
		if resp, _ := sendRaw(b, c, br, "CONNECT "+target+" HTTP/1.1\r\nHost: x\r\n\r\n"); resp.StatusCode != 200 {
			b.Fatalf("CONNECT %d", resp.StatusCode)
		}
		run(b, c, br)
	})
	b.Run("gateway", func(b *testing.B) {
		g := startGateway(b, nil)
		c := g.dial(b)
		_ = c.SetDeadline(time.Time{})
		br := bufio.NewReader(c)
		if resp, _ := sendRaw(b, c, br, connectReq("allowed.test:"+strconv.Itoa(port), true)); resp.StatusCode != 200 {
			b.Fatalf("CONNECT %d", resp.StatusCode)
		}
		run(b, c, br)
	})
}
