package proxy

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"mime"
	"net"
	"net/http"
	"net/http/httptrace"
	"net/http/httputil"
	"net/textproto"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/net/http/httpguts"
)

// The reverse-path connection loop.
//
// With credential routes, the gateway's listener is served by this loop
// instead of net/http's server. One goroutine per client connection reads
// a request with http.ReadRequest, runs the same checks as every other
// path (reverseCall and checkL7: route, method, canonical path, phantom,
// endpoint rules, host policy), sends it with the route's http.Transport
// and writes the scrubbed answer back itself. net/http's server costs a
// goroutine hand-off per request (its background reader) and a response
// writer built for the general case; on this path, which every SDK call of
// the child takes, that was most of the gateway's CPU (bench/README.md,
// "Credential reverse path").
//
// The loop serves only origin-form requests. Before it parses anything it
// peeks at the request line; CONNECT, absolute-form targets, a line that
// does not fit its buffer or anything else unusual hands the connection,
// with the bytes already buffered, to the net/http server, which then owns
// it for good. So the proxy paths (CONNECT, http:// forwarding, TLS
// interception) are unchanged.

const (
	reverseBufSize = 4 << 10
	// maxDrain is how much of an unread request body is read and dropped
	// to keep a connection; more closes it (net/http uses the same bound).
	maxDrain = 256 << 10
	// lingerTime bounds the wait for a client to stop sending after a
	// refusal, so the kernel does not reset the answer away.
	lingerTime = 500 * time.Millisecond
)

// hopHeaders are removed in both directions, with any header that
// Connection names (RFC 9110 §7.6.1), as httputil.ReverseProxy does.
var hopHeaders = []string{
	"Connection", "Proxy-Connection", "Keep-Alive", "Proxy-Authenticate",
	"Proxy-Authorization", "Te", "Trailer", "Transfer-Encoding", "Upgrade",
}

func removeHopByHop(h http.Header) {
	for _, f := range h["Connection"] {
		for _, name := range strings.Split(f, ",") {
			if name = textproto.TrimString(name); name != "" {
				h.Del(name)
			}
		}
	}
	for _, k := range hopHeaders {
		delete(h, k)
	}
}

// upgradeType is the protocol a request or response switches to, or "".
func upgradeType(h http.Header) string {
	if !httpguts.HeaderValuesContainsToken(h["Connection"], "Upgrade") {
		return ""
	}
	return h.Get("Upgrade")
}

// reverseLoopEnabled: the loop serves the credential routes' reverse path.
func (s *Server) reverseLoopEnabled() bool {
	return s.l7 != nil && len(s.l7.routes) > 0
}

// acceptReverse accepts on the gateway's listener for the loop.
func (s *Server) acceptReverse(l net.Listener) {
	var delay time.Duration
	for {
		c, err := l.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			// Out of descriptors and the like: back off as net/http does.
			delay = min(max(2*delay, 5*time.Millisecond), time.Second)
			s.cfg.ErrorLog.Printf("nono gateway: accept: %v; retrying in %v", err, delay)
			time.Sleep(delay)
			continue
		}
		delay = 0
		go s.serveReverseConn(c.(*slotConn))
	}
}

// reverseConn is one client connection in the loop.
type reverseConn struct {
	s      *Server
	c      *slotConn
	lim    headLimit
	br     *bufio.Reader
	bw     *bufio.Writer
	ctx    context.Context
	cancel context.CancelFunc
	rec    replyBuffer
	// upstream is the pooled upstream connection in use, closed by a
	// forced shutdown.
	upstream atomic.Pointer[h1Conn]
	// watchTimer starts the hang-up watcher of the exchange in watched
	// (watchClient); both belong to the loop's goroutine except while the
	// timer's function runs, which stopWatch waits for.
	watchTimer *time.Timer
	watched    *reverseExchange

	mu     sync.Mutex // guards active, and writes of 100 Continue
	active bool       // a request is being served
	// respStarted is set (under mu) before the final answer is written,
	// after which no 100 Continue may be.
	respStarted bool
}

// headLimit is the reader under br. While a request head is read it lets
// at most n more bytes through (n < 0: no limit), so a client cannot grow
// a head without bound; hit records that the limit was reached.
type headLimit struct {
	c   net.Conn
	n   int64
	hit bool
}

func (l *headLimit) Read(p []byte) (int, error) {
	if l.n < 0 {
		return l.c.Read(p)
	}
	if l.n == 0 {
		l.hit = true
		return 0, io.EOF
	}
	if int64(len(p)) > l.n {
		p = p[:l.n]
	}
	n, err := l.c.Read(p)
	l.n -= int64(n)
	return n, err
}

func (s *Server) serveReverseConn(c *slotConn) {
	rc := &reverseConn{s: s, c: c}
	rc.lim = headLimit{c: c, n: -1}
	rc.br = bufio.NewReaderSize(&rc.lim, reverseBufSize)
	rc.bw = bufio.NewWriterSize(c, reverseBufSize)
	rc.ctx, rc.cancel = context.WithCancel(context.Background())
	if !s.trackReverse(rc) {
		rc.cancel()
		c.Close()
		return
	}
	handedOff := false
	defer func() {
		rc.cancel()
		if rc.watchTimer != nil {
			rc.watchTimer.Stop()
		}
		s.untrackReverse(rc)
		if !handedOff {
			c.Close()
		}
	}()
	wait := s.cfg.HeaderTimeout // the first request: as net/http's ReadHeaderTimeout
	for {
		rc.lim.n, rc.lim.hit = int64(s.cfg.MaxHeaderBytes)+reverseBufSize, false
		_ = c.SetReadDeadline(time.Now().Add(wait))
		if _, err := rc.br.Peek(1); err != nil {
			return
		}
		if !rc.setActive(true) {
			return // shutting down
		}
		_ = c.SetReadDeadline(time.Now().Add(s.cfg.HeaderTimeout))
		ours, err := rc.classify()
		if err != nil {
			return
		}
		if !ours {
			handedOff = s.handOff(rc)
			return
		}
		if !rc.serveOne() {
			return
		}
		if !rc.setActive(false) {
			return
		}
		wait = s.cfg.ClientIdleTimeout
	}
}

// classify peeks at the request line: true for an origin-form request the
// loop serves, false for anything to hand to net/http.
func (rc *reverseConn) classify() (bool, error) {
	for {
		b, _ := rc.br.Peek(rc.br.Buffered())
		if i := bytes.IndexByte(b, '\n'); i >= 0 {
			line := b[:i]
			sp := bytes.IndexByte(line, ' ')
			if sp <= 0 || sp+1 >= len(line) || line[sp+1] != '/' || string(line[:sp]) == http.MethodConnect {
				return false, nil
			}
			return true, nil
		}
		if len(b) >= rc.br.Size() {
			return false, nil // a long request line: net/http's limits apply
		}
		if _, err := rc.br.Peek(len(b) + 1); err != nil {
			return false, err
		}
	}
}

// handOff gives the connection, with what was read ahead, to the net/http
// server. It reports whether the server took it.
func (s *Server) handOff(rc *reverseConn) bool {
	rc.lim.n = -1
	_ = rc.c.SetReadDeadline(time.Time{})
	if n := rc.br.Buffered(); n > 0 {
		b, _ := rc.br.Peek(n)
		rc.c.pending = bytes.Clone(b)
	}
	return s.mainQ.push(rc.c)
}

func (rc *reverseConn) setActive(a bool) bool {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	if rc.s.reverseClosing.Load() {
		return false
	}
	rc.active, rc.respStarted = a, false
	return true
}

// serveOne reads and answers one request. It reports whether the
// connection may carry another.
func (rc *reverseConn) serveOne() bool {
	s := rc.s
	req, err := http.ReadRequest(rc.br)
	if err != nil {
		if rc.lim.hit {
			rc.badRequest(http.StatusRequestHeaderFieldsTooLarge, "request header fields too large")
		} else if !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) && !isTimeout(err) {
			rc.badRequest(http.StatusBadRequest, "malformed request")
		}
		return false
	}
	rc.lim.n = -1
	_ = rc.c.SetReadDeadline(time.Time{})
	if code, msg := checkHead(req); code != 0 {
		rc.badRequest(code, msg)
		return false
	}
	a := answer{http11: req.ProtoAtLeast(1, 1), head: req.Method == http.MethodHead, close: req.Close}
	body := rc.newBody(req)

	rec := &rc.rec
	rec.reset()
	c := s.reverseCall(rec, req)
	if c == nil {
		return rc.sendReply(rec, a, body)
	}
	target := s.checkL7(rec, req, c)
	if target == nil {
		return rc.sendReply(rec, a, body)
	}
	x := &reverseExchange{rc: rc, a: a, body: body, route: c.route}
	s.initL7Req(&x.st, c, target)
	keep := x.run(req)
	s.finishL7(c.ev, &x.st, x.status, body.count(), x.down)
	return keep
}

// checkHead applies the checks net/http's server makes on a request head
// before any handler sees it.
func checkHead(req *http.Request) (int, string) {
	if req.ProtoMajor != 1 {
		return http.StatusHTTPVersionNotSupported, "unsupported protocol version"
	}
	// http.ReadRequest moved Host into req.Host (the first one); the
	// reverse path replaces it with the route's upstream host anyway.
	switch {
	case req.ProtoAtLeast(1, 1) && req.Host == "":
		return http.StatusBadRequest, "missing required Host header"
	case req.Host != "" && !httpguts.ValidHostHeader(req.Host):
		return http.StatusBadRequest, "malformed Host header"
	}
	for k, vv := range req.Header {
		if !httpguts.ValidHeaderFieldName(k) {
			return http.StatusBadRequest, "invalid header name"
		}
		for _, v := range vv {
			if !httpguts.ValidHeaderFieldValue(v) {
				return http.StatusBadRequest, "invalid header value"
			}
		}
	}
	if e := req.Header.Get("Expect"); e != "" && !strings.EqualFold(e, "100-continue") {
		return http.StatusExpectationFailed, "unsupported Expect header"
	}
	return 0, ""
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// answer is what the response framing depends on in the request.
type answer struct {
	http11 bool
	head   bool
	close  bool
}

// badRequest answers a request the loop cannot parse or accept, and the
// connection is then closed.
func (rc *reverseConn) badRequest(code int, msg string) {
	rec := &rc.rec
	rec.reset()
	rc.s.reply(rec, code, ReasonBadRequest, msg)
	rc.writeReply(rec, answer{http11: true, close: true})
	rc.lingerClose()
}

// sendReply writes a refusal the checks produced and decides about the
// connection: the unread request body is drained, or the connection is
// closed.
func (rc *reverseConn) sendReply(rec *replyBuffer, a answer, body *reverseBody) bool {
	rc.startResponse()
	drained := body.finish(rc)
	a.close = a.close || !drained
	rc.writeReply(rec, a)
	if !drained {
		rc.lingerClose()
	}
	return !a.close
}

// startResponse ends the window in which a 100 Continue may be written.
func (rc *reverseConn) startResponse() {
	rc.mu.Lock()
	rc.respStarted = true
	rc.mu.Unlock()
}

func (rc *reverseConn) writeReply(rec *replyBuffer, a answer) {
	h := rec.Header()
	h["Content-Length"] = []string{strconv.Itoa(rec.body.Len())}
	rc.writeHead(rec.code, h, a)
	if !a.head {
		_, _ = rc.bw.Write(rec.body.Bytes())
	}
	_ = rc.bw.Flush()
}

// writeHead writes the status line and the header block, with the
// connection's own Connection header.
func (rc *reverseConn) writeHead(code int, h http.Header, a answer) {
	bw := rc.bw
	if a.http11 {
		bw.WriteString("HTTP/1.1 ")
	} else {
		bw.WriteString("HTTP/1.0 ")
	}
	bw.WriteString(strconv.Itoa(code))
	bw.WriteByte(' ')
	if text := http.StatusText(code); text != "" {
		bw.WriteString(text)
	} else {
		bw.WriteString("status code " + strconv.Itoa(code))
	}
	bw.WriteString("\r\n")
	switch {
	case a.close && code != http.StatusSwitchingProtocols:
		h["Connection"] = []string{"close"}
	case !a.http11:
		h["Connection"] = []string{"keep-alive"}
	}
	_ = h.Write(bw)
	bw.WriteString("\r\n")
}

// lingerClose half-closes and reads what the client still sends for a
// moment, so it sees the answer instead of a reset; the caller closes.
func (rc *reverseConn) lingerClose() {
	_ = rc.bw.Flush()
	_ = rc.c.CloseWrite()
	_ = rc.c.SetReadDeadline(time.Now().Add(lingerTime))
	_, _ = io.Copy(io.Discard, io.LimitReader(rc.c, maxDrain))
}

// replyBuffer is the http.ResponseWriter the checks answer refusals into;
// they write a small complete answer, which the loop then frames.
type replyBuffer struct {
	h    http.Header
	code int
	body bytes.Buffer
}

func (r *replyBuffer) reset() {
	clear(r.h)
	r.code = 0
	r.body.Reset()
}

func (r *replyBuffer) Header() http.Header {
	if r.h == nil {
		r.h = http.Header{}
	}
	return r.h
}

func (r *replyBuffer) WriteHeader(code int) {
	if r.code == 0 {
		r.code = code
	}
}

func (r *replyBuffer) Write(p []byte) (int, error) {
	if r.code == 0 {
		r.code = http.StatusOK
	}
	return r.body.Write(p)
}

// reverseBody is the request body as the transport reads it. It counts
// bytes, writes 100 Continue on the first read when the client asked for
// it, and is detached once the exchange is over, so the loop can drain
// what is left without racing the transport.
type reverseBody struct {
	rc       *reverseConn
	mu       sync.Mutex
	src      io.ReadCloser
	n        int64
	eof      bool
	atEOF    atomic.Bool // eof, readable without mu (watchClient)
	detached bool
	expect   bool // the client sent Expect: 100-continue
	want100  bool // 100 Continue is still to be written on the first read
	sent100  bool
	length   int64 // Content-Length, -1 when unknown (chunked)
}

var errBodyDetached = errors.New("the request is already answered")

func (rc *reverseConn) newBody(req *http.Request) *reverseBody {
	if req.Body == nil || req.Body == http.NoBody {
		return nil
	}
	b := &reverseBody{rc: rc, src: req.Body, length: req.ContentLength}
	b.expect = req.Header.Get("Expect") != "" // checkHead allows only 100-continue
	b.want100 = b.expect
	return b
}

func (b *reverseBody) Read(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.detached {
		return 0, errBodyDetached
	}
	if b.want100 {
		b.want100 = false
		rc := b.rc
		rc.mu.Lock()
		if !rc.respStarted {
			_, err := rc.c.Write([]byte("HTTP/1.1 100 Continue\r\n\r\n"))
			b.sent100 = err == nil
		}
		rc.mu.Unlock()
	}
	n, err := b.src.Read(p)
	b.n += int64(n)
	if err == io.EOF {
		b.eof = true
		b.atEOF.Store(true)
	}
	return n, err
}

// Close leaves the body to the loop, which drains or closes.
func (b *reverseBody) Close() error { return nil }

func (b *reverseBody) count() int64 {
	if b == nil {
		return 0
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.n
}

// finish detaches the body and reads what is left of it, up to maxDrain.
// It reports whether the connection is still usable.
func (b *reverseBody) finish(rc *reverseConn) bool {
	if b == nil {
		return true
	}
	// A transport still blocked in Read holds mu; the deadline frees it.
	_ = rc.c.SetReadDeadline(time.Now().Add(rc.s.cfg.HeaderTimeout))
	b.mu.Lock()
	defer b.mu.Unlock()
	b.detached = true
	switch {
	case b.eof:
		return true
	case b.expect && !b.sent100:
		// The client may still wait for 100 Continue before it sends the
		// body; nothing tells whether it is coming.
		return false
	case b.length >= 0 && b.length-b.n > maxDrain:
		return false // more than would be drained: close without reading it
	}
	n, err := io.CopyN(io.Discard, b.src, maxDrain+1)
	return err == io.EOF && n <= maxDrain
}

// reverseExchange is one request on its way upstream and back.
type reverseExchange struct {
	rc     *reverseConn
	a      answer
	body   *reverseBody
	route  *credRoute
	st     l7Req
	status int   // written to the client, 0 before
	down   int64 // body bytes written to the client
	trace  httptrace.ClientTrace

	watchState atomic.Int32 // watchPending, watchPeeking, watchOff
	watchWG    sync.WaitGroup
	cancel     context.CancelFunc // the transport request's, nil on the pool
}

// clientWatchDelay: an upstream that has not answered by then gets a
// watcher on the client connection (watchClient).
const clientWatchDelay = 500 * time.Millisecond

const (
	watchPending int32 = iota
	watchPeeking
	watchOff
)

// watchClient notices a client that hangs up while the upstream has not
// answered yet, and calls x.gone (which cancels the upstream request): an
// abandoned model call would otherwise run, and bill, to its end. net/http's
// server keeps a reader on every connection for this; the loop starts one
// only for a request still waiting after clientWatchDelay (for the answer's
// head, or for the next piece of a streamed answer), and only once the
// request body has been read to its end (before that, the transport reads
// the connection, and a client still sending is not gone). The watcher peeks
// without consuming, so a pipelined next request stays where it is.
// stopWatch must follow once the upstream answered or failed, before the
// connection is used again. The timer is the connection's, reused, so a
// fast request costs a Reset and a Stop.
func (x *reverseExchange) watchClient() {
	rc := x.rc
	rc.watched = x
	x.watchState.Store(watchPending)
	x.watchWG.Add(1)
	if rc.watchTimer == nil {
		rc.watchTimer = time.AfterFunc(clientWatchDelay, rc.watchFired)
	} else {
		rc.watchTimer.Reset(clientWatchDelay)
	}
}

// watchFired runs on the timer's goroutine.
func (rc *reverseConn) watchFired() {
	x := rc.watched
	defer x.watchWG.Done()
	if b := x.body; b != nil && !b.atEOF.Load() {
		x.watchState.CompareAndSwap(watchPending, watchOff)
		return
	}
	if !x.watchState.CompareAndSwap(watchPending, watchPeeking) {
		return
	}
	if _, err := rc.br.Peek(1); err != nil && !isTimeout(err) {
		x.gone()
	}
}

func (x *reverseExchange) stopWatch() {
	rc := x.rc
	if rc.watchTimer.Stop() {
		x.watchWG.Done()
		return
	}
	if x.watchState.CompareAndSwap(watchPending, watchOff) {
		x.watchWG.Wait()
		return
	}
	peeking := x.watchState.Load() == watchPeeking
	if peeking {
		_ = rc.c.SetReadDeadline(time.Unix(1, 0)) // wakes the peek
	}
	x.watchWG.Wait()
	if peeking {
		_ = rc.c.SetReadDeadline(time.Time{})
	}
}

// gone cancels the upstream request of a client that hung up.
func (x *reverseExchange) gone() {
	if x.cancel != nil {
		x.cancel()
		return
	}
	if pc := x.rc.upstream.Load(); pc != nil {
		pc.c.Close()
	}
}

// got1xx relays an informational answer (103 Early Hints and the like)
// with its header scrubbed, as ReverseProxy does on the other paths. It
// runs on the transport's goroutine, so it writes under rc.mu and only
// before the final answer. 100 Continue is the loop's own business (see
// reverseBody), and HTTP/1.0 clients get no 1xx at all.
func (x *reverseExchange) got1xx(code int, mh textproto.MIMEHeader) error {
	if code == http.StatusContinue || !x.a.http11 {
		return nil
	}
	h := http.Header(mh).Clone()
	removeHopByHop(h)
	x.rc.s.scrubHeader(x.route, h)
	var b bytes.Buffer
	b.WriteString("HTTP/1.1 " + strconv.Itoa(code) + " " + http.StatusText(code) + "\r\n")
	_ = h.Write(&b)
	b.WriteString("\r\n")
	rc := x.rc
	rc.mu.Lock()
	defer rc.mu.Unlock()
	if !rc.respStarted {
		_, _ = rc.c.Write(b.Bytes())
	}
	return nil
}

// run sends req upstream and relays the answer. It reports whether the
// connection may carry another request.
func (x *reverseExchange) run(req *http.Request) bool {
	s, st := x.rc.s, &x.st
	upType := upgradeType(req.Header)
	if upType != "" && !isPrintASCII(upType) {
		return x.fail(errors.New("the client asked to switch to an invalid protocol"))
	}
	teTrailers := httpguts.HeaderValuesContainsToken(req.Header["Te"], "trailers")
	removeHopByHop(req.Header)
	if teTrailers {
		req.Header["Te"] = []string{"trailers"}
	}
	if upType != "" {
		req.Header["Connection"] = []string{"Upgrade"}
		req.Header["Upgrade"] = []string{upType}
	}
	if err := s.rewriteL7(req, st); err != nil {
		return x.fail(errInject)
	}
	if _, ok := req.Header["User-Agent"]; !ok {
		req.Header["User-Agent"] = []string{""} // no Go default
	}
	req.RequestURI, req.Close = "", false
	if x.body == nil {
		req.Body, req.ContentLength = nil, 0
	} else {
		req.Body = x.body
	}
	var resp *http.Response
	var err error
	if rt := x.route; rt.proto.Load() == protoHTTP1 {
		defer x.rc.upstream.Store(nil)
		x.watchClient()
		resp, err = rt.h1.roundTrip(x.rc.ctx, req, x.body, x.got1xx, &x.rc.upstream)
		x.stopWatch()
	} else {
		ctx, cancel := context.WithCancel(x.rc.ctx)
		defer cancel()
		x.cancel = cancel
		x.trace.Got1xxResponse = x.got1xx
		x.watchClient()
		resp, err = st.transport.RoundTrip(req.WithContext(httptrace.WithClientTrace(ctx, &x.trace)))
		x.stopWatch()
		if err == nil {
			rt.learnProto(resp)
		}
	}
	if err != nil {
		return x.fail(err)
	}
	if resp.StatusCode == http.StatusSwitchingProtocols {
		return x.upgrade(resp, upType)
	}
	removeHopByHop(resp.Header)
	if err := s.checkL7Response(resp, st); err != nil {
		resp.Body.Close()
		return x.fail(err)
	}
	return x.relay(resp)
}

func isPrintASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < ' ' || s[i] > '~' {
			return false
		}
	}
	return true
}

// fail answers an exchange that broke before the upstream's answer was
// relayed, as ReverseProxy's error handler does on the other paths.
func (x *reverseExchange) fail(err error) bool {
	rc := x.rc
	rec := &rc.rec
	rec.reset()
	rc.s.l7Fail(rec, &x.st, err)
	x.status = rec.code
	return rc.sendReply(rec, x.a, x.body)
}

// relay writes the upstream's response: the scrubbed head with framing
// for this client, the body (flushed as it arrives when it is a stream),
// and for a chunked answer the scrubbed trailers.
func (x *reverseExchange) relay(resp *http.Response) bool {
	rc, a := x.rc, x.a
	defer resp.Body.Close()
	h := resp.Header
	code := resp.StatusCode
	noBody := a.head || code < 200 || code == http.StatusNoContent || code == http.StatusNotModified
	chunked := false
	if !noBody {
		delete(h, "Content-Length")
		switch {
		case resp.ContentLength >= 0:
			h["Content-Length"] = []string{strconv.FormatInt(resp.ContentLength, 10)}
		case a.http11:
			chunked = true
			h["Transfer-Encoding"] = []string{"chunked"}
		default:
			a.close = true // an HTTP/1.0 client reads to the end
		}
	} else if code == http.StatusNoContent || code < 200 {
		delete(h, "Content-Length")
	}
	if chunked && len(resp.Trailer) > 0 {
		keys := make([]string, 0, len(resp.Trailer))
		for k := range resp.Trailer {
			keys = append(keys, k)
		}
		h["Trailer"] = []string{strings.Join(keys, ", ")}
	}
	rc.startResponse()
	rc.writeHead(code, h, a)
	x.status = code
	if noBody {
		return rc.endResponse(x.body, a)
	}
	stream := chunked || isEventStream(h)
	var w io.Writer = rc.bw
	var cw io.WriteCloser
	if chunked {
		cw = httputil.NewChunkedWriter(rc.bw)
		w = cw
	}
	bp := copyBufferPool.Get().(*[]byte)
	defer copyBufferPool.Put(bp)
	buf := *bp
	for {
		if stream {
			// A stream may pause for long (a model reasoning before its
			// first token); a client that hangs up then cancels it then.
			x.watchClient()
		}
		n, rerr := resp.Body.Read(buf)
		if stream {
			x.stopWatch()
		}
		if n > 0 {
			k, werr := w.Write(buf[:n])
			x.down += int64(k)
			if werr == nil && stream {
				werr = rc.bw.Flush()
			}
			if werr != nil {
				return false // the client went away
			}
		}
		if rerr == io.EOF {
			break
		}
		if rerr != nil {
			// A broken upstream stream: the client must not take a
			// truncated body for a whole one, so no end marker is sent.
			_ = rc.bw.Flush()
			return false
		}
	}
	if chunked {
		_ = cw.Close()
		rc.s.scrubHeader(x.route, resp.Trailer)
		_ = resp.Trailer.Write(rc.bw)
		rc.bw.WriteString("\r\n")
	}
	return rc.endResponse(x.body, a)
}

// endResponse flushes the answer and settles the request body.
func (rc *reverseConn) endResponse(body *reverseBody, a answer) bool {
	if err := rc.bw.Flush(); err != nil {
		return false
	}
	if !body.finish(rc) {
		rc.lingerClose()
		return false
	}
	return !a.close
}

func isEventStream(h http.Header) bool {
	ct := h.Get("Content-Type")
	if ct == "" {
		return false
	}
	mt, _, _ := mime.ParseMediaType(ct)
	return mt == "text/event-stream"
}

// upgrade relays a 101 answer and then the two byte streams until either
// side ends; the connection is never reused.
func (x *reverseExchange) upgrade(resp *http.Response, upType string) bool {
	rc, s := x.rc, x.rc.s
	if upType == "" || !strings.EqualFold(upgradeType(resp.Header), upType) {
		resp.Body.Close()
		return x.fail(errors.New("the upstream switched protocols without being asked to"))
	}
	if err := s.checkL7Response(resp, &x.st); err != nil {
		resp.Body.Close()
		return x.fail(err)
	}
	up, ok := resp.Body.(io.ReadWriteCloser)
	if !ok {
		resp.Body.Close()
		return x.fail(errors.New("the upstream's 101 answer has no connection to relay"))
	}
	defer up.Close()
	removeHopByHop(resp.Header)
	resp.Header["Connection"] = []string{"Upgrade"}
	resp.Header["Upgrade"] = []string{upType}
	rc.startResponse()
	rc.writeHead(http.StatusSwitchingProtocols, resp.Header, x.a)
	x.status = http.StatusSwitchingProtocols
	if err := rc.bw.Flush(); err != nil {
		return false
	}
	_ = rc.c.SetDeadline(time.Time{})
	// Until either side ends; up (countUpgraded) closes itself after the
	// tunnel idle timeout with no byte either way.
	done := make(chan struct{}, 2)
	go func() {
		_, _ = io.Copy(up, rc.br) // what the client had sent ahead goes first
		done <- struct{}{}
	}()
	go func() {
		_, _ = io.Copy(rc.c.TCPConn, up)
		done <- struct{}{}
	}()
	select {
	case <-done:
	case <-rc.ctx.Done():
	}
	up.Close()
	rc.c.Close()
	<-done
	return false
}

// trackReverse registers a connection of the loop unless shutting down.
func (s *Server) trackReverse(rc *reverseConn) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closing {
		return false
	}
	s.reverseConns[rc] = struct{}{}
	s.reverseWG.Add(1)
	return true
}

func (s *Server) untrackReverse(rc *reverseConn) {
	s.mu.Lock()
	delete(s.reverseConns, rc)
	s.mu.Unlock()
	s.reverseWG.Done()
}

// shutdownReverse closes idle connections of the loop, waits for active
// ones to finish their request until ctx is done, then closes the rest.
func (s *Server) shutdownReverse(ctx context.Context) error {
	s.reverseClosing.Store(true)
	s.mu.Lock()
	for rc := range s.reverseConns {
		rc.mu.Lock()
		if !rc.active {
			_ = rc.c.SetReadDeadline(time.Now()) // wakes the idle wait
		}
		rc.mu.Unlock()
	}
	s.mu.Unlock()
	done := make(chan struct{})
	go func() { s.reverseWG.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
	}
	s.mu.Lock()
	for rc := range s.reverseConns {
		rc.cancel()
		rc.c.Close()
		if pc := rc.upstream.Load(); pc != nil {
			pc.c.Close()
		}
	}
	s.mu.Unlock()
	<-done
	return ctx.Err()
}
