package proxy

import (
	"bufio"
	"io"
	"net"
	"strconv"
	"testing"
	"time"
)

// tunnelThrough opens a CONNECT tunnel through g to a loopback origin that
// runs serve on its connection, and returns the client end and its reader.
func tunnelThrough(t *testing.T, g *testGW, serve func(net.Conn)) (net.Conn, *bufio.Reader) {
	t.Helper()
	addr := serveEach(t, serve)
	c := g.dial(t)
	br := bufio.NewReader(c)
	if resp, _ := sendRaw(t, c, br, connectReq("allowed.test:"+strconv.Itoa(addr.Port), true)); resp.StatusCode != 200 {
		t.Fatalf("CONNECT %d", resp.StatusCode)
	}
	return c, br
}

// The idle watchdog pokes a splicing direction with a deadline to learn
// whether bytes moved. A poke must never cost a byte: Go's splice moves
// data from the source into a pipe, then into the destination, and a pipe
// that still holds data when the splice fails is thrown away. So only the
// read side may be poked. This drives many pokes (a short idle timeout)
// across a stream that never pauses long enough to be idle.
func TestTunnelPokesNeverLoseBytes(t *testing.T) {
	g := startGateway(t, func(_ *PolicyConfig, c *Config) { c.TunnelIdleTimeout = 10 * time.Millisecond })
	const n = 4000
	_, br := tunnelThrough(t, g, func(c net.Conn) {
		for i := 0; i < n; i++ {
			if _, err := c.Write([]byte{byte('a' + i%26)}); err != nil {
				return
			}
			if i%2 == 0 {
				time.Sleep(time.Millisecond)
			}
		}
	})
	b, _ := io.ReadAll(br)
	// A lost byte shifts every later one, so the check is that what
	// arrived is the stream's exact prefix. On a loaded machine the origin
	// may stall longer than the 10 ms idle timeout, and the tunnel then
	// closes early, which is correct: that ends the stream, it does not
	// corrupt it.
	for i, x := range b {
		if x != byte('a'+i%26) {
			t.Fatalf("byte %d is %q, want %q: bytes were dropped", i, x, byte('a'+i%26))
		}
	}
	if len(b) < n/2 {
		t.Fatalf("only %d of %d bytes arrived; the test did too few pokes to prove anything", len(b), n)
	}
	if len(b) < n {
		t.Logf("the tunnel closed as idle after %d of %d bytes (the origin stalled); the prefix is intact", len(b), n)
	}
}

// A client that stops reading leaves the relay blocked writing to it; no
// byte moves in either direction, so the tunnel is idle and must close,
// although a read-side poke cannot reach a direction stuck in a write.
func TestTunnelClosesWhenThePeerStopsReading(t *testing.T) {
	g := startGateway(t, func(_ *PolicyConfig, c *Config) { c.TunnelIdleTimeout = 200 * time.Millisecond })
	stopped := make(chan error, 1)
	tunnelThrough(t, g, func(c net.Conn) {
		buf := make([]byte, 64<<10)
		for {
			if _, err := c.Write(buf); err != nil {
				stopped <- err
				return
			}
		}
	})
	// The client never reads.
	select {
	case <-stopped:
	case <-time.After(15 * time.Second):
		t.Fatal("the tunnel stayed open with a peer that stopped reading")
	}
}
