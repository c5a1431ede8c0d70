package proxy

import (
	"io"
	"net"
	"strconv"
	"sync"
	"time"
)

// capListener admits at most cap connections at once. Connections over the
// cap get a short 503 and are closed; they never reach the HTTP server.
type capListener struct {
	net.Listener
	slots     chan struct{}
	rejecting chan struct{} // bounds goroutines answering over-cap clients
	onReject  func()
}

func newCapListener(l net.Listener, limit int, onReject func()) *capListener {
	return &capListener{
		Listener:  l,
		slots:     make(chan struct{}, limit),
		rejecting: make(chan struct{}, 64),
		onReject:  onReject,
	}
}

func (l *capListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		select {
		case l.slots <- struct{}{}:
			return &slotConn{TCPConn: c.(*net.TCPConn), release: func() { <-l.slots }}, nil
		default:
		}
		l.onReject()
		select {
		case l.rejecting <- struct{}{}:
			go func() {
				defer func() { <-l.rejecting }()
				rejectOverCap(c)
			}()
		default:
			c.Close()
		}
	}
}

var overCapBody = "nono: the gateway is at its connection limit; retry later\n"

var overCapResponse = []byte("HTTP/1.1 503 Service Unavailable\r\n" +
	"Content-Type: text/plain; charset=utf-8\r\n" +
	"X-Nono-Reason: " + ReasonOverCapacity + "\r\n" +
	"Connection: close\r\n" +
	"Content-Length: " + strconv.Itoa(len(overCapBody)) + "\r\n\r\n" + overCapBody)

// rejectOverCap answers 503 without reading the request, half-closes so
// the client sees the answer rather than a reset, drains briefly and closes.
func rejectOverCap(c net.Conn) {
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(time.Second))
	if _, err := c.Write(overCapResponse); err != nil {
		return
	}
	if tc, ok := c.(*net.TCPConn); ok {
		_ = tc.CloseWrite()
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(c, 64<<10))
}

// slotConn holds one connection slot until closed. It embeds the
// *net.TCPConn so a hijacked tunnel can splice on the raw socket.
type slotConn struct {
	*net.TCPConn
	// pending is what the reverse-path loop read ahead before it handed
	// the connection to the net/http server; reads return it first.
	pending []byte
	once    sync.Once
	release func()
}

func (c *slotConn) Read(p []byte) (int, error) {
	if len(c.pending) > 0 {
		n := copy(p, c.pending)
		c.pending = c.pending[n:]
		return n, nil
	}
	return c.TCPConn.Read(p)
}

func (c *slotConn) Close() error {
	err := c.TCPConn.Close()
	c.once.Do(c.release)
	return err
}
