package proxy

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/nono-sandbox/nono/credentials"
	"github.com/nono-sandbox/nono/endpoints"
)

// l7Key carries *l7Req from the checks to Rewrite, the transport and the
// error handler.
const l7Key ctxKey = iota + 100

// l7Req is the per-request state of one request the gateway terminates.
type l7Req struct {
	route      *credRoute // nil for a host with endpoint rules only
	target     *url.URL   // upstream URL; its path is the canonical path
	hostHeader string
	transport  *http.Transport
	injectErr  error  // set by Rewrite; the transport then refuses to send
	failReason string // set by the error handler
	status     int    // upstream status (a 101 bypasses the ResponseWriter)
	upgraded   streamBytes
}

// l7Call is one request after its path was canonicalised and its route
// chosen, ready for the shared pipeline in serveL7.
type l7Call struct {
	ev        *Event
	route     *credRoute
	scheme    string
	host      string // normalised upstream host
	port      uint16
	full      string // canonical path forwarded upstream (base included)
	rel       string // path the route's rules see (base removed)
	hostRules *endpoints.Set
	transport *http.Transport
}

// policyError is a host policy denial found while dialling.
type policyError struct{ d Decision }

func (e *policyError) Error() string { return e.d.Detail }

// errInject is returned by the transport when Rewrite could not inject.
var errInject = errors.New("the credential could not be injected into the request")

const phantomMessage = "nono: missing or invalid phantom token"

func (s *Server) newL7Proxy() *httputil.ReverseProxy {
	return &httputil.ReverseProxy{
		// Rewrite runs after ReverseProxy removed the hop-by-hop headers,
		// including any named in Connection, so "Connection: x-api-key"
		// cannot remove what is injected here.
		Rewrite: func(pr *httputil.ProxyRequest) {
			st := pr.Out.Context().Value(l7Key).(*l7Req)
			st.injectErr = s.rewriteL7(pr.Out, st)
		},
		Transport: l7Transport{},
		ModifyResponse: func(resp *http.Response) error {
			// Covers 101 Switching Protocols, whose head ReverseProxy writes
			// itself after a hijack; other responses are also scrubbed by
			// scrubWriter.
			st := resp.Request.Context().Value(l7Key).(*l7Req)
			return s.checkL7Response(resp, st)
		},
		// 0: ReverseProxy itself flushes every write of an SSE response or
		// of a body of unknown length (streams), and lets known-length
		// bodies go through the server's write buffer.
		FlushInterval: 0,
		BufferPool:    copyBuffers{},
		ErrorLog:      s.cfg.ErrorLog,
		ErrorHandler:  s.l7Error,
	}
}

// rewriteL7 turns a request whose hop-by-hop headers are already removed
// into the upstream request: target URL and Host, no forwarding headers,
// and on a credential route the injected secret. A non-nil error means
// the secret could not be injected; the request must not be sent.
func (s *Server) rewriteL7(out *http.Request, st *l7Req) error {
	// A copy: a url_path route's Inject writes the secret into the
	// outgoing URL, and st.target must stay secret-free.
	u := *st.target
	out.URL = &u
	out.Host = st.hostHeader
	stripForwarding(out.Header)
	if st.route == nil {
		return nil
	}
	// No WebSocket extension may be negotiated: compressed frames would
	// hide the secret from wsScrubReader.
	out.Header.Del("Sec-WebSocket-Extensions")
	err := st.route.route.Inject(out, st.route.secret)
	// Let the transport negotiate (and undo) compression, so the body the
	// scrubber reads is plain.
	out.Header.Del("Accept-Encoding")
	return err
}

// checkL7Response scrubs the upstream's answer before any of it reaches
// the client, wraps its body (or, for a 101, the upgraded stream) in the
// secret scrubber, and refuses what cannot be checked. An error means the
// response must not be relayed.
func (s *Server) checkL7Response(resp *http.Response, st *l7Req) error {
	st.status = resp.StatusCode
	s.scrubHeader(st.route, resp.Header)
	if st.route != nil && resp.StatusCode != http.StatusSwitchingProtocols && resp.Body != nil && resp.Body != http.NoBody {
		// An endpoint that echoes the request (httpbin-like, or a hostile
		// upstream) must not hand the secret to the child.
		if !identityEncoding(resp.Header.Get("Content-Encoding")) {
			return errCompressedBody
		}
		resp.Body = newScrubReader(resp.Body, st.route.needles)
	}
	var down func(io.Reader) io.Reader
	if st.route != nil && resp.StatusCode == http.StatusSwitchingProtocols {
		// What the upstream sends after the upgrade is checked for the
		// secret like a body; only WebSocket framing is understood, so
		// anything else is refused.
		if !strings.EqualFold(resp.Header.Get("Upgrade"), "websocket") {
			return errors.New("only WebSocket upgrades are relayed on credential routes (their frames are checked for the credential)")
		}
		if resp.Header.Get("Sec-WebSocket-Extensions") != "" {
			return errors.New("the upstream negotiated a WebSocket extension nono did not offer")
		}
		needles := st.route.needles
		down = func(r io.Reader) io.Reader { return newWSScrubReader(r, needles) }
	}
	countUpgraded(resp, &st.upgraded, down, s.cfg.TunnelIdleTimeout)
	return nil
}

// copyBuffers recycles the 32 KiB body copy buffers across requests.
type copyBuffers struct{}

var copyBufferPool = sync.Pool{New: func() any { b := make([]byte, 32<<10); return &b }}

func (copyBuffers) Get() []byte  { return *copyBufferPool.Get().(*[]byte) }
func (copyBuffers) Put(b []byte) { copyBufferPool.Put(&b) }

// stripForwarding removes Proxy-*, Forwarded and X-Forwarded-* headers.
func stripForwarding(h http.Header) {
	for k := range h {
		switch {
		case hasPrefixFold(k, "Proxy-"), hasPrefixFold(k, "X-Forwarded-"), strings.EqualFold(k, "Forwarded"):
			delete(h, k)
		}
	}
}

func hasPrefixFold(s, prefix string) bool {
	return len(s) >= len(prefix) && strings.EqualFold(s[:len(prefix)], prefix)
}

type l7Transport struct{}

func (l7Transport) RoundTrip(r *http.Request) (*http.Response, error) {
	st, _ := r.Context().Value(l7Key).(*l7Req)
	if st == nil || st.transport == nil {
		return nil, errors.New("request reached the transport without a gateway decision")
	}
	if st.injectErr != nil {
		return nil, errInject
	}
	return st.transport.RoundTrip(r)
}

func (s *Server) l7Error(w http.ResponseWriter, r *http.Request, err error) {
	st := r.Context().Value(l7Key).(*l7Req)
	s.l7Fail(w, st, err)
}

// l7Fail answers an exchange that failed before the upstream's response
// reached the client, and notes why in st.
func (s *Server) l7Fail(w http.ResponseWriter, st *l7Req, err error) {
	var pe *policyError
	switch {
	case errors.As(err, &pe):
		st.failReason = pe.d.Reason
		s.replyJSON(w, s.denyStatus(pe.d), pe.d.Reason, "nono: "+pe.d.Detail)
	case errors.Is(err, errCompressedBody):
		st.failReason = ReasonUpstream
		s.replyJSON(w, http.StatusBadGateway, ReasonUpstream, "nono: "+err.Error())
	case errors.Is(err, errInject):
		st.failReason = ReasonInject
		s.replyJSON(w, http.StatusBadGateway, ReasonInject, "nono: the credential for route "+st.route.name+" could not be injected; check the stored secret")
	default:
		st.failReason = ReasonUpstream
		msg := "nono: cannot reach upstream " + st.target.Host + ": " + oneLine(err)
		s.replyJSON(w, http.StatusBadGateway, ReasonUpstream, s.redactText(st.route, msg))
	}
}

// dialL7 is the upstream dialer of the credential gateway: the host policy
// (normalise, deny, allow, resolve once, deny floor) decides, and only the
// checked addresses are dialled, or the upstream proxy is asked to CONNECT.
// It runs only when the pool needs a new connection.
func (s *Server) dialL7(ctx context.Context, _, addr string) (net.Conn, error) {
	rawHost, port, err := splitAuthority(addr)
	if err != nil {
		return nil, fmt.Errorf("bad upstream address: %w", err)
	}
	rt := s.decide(ctx, rawHost, port)
	if !rt.d.Allow {
		return nil, &policyError{rt.d}
	}
	if rt.chained {
		c, pending, err := s.dialTunnel(ctx, joinHostPort(rt.d.Host, port))
		if err != nil {
			return nil, err
		}
		if len(pending) > 0 {
			return &prefixConn{Conn: c, r: io.MultiReader(bytes.NewReader(pending), c)}, nil
		}
		return c, nil
	}
	ctx, cancel := context.WithTimeout(ctx, s.cfg.DialTimeout*time.Duration(max(1, len(rt.addrs))))
	defer cancel()
	c, err := s.dialPinned(ctx, rt.addrs)
	if err != nil {
		return nil, err
	}
	return c, nil
}

// prefixConn replays bytes read ahead before the connection's own.
type prefixConn struct {
	net.Conn
	r io.Reader
}

func (c *prefixConn) Read(p []byte) (int, error) { return c.r.Read(p) }

// precheck is the pure part of the policy for an L7 target: the loop check
// and the name-level policy. Resolution happens when dialling.
func (s *Server) precheck(host string, port uint16) Decision {
	if s.isSelfTarget(host, port) {
		return Decision{Host: host, Port: port, Reason: ReasonLoop, Detail: "the target is this gateway itself (proxy loop)"}
	}
	return s.policy.Check(host, port)
}

// refusedMethod: TRACE and TRACK echo the request (with the injected
// secret) back to the client; CONNECT has no meaning on these paths.
func refusedMethod(m string) bool {
	return strings.EqualFold(m, "TRACE") || strings.EqualFold(m, "TRACK") || m == http.MethodConnect
}

// requestPath is the escaped path of a request target, without the query:
// the origin-form target itself, or the path of an absolute-form URL.
func requestPath(uri string) string {
	if !strings.HasPrefix(uri, "/") {
		if i := strings.Index(uri, "://"); i >= 0 {
			rest := uri[i+3:]
			j := strings.IndexAny(rest, "/?")
			if j < 0 || rest[j] == '?' {
				return "/"
			}
			uri = rest[j:]
		}
	}
	p, _, _ := strings.Cut(uri, "?")
	return p
}

// normalizeFor canonicalises a raw path strictly when rules apply.
func normalizeFor(raw string, strict bool) (string, error) {
	if strict {
		return endpoints.NormalizePath(raw)
	}
	return endpoints.NormalizePathEncodedSlash(raw)
}

// pickRoute chooses, among the credential routes of one host and port
// (longest base path first), the one whose base path contains p.
func pickRoute(routes []*credRoute, p string) (*credRoute, string, string) {
	for i, c := range routes {
		if c.base == "" || p == c.base || strings.HasPrefix(p, c.base+"/") {
			for _, o := range routes[i+1:] {
				if o.base == c.base {
					return nil, ReasonAmbiguousRoute, fmt.Sprintf("nono: credential routes %s and %s both serve this URL; use their base URLs (/%s/, /%s/) instead", c.name, o.name, c.name, o.name)
				}
			}
			return c, "", ""
		}
	}
	return nil, ReasonEndpoint, "nono: the path is outside the base path of every credential route for this host"
}

// serveHostPath runs the intercept and forward pipeline for a request to a
// credential or rules host: pick the route by base path, canonicalise, then
// serveL7.
func (s *Server) serveHostPath(w http.ResponseWriter, r *http.Request, ev *Event, scheme, host string, port uint16, routes []*credRoute) {
	raw := requestPath(r.RequestURI)
	ev.Path = s.auditPath(sanitizeForEcho(raw))
	if refusedMethod(r.Method) {
		s.l7Deny(w, ev, http.StatusMethodNotAllowed, ReasonMethod, "nono: method "+ev.Method+" is not allowed through the credential gateway")
		return
	}
	hostRules := s.l7.hostRules[host]
	p, err := endpoints.NormalizePathEncodedSlash(raw)
	if err != nil {
		s.l7Deny(w, ev, http.StatusBadRequest, ReasonBadPath, "nono: "+s.auditPath(err.Error()))
		return
	}
	var rt *credRoute
	if len(routes) > 0 {
		var reason, msg string
		if rt, reason, msg = pickRoute(routes, p); rt == nil {
			s.l7Deny(w, ev, http.StatusForbidden, reason, msg)
			return
		}
		ev.Service = rt.name
	}
	if hostRules.Len() > 0 || (rt != nil && rt.rules.Len() > 0) {
		if p, err = endpoints.NormalizePath(raw); err != nil {
			s.l7Deny(w, ev, http.StatusBadRequest, ReasonBadPath, "nono: "+s.auditPath(err.Error()))
			return
		}
	}
	c := &l7Call{ev: ev, route: rt, scheme: scheme, host: host, port: port, full: p, rel: p, hostRules: hostRules, transport: s.l7.plain}
	if rt != nil {
		c.rel = strings.TrimPrefix(p, rt.base)
		if c.rel == "" {
			c.rel = "/"
		}
		c.transport = rt.transport
	}
	s.serveL7(w, r, c)
}

// serveL7 is the shared pipeline: phantom check, endpoint rules, policy,
// then the proxied exchange with injection and response scrubbing. Nothing
// reaches the upstream unless every check passed.
func (s *Server) serveL7(w http.ResponseWriter, r *http.Request, c *l7Call) {
	target := s.checkL7(w, r, c)
	if target == nil {
		return
	}
	ev := c.ev
	// One allocation for the per-request state, the body counter and the
	// two response writer wrappers.
	x := &l7Exchange{}
	st := &x.st
	s.initL7Req(st, c, target)

	if r.Body != nil && r.Body != http.NoBody {
		x.body = countingBody{ReadCloser: r.Body, n: &x.up}
		r.Body = &x.body
	}
	cw := &x.cw
	cw.ResponseWriter = w
	sw := &x.sw
	*sw = scrubWriter{ResponseWriter: cw, s: s, route: c.route}
	r = r.WithContext(context.WithValue(r.Context(), l7Key, st))
	func() {
		// A broken stream aborts the handler (http.ErrAbortHandler); the
		// audit event is still written.
		defer func() {
			s.finishL7(ev, st, cw.status, x.up.Load(), cw.n)
		}()
		s.l7proxy.ServeHTTP(sw, r)
		s.scrubHeader(c.route, sw.Header()) // trailers are sent after return
	}()
}

// checkL7 runs every check of the pipeline that comes before the upstream:
// the phantom, the endpoint rules and the host policy. It returns the
// upstream URL, or nil after it answered w with the refusal and recorded
// the event.
func (s *Server) checkL7(w http.ResponseWriter, r *http.Request, c *l7Call) *url.URL {
	ev := c.ev
	ev.Host, ev.Port = c.host, c.port
	ev.Path = s.auditPath(c.full)
	unescaped, err := url.PathUnescape(c.full)
	if err != nil {
		s.l7Deny(w, ev, http.StatusBadRequest, ReasonBadPath, "nono: malformed path")
		return nil
	}
	target := &url.URL{Scheme: c.scheme, Host: joinHostPort(c.host, c.port), Path: unescaped, RawPath: c.full, RawQuery: r.URL.RawQuery}
	if c.route != nil {
		probe := *r
		probe.URL = target
		tok, err := credentials.ExtractPhantom(&probe, c.route.route)
		ok := err == nil && s.phantomOK(tok)
		wipe(tok)
		if !ok {
			s.l7Deny(w, ev, http.StatusUnauthorized, ReasonPhantom, phantomMessage)
			return nil
		}
	}
	if c.hostRules.Len() == 0 && c.route.rulesOrNil().Len() == 0 {
		// No rules to match. Allow on an empty set only re-normalises the
		// path, which every caller already canonicalised (c.full and its
		// suffix c.rel), and checks the method; check the method alone.
		if _, _, err := (*endpoints.Set)(nil).Allow(r.Method, "/"); err != nil {
			s.l7Deny(w, ev, http.StatusBadRequest, ReasonBadPath, "nono: "+s.auditPath(err.Error()))
			return nil
		}
	} else {
		for _, chk := range []struct {
			set  *endpoints.Set
			path string
		}{{c.hostRules, c.full}, {c.route.rulesOrNil(), c.rel}} {
			allowed, _, err := chk.set.Allow(r.Method, chk.path)
			if err != nil {
				s.l7Deny(w, ev, http.StatusBadRequest, ReasonBadPath, "nono: "+s.auditPath(err.Error()))
				return nil
			}
			if !allowed {
				s.l7Deny(w, ev, http.StatusForbidden, ReasonEndpoint, fmt.Sprintf("nono: endpoint denied: %s %s", ev.Method, s.auditPath(chk.path)))
				return nil
			}
		}
	}
	if d := s.l7Precheck(c); !d.Allow {
		s.l7Deny(w, ev, s.denyStatus(d), d.Reason, "nono: "+d.Detail)
		return nil
	}
	if s.upstream != nil && !s.bypass.Match(c.host) {
		ev.Upstream = s.upstream.Addr()
	}
	return target
}

// initL7Req sets up the per-request state for a call that passed checkL7.
func (s *Server) initL7Req(st *l7Req, c *l7Call, target *url.URL) {
	st.route, st.target, st.transport, st.hostHeader = c.route, target, c.transport, bracketHost(c.host)
	if c.route != nil {
		st.hostHeader = c.route.hostHeader
	} else if (c.scheme == "https" && c.port != 443) || (c.scheme == "http" && c.port != 80) {
		st.hostHeader = joinHostPort(c.host, c.port)
	}
}

// finishL7 completes and records the event of an exchange: status is what
// reached the client (0 when nothing did), up and down the body bytes.
func (s *Server) finishL7(ev *Event, st *l7Req, status int, up, down int64) {
	ev.Status, ev.BytesUp, ev.BytesDown, ev.Duration = status, up+st.upgraded.up.Load(), down+st.upgraded.down.Load(), time.Since(ev.Time)
	if ev.Status == 0 {
		ev.Status = st.status
	}
	switch {
	case st.failReason != "":
		ev.Reason = st.failReason
	case ev.Status == 0:
		ev.Reason = ReasonUpstream
	default:
		ev.Decision, ev.Reason = DecisionAllow, ReasonAllowed
	}
	s.record(*ev)
}

// l7Exchange is the per-request state of serveL7, allocated once.
type l7Exchange struct {
	st   l7Req
	up   atomic.Int64
	body countingBody
	cw   countingWriter
	sw   scrubWriter
}

// l7Precheck is precheck for the call's target. A credential route's own
// host and port always get the same answer (the policy and the listening
// address do not change once serving), so it is computed once per route.
func (s *Server) l7Precheck(c *l7Call) Decision {
	rt := c.route
	if rt == nil || c.host != rt.host || c.port != rt.port {
		return s.precheck(c.host, c.port)
	}
	if d := rt.pre.Load(); d != nil {
		return *d
	}
	d := s.precheck(c.host, c.port)
	rt.pre.Store(&d)
	return d
}

func (r *credRoute) rulesOrNil() *endpoints.Set {
	if r == nil {
		return nil
	}
	return r.rules
}

func (s *Server) phantomOK(tok []byte) bool {
	s.tokenMu.RLock()
	defer s.tokenMu.RUnlock()
	return credentials.PhantomMatches(tok, s.token)
}

// auditPath removes the phantom token (a url_path route carries it in the
// path) from text that goes to the audit stream or back to the client.
func (s *Server) auditPath(p string) string {
	s.tokenMu.RLock()
	defer s.tokenMu.RUnlock()
	if len(s.token) == 0 {
		return p
	}
	// Views, not copies: the token stays in memory Shutdown wipes.
	p = strings.ReplaceAll(p, bytesView(s.token), "[phantom]")
	if len(s.tokenEsc) > 0 {
		p = strings.ReplaceAll(p, bytesView(s.tokenEsc), "[phantom]")
	}
	return p
}

// redactText removes every wire form of the route's secret from text.
func (s *Server) redactText(r *credRoute, text string) string {
	if r == nil {
		return text
	}
	s.tokenMu.RLock()
	defer s.tokenMu.RUnlock()
	for _, n := range r.needles {
		if len(n) > 0 {
			text = strings.ReplaceAll(text, bytesView(n), "[redacted]")
		}
	}
	return text
}

// scrubHeader drops every header whose name or value holds the route's
// secret in any wire form, so an upstream that echoes request headers
// cannot hand the secret to the child.
func (s *Server) scrubHeader(r *credRoute, h http.Header) {
	if r == nil {
		return
	}
	s.tokenMu.RLock()
	defer s.tokenMu.RUnlock()
	for k, vs := range h {
		if holdsAny(k, r.needles) {
			delete(h, k)
			continue
		}
		for _, v := range vs {
			if holdsAny(v, r.needles) {
				delete(h, k)
				break
			}
		}
	}
}

func holdsAny(s string, needles [][]byte) bool {
	for _, n := range needles {
		if len(n) > 0 && strings.Contains(s, bytesView(n)) {
			return true
		}
	}
	return false
}

// bytesView is b as a string without a copy, for a search that does not
// keep it. string(b) would put a copy of the secret on the heap (for more
// than 32 bytes) on every call, where Shutdown cannot wipe it. The caller
// holds tokenMu, so the bytes are not wiped during the search.
func bytesView(b []byte) string {
	return unsafe.String(unsafe.SliceData(b), len(b))
}

// scrubWriter scrubs the header map every time it is about to be sent:
// 1xx informational heads (ReverseProxy copies them straight through),
// the final head, and (by the caller, after ServeHTTP) the trailers.
type scrubWriter struct {
	http.ResponseWriter
	s     *Server
	route *credRoute
	final bool
}

func (w *scrubWriter) WriteHeader(code int) {
	w.s.scrubHeader(w.route, w.Header())
	if code >= 200 || code == http.StatusSwitchingProtocols {
		w.final = true
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *scrubWriter) Write(p []byte) (int, error) {
	if !w.final {
		w.s.scrubHeader(w.route, w.Header())
		w.final = true
	}
	return w.ResponseWriter.Write(p)
}

// Unwrap keeps Flush and Hijack reachable through http.ResponseController.
func (w *scrubWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// l7Deny answers a refusal with a JSON body and records the event.
func (s *Server) l7Deny(w http.ResponseWriter, ev *Event, status int, reason, msg string) {
	ev.Decision, ev.Status, ev.Reason, ev.Duration = DecisionDeny, status, reason, time.Since(ev.Time)
	s.replyJSON(w, status, reason, msg)
	s.record(*ev)
}

// replyJSON writes {"error": msg} with the reason code header.
func (s *Server) replyJSON(w http.ResponseWriter, status int, reason, msg string) {
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Nono-Reason", reason)
	w.WriteHeader(status)
	b, _ := json.Marshal(struct {
		Error string `json:"error"`
	}{sanitizeForEcho(msg)})
	_, _ = w.Write(append(b, '\n'))
}
