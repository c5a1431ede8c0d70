package proxy

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/textproto"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// h1Pool is the reverse-path loop's own HTTP/1.1 client for one credential
// route whose upstream answered in HTTP/1.1 (it did not take HTTP/2 when
// http.Transport offered it). The loop's goroutine writes the request with
// Request.Write and reads the answer with http.ReadResponse on a pooled
// connection: no reader or writer goroutine per connection and no hand-off
// per request, which measured 0.46x -> 0.57x direct through the whole
// gateway. Only a request body over h1InlineBody or of unknown length is
// written by a goroutine of its own, so that an early answer is read.
// Upstreams that speak HTTP/2 stay on http.Transport.
//
// Connections are dialled by dialL7, so the host policy, address pinning
// and the upstream proxy apply exactly as for the transport. An idle
// connection is checked with a non-blocking read before reuse: one that
// the upstream closed (or that holds unsolicited bytes) is dropped there.
type h1Pool struct {
	s     *Server
	route *credRoute
	tls   *tls.Config // nil for a loopback http:// upstream

	mu     sync.Mutex
	idle   []*h1Conn // most recently used last
	closed bool
}

const (
	h1MaxIdle       = 64
	h1IdleTimeout   = 90 * time.Second
	h1MaxHeadBytes  = 1 << 20 // as the transport's MaxResponseHeaderBytes
	h1DialAttempts  = 2       // a stale idle connection is retried once
	h1ReadAheadSize = 4 << 10
)

// The protocol a credential route's upstream was found to speak
// (credRoute.proto): unknown until the first answer through the
// transport, then HTTP/1.1 (the pool) or anything else (the transport).
const (
	protoUnknown int32 = iota
	protoHTTP1
	protoTransport
)

// learnProto records which client serves a route from an answer the
// transport got.
func (r *credRoute) learnProto(resp *http.Response) {
	if r.h1 == nil || r.proto.Load() != protoUnknown {
		return
	}
	p := protoTransport
	if resp.ProtoMajor == 1 && (resp.TLS == nil || resp.TLS.NegotiatedProtocol != "h2") {
		p = protoHTTP1
	}
	r.proto.CompareAndSwap(protoUnknown, p)
}

// h1Conn is one upstream connection of the pool.
type h1Conn struct {
	raw   net.Conn // the socket under c (c itself for http://)
	c     net.Conn
	lim   headLimit
	br    *bufio.Reader
	bw    *bufio.Writer
	used  time.Time
	reuse bool // taken from the idle list
}

func newH1Pool(s *Server, r *credRoute, base *tls.Config) *h1Pool {
	p := &h1Pool{s: s, route: r}
	if r.scheme == "https" {
		p.tls = base.Clone()
		p.tls.ServerName = r.host
		p.tls.NextProtos = []string{"http/1.1"}
		p.tls.ClientSessionCache = tls.NewLRUClientSessionCache(16)
	}
	return p
}

// get takes the most recent idle connection that is still usable, or
// dials a new one.
func (p *h1Pool) get(ctx context.Context) (*h1Conn, error) {
	for {
		p.mu.Lock()
		if p.closed {
			p.mu.Unlock()
			return nil, errors.New("the gateway is shutting down")
		}
		n := len(p.idle)
		if n == 0 {
			p.mu.Unlock()
			return p.dial(ctx)
		}
		pc := p.idle[n-1]
		p.idle[n-1] = nil
		p.idle = p.idle[:n-1]
		p.mu.Unlock()
		if time.Since(pc.used) < h1IdleTimeout && pc.alive() {
			pc.reuse = true
			return pc, nil
		}
		pc.c.Close()
	}
}

// alive reports whether an idle connection can carry a request: nothing
// may be readable on its socket (data would be unsolicited, EOF means the
// upstream closed it). It asks the kernel with a non-blocking MSG_PEEK; a
// read with an expired deadline would not, since Go's poller answers it
// without a system call.
func (pc *h1Conn) alive() bool {
	if pc.br.Buffered() > 0 {
		return false
	}
	sc, ok := pc.raw.(syscall.Conn)
	if !ok {
		return true // a chained tunnel with read-ahead: nothing to ask
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return false
	}
	idle := false
	var b [1]byte
	err = rc.Read(func(fd uintptr) bool {
		_, _, e := syscall.Recvfrom(int(fd), b[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
		idle = e == syscall.EAGAIN
		return true
	})
	return err == nil && idle
}

func (p *h1Pool) dial(ctx context.Context) (*h1Conn, error) {
	r := p.route
	ctx, cancel := context.WithTimeout(ctx, 2*p.s.cfg.DialTimeout)
	defer cancel()
	raw, err := p.s.dialL7(ctx, "tcp", joinHostPort(r.host, r.port))
	if err != nil {
		return nil, err
	}
	c := raw
	if p.tls != nil {
		tc := tls.Client(raw, p.tls)
		if err := tc.HandshakeContext(ctx); err != nil {
			raw.Close()
			return nil, err
		}
		if np := tc.ConnectionState().NegotiatedProtocol; np != "" && np != "http/1.1" {
			tc.Close()
			r.proto.Store(protoTransport) // the transport serves it from now on
			return nil, fmt.Errorf("the upstream negotiated %q when only http/1.1 was offered", np)
		}
		c = tc
	}
	pc := &h1Conn{raw: raw, c: c}
	pc.lim = headLimit{c: c, n: -1}
	pc.br = bufio.NewReaderSize(&pc.lim, h1ReadAheadSize)
	pc.bw = bufio.NewWriterSize(c, h1ReadAheadSize)
	return pc, nil
}

// put returns a connection whose last response was read to its end.
func (p *h1Pool) put(pc *h1Conn) {
	pc.used = time.Now()
	p.mu.Lock()
	if p.closed || len(p.idle) >= h1MaxIdle {
		p.mu.Unlock()
		pc.c.Close()
		return
	}
	p.idle = append(p.idle, pc)
	p.mu.Unlock()
}

// close drops every idle connection; later puts close theirs.
func (p *h1Pool) close() {
	p.mu.Lock()
	idle := p.idle
	p.idle, p.closed = nil, true
	p.mu.Unlock()
	for _, pc := range idle {
		pc.c.Close()
	}
}

// roundTrip sends req and returns the final (non-1xx) response; got1xx
// receives informational answers. The response body returns the
// connection to the pool once read to its end and closed. cur, when not
// nil, holds the connection in use, so a forced shutdown can close it.
func (p *h1Pool) roundTrip(ctx context.Context, req *http.Request, body *reverseBody, got1xx func(int, textproto.MIMEHeader) error, cur *atomic.Pointer[h1Conn]) (*http.Response, error) {
	for attempt := 1; ; attempt++ {
		pc, err := p.get(ctx)
		if err != nil {
			return nil, err
		}
		cur.Store(pc)
		resp, w, err := pc.exchange(req, got1xx)
		if err == nil {
			if resp.StatusCode == http.StatusSwitchingProtocols {
				resp.Body = &h1Upgraded{pc: pc}
			} else {
				resp.Body = &h1Body{p: p, pc: pc, resp: resp, src: resp.Body, eof: resp.Body == http.NoBody, w: w}
			}
			return resp, nil
		}
		pc.c.Close()
		cur.Store(nil)
		// An upstream may close a kept-alive connection just as it is
		// reused. Sending again is safe only when the request can be
		// repeated as it was: idempotent, and no body byte consumed.
		if pc.reuse && attempt < h1DialAttempts && staleConnErr(err) && body.count() == 0 && idempotent(req) {
			continue
		}
		if pc.reuse && staleConnErr(err) {
			return nil, fmt.Errorf("the upstream closed a kept-alive connection before it answered: %w", err)
		}
		return nil, err
	}
}

func staleConnErr(err error) bool {
	return errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE)
}

// idempotent is the set net/http's transport retries.
func idempotent(req *http.Request) bool {
	switch req.Method {
	case http.MethodGet, http.MethodHead, http.MethodOptions, http.MethodTrace:
		return req.Body == nil
	}
	_, key := req.Header["Idempotency-Key"]
	_, xkey := req.Header["X-Idempotency-Key"]
	return (key || xkey) && req.Body == nil
}

// h1InlineBody: a request body up to this size (with a known length) is
// written before the answer is read, on the loop's goroutine. A larger or
// unknown-length one is written by a goroutine of its own while the answer
// is read, so an upstream that answers early (413, 401) and stops reading
// is heard instead of failing the upload with a broken pipe.
const h1InlineBody = 64 << 10

// h1WriteGrace is how long a finished response waits for its request's
// writer (which may flush its last bytes just after the answer arrived)
// before the connection is given up.
const h1WriteGrace = 100 * time.Millisecond

// h1Write is a request body still being written when the answer came.
type h1Write struct {
	done chan struct{}
	err  error
}

// exchange writes req and reads answers until the final one. A non-nil
// *h1Write means the request is still being written; the connection may
// not be reused until it is done (h1Body.Close).
func (pc *h1Conn) exchange(req *http.Request, got1xx func(int, textproto.MIMEHeader) error) (*http.Response, *h1Write, error) {
	var w *h1Write
	if req.Body == nil || (req.ContentLength >= 0 && req.ContentLength <= h1InlineBody) {
		if err := req.Write(pc.bw); err != nil {
			return nil, nil, err
		}
		if err := pc.bw.Flush(); err != nil {
			return nil, nil, err
		}
	} else {
		w = &h1Write{done: make(chan struct{})}
		go func() {
			defer close(w.done)
			if w.err = req.Write(pc.bw); w.err == nil {
				w.err = pc.bw.Flush()
			}
		}()
	}
	for {
		pc.lim.n, pc.lim.hit = h1MaxHeadBytes, false
		resp, err := http.ReadResponse(pc.br, req)
		if err != nil {
			if w != nil {
				pc.c.Close() // unblocks the writer
				<-w.done
			}
			if pc.lim.hit {
				return nil, nil, fmt.Errorf("the upstream's response head is larger than %d bytes", h1MaxHeadBytes)
			}
			return nil, nil, err
		}
		pc.lim.n = -1
		code := resp.StatusCode
		if code >= 100 && code < 200 && code != http.StatusSwitchingProtocols {
			if got1xx != nil {
				_ = got1xx(code, textproto.MIMEHeader(resp.Header))
			}
			continue
		}
		return resp, w, nil
	}
}

// h1Body is a pooled response body: read to EOF and closed, with the
// response not asking to close, its connection goes back to the pool.
type h1Body struct {
	p    *h1Pool
	pc   *h1Conn
	resp *http.Response
	src  io.ReadCloser
	eof  bool
	done bool
	w    *h1Write // the request body's writer, when it ran on its own
}

func (b *h1Body) Read(q []byte) (int, error) {
	n, err := b.src.Read(q)
	if err == io.EOF {
		b.eof = true
	}
	return n, err
}

func (b *h1Body) Close() error {
	if b.done {
		return nil
	}
	b.done = true
	reusable := b.eof && !b.resp.Close
	if w := b.w; w != nil {
		t := time.NewTimer(h1WriteGrace)
		select {
		case <-w.done:
			reusable = reusable && w.err == nil
		case <-t.C:
			// Answered before the upload ended: the connection carries
			// the rest of a body nobody reads, so it goes.
			reusable = false
			b.pc.c.Close()
			<-w.done
		}
		t.Stop()
	}
	if reusable {
		b.p.put(b.pc)
		return nil
	}
	return b.pc.c.Close()
}

// h1Upgraded is the connection after a 101: reads drain what the reader
// had buffered first.
type h1Upgraded struct{ pc *h1Conn }

func (u *h1Upgraded) Read(q []byte) (int, error)  { return u.pc.br.Read(q) }
func (u *h1Upgraded) Write(q []byte) (int, error) { return u.pc.c.Write(q) }
func (u *h1Upgraded) Close() error                { return u.pc.c.Close() }
