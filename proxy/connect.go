package proxy

import (
	"bytes"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

var connectEstablished = []byte("HTTP/1.1 200 Connection Established\r\n\r\n")

// handleConnect: auth, target parse, policy, dial (direct to the checked
// addresses or through the upstream), 200, then an opaque relay.
func (s *Server) handleConnect(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	ev := Event{Time: start, Mode: ModeConnect, Decision: DecisionDeny, Method: http.MethodConnect}
	deny := func(status int, reason, detail string) {
		ev.Status, ev.Reason, ev.Duration = status, reason, time.Since(start)
		s.reply(w, status, reason, detail)
		s.record(ev)
	}
	if !s.authorized(r.Header) {
		deny(http.StatusProxyAuthRequired, ReasonAuth, "proxy authentication required: use the proxy URL nono provides (user nono, password = session token)")
		return
	}
	if r.ContentLength != 0 || len(r.TransferEncoding) > 0 {
		deny(http.StatusBadRequest, ReasonBadRequest, "CONNECT must not carry a body")
		return
	}
	rawHost, port, err := splitAuthority(r.RequestURI)
	if err != nil {
		ev.Host = sanitizeForEcho(r.RequestURI)
		deny(http.StatusBadRequest, ReasonInvalidHost, "bad CONNECT target: "+err.Error()+"; use CONNECT host:port")
		return
	}
	ev.Port = port
	if h, err := NormalizeHost(rawHost); err == nil && s.l7.intercepted(h) {
		s.handleIntercept(w, r, h, port)
		return
	}
	rt := s.decide(r.Context(), rawHost, port)
	ev.Host = rt.d.Host
	if ev.Host == "" {
		ev.Host = sanitizeForEcho(rawHost)
	}
	if !rt.d.Allow {
		deny(s.denyStatus(rt.d), rt.d.Reason, rt.d.Detail)
		return
	}

	var origin *net.TCPConn
	var pending []byte
	if rt.chained {
		ev.Upstream = s.upstream.Addr()
		origin, pending, err = s.dialTunnel(r.Context(), joinHostPort(rt.d.Host, port))
	} else {
		origin, err = s.dialPinned(r.Context(), rt.addrs)
	}
	if err != nil {
		deny(http.StatusBadGateway, ReasonUpstream, "cannot connect to "+joinHostPort(rt.d.Host, port)+": "+oneLine(err))
		return
	}

	hj, ok := w.(http.Hijacker)
	if !ok {
		origin.Close()
		deny(http.StatusInternalServerError, ReasonBadRequest, "connection cannot be tunnelled")
		return
	}
	conn, brw, err := hj.Hijack()
	if err != nil {
		origin.Close()
		return
	}
	client := conn.(*slotConn)
	t := &tunnel{client: client, origin: origin, idle: s.cfg.TunnelIdleTimeout}
	if !s.addTunnel(t) {
		t.close()
		return
	}
	defer s.removeTunnel(t)

	ev.Decision, ev.Status, ev.Reason = DecisionAllow, http.StatusOK, ReasonAllowed
	// Bytes the client sent straight after its CONNECT head are tunnel data.
	var early []byte
	if n := brw.Reader.Buffered(); n > 0 {
		early, _ = brw.Reader.Peek(n)
	}
	if len(client.pending) > 0 {
		// Read ahead by the reverse-path loop and not yet consumed; the
		// relay below works on the raw socket, so it goes with early.
		early = append(bytes.Clone(early), client.pending...)
		client.pending = nil
	}
	up, down := t.run(early, pending)
	ev.BytesUp, ev.BytesDown, ev.Duration = up, down, time.Since(start)
	s.record(ev)
}

func (s *Server) addTunnel(t *tunnel) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closing {
		return false
	}
	s.tunnels[t] = struct{}{}
	s.tunnelWG.Add(1)
	return true
}

func (s *Server) removeTunnel(t *tunnel) {
	s.mu.Lock()
	delete(s.tunnels, t)
	s.mu.Unlock()
	s.tunnelWG.Done()
}

// tunnel relays bytes between two TCP connections. Each direction copies
// in chunks with io.CopyN between *net.TCPConn values, which the kernel
// serves with splice(2), so user space never sees the bytes and progress is
// only known when a chunk returns. A watchdog therefore decides idleness:
// when no progress has been recorded for idle, it pokes every live
// direction (a past deadline makes its splice return with the bytes moved
// so far) and closes the tunnel only if none of them moved a byte.
type tunnel struct {
	client    *slotConn
	origin    *net.TCPConn
	idle      time.Duration
	last      atomic.Int64 // unix nanos of the last recorded progress
	closeOnce sync.Once
}

// direction is one half of the relay.
type direction struct {
	dst, src *net.TCPConn
	acks     chan bool     // one answer per poke: did bytes move?
	exited   chan struct{} // closed when the direction stops
	total    int64
}

const relayChunk = 1 << 20

func (t *tunnel) close() {
	t.closeOnce.Do(func() {
		t.client.Close()
		t.origin.Close()
	})
}

// run writes the 200, flushes early bytes and relays until both directions
// finish. It returns bytes client→origin and origin→client.
func (t *tunnel) run(early, pending []byte) (up, down int64) {
	defer t.close()
	t.last.Store(time.Now().UnixNano())
	_ = t.client.SetDeadline(time.Time{})
	if _, err := t.client.Write(connectEstablished); err != nil {
		return 0, 0
	}
	if len(pending) > 0 {
		n, err := t.client.Write(pending)
		down += int64(n)
		if err != nil {
			return up, down
		}
	}
	if len(early) > 0 {
		n, err := t.origin.Write(early)
		up += int64(n)
		if err != nil {
			return up, down
		}
	}
	ups := &direction{dst: t.origin, src: t.client.TCPConn, acks: make(chan bool, 1), exited: make(chan struct{})}
	downs := &direction{dst: t.client.TCPConn, src: t.origin, acks: make(chan bool, 1), exited: make(chan struct{})}
	finished := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); t.watch([]*direction{ups, downs}, finished) }()
	go func() { defer wg.Done(); t.pipe(ups) }()
	t.pipe(downs)
	<-ups.exited
	close(finished)
	wg.Wait()
	return up + ups.total, down + downs.total
}

// pipe copies d.src to d.dst. On EOF it half-closes d.dst so the peer sees
// the end of stream while the other direction keeps flowing. Any error
// other than a poke closes the whole tunnel.
//
// It starts with splice(2) chunks, which hold no memory however many
// tunnels are open. When a full chunk moves faster than fastChunk, the relay
// itself is the bottleneck (a bulk download on loopback or a fast LAN), and
// the direction switches to read/write through a large buffer from a
// bounded process-wide budget: measured here, that moves 1.3-1.5x the bytes
// of splice, which on loopback pays per page and is capped by the 1 MiB
// pipe an unprivileged process may have. The buffer goes back as soon as
// reads turn small (the flow slowed down) or the direction ends.
func (t *tunnel) pipe(d *direction) {
	defer close(d.exited)
	for {
		t0 := time.Now()
		n, err := io.CopyN(d.dst, d.src, relayChunk)
		if !t.settle(d, n, err) {
			return
		}
		if err != nil || n < relayChunk || time.Since(t0) >= fastChunk {
			continue
		}
		buf := bulk.get()
		if buf == nil {
			continue // budget spent: other tunnels are bulk too; keep splicing
		}
		goOn := t.copyBuffered(d, *buf)
		bulk.put(buf)
		if !goOn {
			return
		}
	}
}

// settle accounts for n bytes moved and handles err: it reports whether the
// direction should go on. EOF half-closes d.dst; a poke (deadline) is
// acknowledged; anything else closes the tunnel.
func (t *tunnel) settle(d *direction, n int64, err error) bool {
	d.total += n
	if n > 0 {
		t.last.Store(time.Now().UnixNano())
	}
	switch {
	case err == nil:
		return true
	case errors.Is(err, io.EOF):
		_ = d.dst.CloseWrite()
		return false
	case errors.Is(err, os.ErrDeadlineExceeded):
		// Only the watchdog sets deadlines (read side only): clear it,
		// then answer. An answer already waiting covers this poke too.
		_ = d.src.SetReadDeadline(time.Time{})
		select {
		case d.acks <- n > 0:
		default:
		}
		return true
	}
	t.close()
	return false
}

// copyBuffered relays through buf until a read returns less than
// smallRead bytes or fails, settling every write and the read's error. It
// reports, like settle, whether the direction goes on (back to splice).
func (t *tunnel) copyBuffered(d *direction, buf []byte) bool {
	for {
		n, rerr := d.src.Read(buf)
		for w := 0; w < n; {
			m, werr := d.dst.Write(buf[w:n])
			w += m
			if !t.settle(d, int64(m), werr) {
				return false
			}
		}
		if rerr != nil {
			return t.settle(d, 0, rerr)
		}
		if n < smallRead {
			return true
		}
	}
}

// fastChunk: a relayChunk moved faster than this (≥ 500 MB/s) marks a
// flow the relay is holding back. A variable so tests can force the
// buffered path.
var fastChunk = 2 * time.Millisecond

const (
	// smallRead: a read this short means the relay is keeping up again.
	smallRead = 64 << 10
	// bulkBufSize is the read/write size that moved the most bytes per
	// second in bench/netbench (1, 4, 8 and 16 MiB were tried).
	bulkBufSize = 4 << 20
	// bulkBufs bounds the memory bulk tunnels may hold: 8 x 4 MiB.
	bulkBufs = 8
)

// bulkBudget hands out at most bulkBufs large relay buffers at a time.
type bulkBudget struct {
	slots chan struct{}
	pool  sync.Pool
	taken atomic.Int64 // buffers handed out since start (tests check the buffered path ran)
}

var bulk = &bulkBudget{
	slots: make(chan struct{}, bulkBufs),
	pool:  sync.Pool{New: func() any { b := make([]byte, bulkBufSize); return &b }},
}

// get returns a buffer, or nil when the budget is spent. It never blocks.
func (b *bulkBudget) get() *[]byte {
	select {
	case b.slots <- struct{}{}:
		b.taken.Add(1)
		return b.pool.Get().(*[]byte)
	default:
		return nil
	}
}

func (b *bulkBudget) put(buf *[]byte) {
	b.pool.Put(buf)
	<-b.slots
}

// watch closes the tunnel after idle with no bytes in either direction.
func (t *tunnel) watch(dirs []*direction, finished <-chan struct{}) {
	timer := time.NewTimer(t.idle)
	defer timer.Stop()
	for {
		select {
		case <-finished:
			return
		case <-timer.C:
		}
		if wait := time.Until(time.Unix(0, t.last.Load()).Add(t.idle)); wait > 0 {
			timer.Reset(wait)
			continue
		}
		moved := false
		for _, d := range dirs {
			select {
			case <-d.exited:
				continue
			default:
			}
			// Only the read side is poked. A write deadline could fail
			// splice's pump while bytes it already took from the source
			// sit in Go's internal pipe, which is then thrown away with
			// them (internal/poll.putPipe): the poke would lose data. A
			// direction blocked writing to a peer that does not read
			// cannot answer; after another idle period that counts as no
			// progress.
			_ = d.src.SetReadDeadline(time.Unix(1, 0))
			wait := time.NewTimer(t.idle)
			select {
			case m := <-d.acks:
				moved = moved || m
			case <-d.exited:
			case <-wait.C:
			}
			wait.Stop()
		}
		if !moved && time.Since(time.Unix(0, t.last.Load())) >= t.idle {
			t.close()
			return
		}
		timer.Reset(t.idle)
	}
}
