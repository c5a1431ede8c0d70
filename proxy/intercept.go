package proxy

import (
	"bytes"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// interceptKey carries *interceptConn into the inner requests' contexts.
const interceptKey ctxKey = iota + 200

// interceptConn is what the inner server knows about one intercepted
// CONNECT tunnel.
type interceptConn struct {
	host   string // normalised CONNECT host
	port   uint16
	sni    string // normalised SNI the client sent
	routes []*credRoute
}

// handleIntercept serves a CONNECT to a credential or rules host: it is
// never an opaque tunnel. Either the gateway terminates TLS with a leaf of
// the session CA and serves HTTP/1.1 or h2 inside, or it refuses with 403.
func (s *Server) handleIntercept(w http.ResponseWriter, r *http.Request, host string, port uint16) {
	ev := Event{Time: time.Now(), Mode: ModeIntercept, Decision: DecisionDeny, Method: http.MethodConnect, Host: host, Port: port}
	deny := func(status int, reason, detail string) {
		ev.Status, ev.Reason, ev.Duration = status, reason, time.Since(ev.Time)
		s.reply(w, status, reason, detail)
		s.record(ev)
	}
	var routes []*credRoute
	if all := s.l7.byHost[host]; len(all) > 0 {
		var ports []string
		for _, c := range all {
			if c.scheme == "https" && c.port == port {
				routes = append(routes, c)
			}
			ports = append(ports, c.scheme+" port "+strconv.Itoa(int(c.port)))
		}
		if len(routes) == 0 {
			slices.Sort(ports)
			deny(http.StatusForbidden, ReasonInterceptRefused, fmt.Sprintf(
				"%s carries a credential served on %s only; CONNECT to port %d is refused (use the service's base URL)",
				host, strings.Join(slices.Compact(ports), ", "), port))
			return
		}
		ev.Service = routes[0].name
	}
	if s.l7.ca == nil {
		deny(http.StatusForbidden, ReasonInterceptRefused, host+" has credentials or endpoint rules but TLS interception is not configured; use the service's base URL")
		return
	}
	if _, isIP := isIPLiteral(host); isIP {
		deny(http.StatusForbidden, ReasonInterceptRefused, "an IP address cannot be intercepted; connect by host name or use the service's base URL")
		return
	}
	if d := s.precheck(host, port); !d.Allow {
		deny(s.denyStatus(d), d.Reason, d.Detail)
		return
	}
	hj, ok := w.(http.Hijacker)
	if !ok {
		deny(http.StatusInternalServerError, ReasonBadRequest, "connection cannot be intercepted")
		return
	}
	conn, brw, err := hj.Hijack()
	if err != nil {
		return
	}
	var raw net.Conn = conn
	if n := brw.Reader.Buffered(); n > 0 {
		early, _ := brw.Reader.Peek(n)
		raw = &prefixConn{Conn: conn, r: io.MultiReader(bytes.NewReader(bytes.Clone(early)), conn)}
	}
	_ = conn.SetDeadline(time.Now().Add(s.cfg.HeaderTimeout))
	if _, err := conn.Write(connectEstablished); err != nil {
		conn.Close()
		return
	}
	tc := tls.Server(raw, s.interceptTLS)
	if err := tc.HandshakeContext(context.Background()); err != nil {
		tc.Close()
		ev.Status, ev.Reason, ev.Duration = http.StatusOK, ReasonHandshake, time.Since(ev.Time)
		s.record(ev)
		return
	}
	_ = conn.SetDeadline(time.Time{})
	sni, err := NormalizeHost(tc.ConnectionState().ServerName)
	if err != nil {
		sni = ""
	}
	s.interceptConns.Store(tc, &interceptConn{host: host, port: port, sni: sni, routes: routes})
	if !s.interceptLn.push(tc) {
		s.interceptConns.Delete(tc)
		tc.Close()
	}
}

// serveIntercepted is the inner server's handler: every request inside an
// intercepted tunnel must be origin-form and name the CONNECT host (Host or
// :authority), and the TLS SNI must have named it too; otherwise 421.
func (s *Server) serveIntercepted(w http.ResponseWriter, r *http.Request) {
	ic, _ := r.Context().Value(interceptKey).(*interceptConn)
	if ic == nil {
		http.Error(w, "nono: not an intercepted connection", http.StatusInternalServerError)
		return
	}
	ev := &Event{Time: time.Now(), Mode: ModeIntercept, Decision: DecisionDeny, Method: sanitizeForEcho(r.Method), Host: ic.host, Port: ic.port}
	switch {
	case refusedMethod(r.Method):
		ev.Path = s.auditPath(sanitizeForEcho(requestPath(r.RequestURI)))
		s.l7Deny(w, ev, http.StatusMethodNotAllowed, ReasonMethod, "nono: method "+ev.Method+" is not allowed through the credential gateway")
		return
	case ic.sni != ic.host:
		s.l7Deny(w, ev, http.StatusMisdirectedRequest, ReasonMisdirected, "nono: the TLS server name does not match the CONNECT host "+ic.host)
		return
	case !strings.HasPrefix(r.RequestURI, "/"):
		s.l7Deny(w, ev, http.StatusMisdirectedRequest, ReasonMisdirected, "nono: requests inside an intercepted tunnel must use origin-form targets for "+ic.host)
		return
	case !authorityIs(r.Host, ic.host, ic.port, 443):
		s.l7Deny(w, ev, http.StatusMisdirectedRequest, ReasonMisdirected, "nono: the Host header does not match the CONNECT host "+ic.host)
		return
	}
	s.serveHostPath(w, r, ev, "https", ic.host, ic.port, ic.routes)
}

// authorityIs reports whether a Host header value names host:port (the
// port may be omitted when it is the scheme's default).
func authorityIs(authority, host string, port, defPort uint16) bool {
	rawHost, p := authority, defPort
	if strings.LastIndexByte(authority, ':') > strings.LastIndexByte(authority, ']') {
		var err error
		if rawHost, p, err = splitAuthority(authority); err != nil {
			return false
		}
	}
	h, err := NormalizeHost(rawHost)
	return err == nil && h == host && p == port
}

// connQueue is the listener of the inner server: intercepted TLS
// connections are pushed into it after their handshake.
type connQueue struct {
	ch   chan net.Conn
	done chan struct{}
	once sync.Once
	addr net.Addr
}

func newConnQueue(addr net.Addr) *connQueue {
	return &connQueue{ch: make(chan net.Conn), done: make(chan struct{}), addr: addr}
}

func (q *connQueue) push(c net.Conn) bool {
	select {
	case <-q.done:
		return false
	default:
	}
	select {
	case q.ch <- c:
		return true
	case <-q.done:
		return false
	}
}

func (q *connQueue) Accept() (net.Conn, error) {
	select {
	case c := <-q.ch:
		return c, nil
	case <-q.done:
		return nil, net.ErrClosed
	}
}

func (q *connQueue) Close() error {
	q.once.Do(func() { close(q.done) })
	return nil
}

func (q *connQueue) Addr() net.Addr { return q.addr }

// newInterceptServer builds the server for the inside of intercepted
// tunnels. Its connections are *tls.Conn, so net/http serves h2 when the
// client negotiated it by ALPN and HTTP/1.1 otherwise.
func (s *Server) newInterceptServer() *http.Server {
	return &http.Server{
		Handler:           http.HandlerFunc(s.serveIntercepted),
		ReadHeaderTimeout: s.cfg.HeaderTimeout,
		IdleTimeout:       s.cfg.ClientIdleTimeout,
		MaxHeaderBytes:    s.cfg.MaxHeaderBytes,
		ErrorLog:          s.cfg.ErrorLog,
		ConnContext: func(ctx context.Context, c net.Conn) context.Context {
			if ic, ok := s.interceptConns.Load(c); ok {
				return context.WithValue(ctx, interceptKey, ic)
			}
			return ctx
		},
		ConnState: func(c net.Conn, st http.ConnState) {
			if st == http.StateClosed || st == http.StateHijacked {
				s.interceptConns.Delete(c)
			}
		},
		DisableGeneralOptionsHandler: true,
	}
}
