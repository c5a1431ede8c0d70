package proxy

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httputil"
	"net/netip"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nono-sandbox/nono/certs"
	"github.com/nono-sandbox/nono/endpoints"
)

// Config configures a gateway Server. Zero durations and sizes take the
// defaults given on each field.
type Config struct {
	// Port on 127.0.0.1; 0 picks an ephemeral port.
	Port uint16
	// Token is the session token clients present as the proxy password
	// (Basic, any user) or as a Bearer token; at least 32 printable bytes.
	// New copies it; Shutdown wipes the copy.
	Token []byte
	// Policy decides every destination. Required.
	Policy *HostPolicy
	// Reverse handles origin-form requests ("/service/...") when
	// Credentials is empty. It must authenticate requests itself (the
	// phantom token); Proxy-Authorization is removed before it runs. When
	// nil and there are no Credentials, origin-form requests get 404.
	Reverse http.Handler
	// Credentials are the credential routes (see CredentialRoute). Token is
	// their phantom. Each route's upstream host must be in
	// PolicyConfig.Implicit (the caller adds it), and is intercepted on
	// CONNECT. Exclusive with Reverse.
	Credentials []CredentialRoute
	// EndpointRules restricts hosts that have no credential route: host
	// (any spelling NormalizeHost accepts) -> rules matched against the
	// whole request path. A host with a non-empty set is intercepted on
	// CONNECT (any port) and checked on the forward path. Empty sets are
	// ignored.
	EndpointRules map[string]*endpoints.Set
	// CA is the session CA for TLS interception, created by the caller for
	// the credential hosts with https upstreams and the EndpointRules
	// hosts. Without it, CONNECT to those hosts is refused (403), never
	// tunnelled. The caller closes it after Shutdown.
	CA *certs.CA
	// InterceptRootCAs verifies upstreams of EndpointRules hosts reached
	// through interception; nil = system roots. (Credential routes carry
	// their own RootCAs.)
	InterceptRootCAs *x509.CertPool
	// Upstream, when set, receives all CONNECT and http traffic except hosts
	// matched by UpstreamBypass.
	Upstream       *Upstream
	UpstreamBypass []string
	// Audit receives one event per request or tunnel (default: discarded).
	Audit Sink

	HeaderTimeout     time.Duration // request head must arrive within this (default 10 s)
	ClientIdleTimeout time.Duration // keep-alive wait between requests (default 60 s)
	TunnelIdleTimeout time.Duration // tunnel closed after this long with no bytes either way (default 10 min)
	DialTimeout       time.Duration // per connect attempt, and upstream CONNECT handshake (default 10 s)
	MaxConns          int           // concurrent client connections (default 2048)
	MaxHeaderBytes    int           // request head size (default 64 KiB); larger gets 431
	// ErrorLog receives net/http server errors (default: discarded).
	ErrorLog *log.Logger
}

const (
	defaultHeaderTimeout     = 10 * time.Second
	defaultClientIdleTimeout = 60 * time.Second
	defaultTunnelIdleTimeout = 10 * time.Minute
	defaultDialTimeout       = 10 * time.Second
	defaultMaxConns          = 2048
	defaultMaxHeaderBytes    = 64 << 10
)

// Server is the gateway: one loopback listener serving CONNECT tunnels,
// absolute-form http forwarding and origin-form reverse requests.
type Server struct {
	cfg          Config
	tokenMu      sync.RWMutex
	token        []byte // nil after Shutdown
	tokenEsc     []byte // the token path-escaped, when that differs; wiped with it
	policy       *HostPolicy
	upstream     *Upstream
	upstreamAuth string
	bypass       *Bypass
	audit        Sink
	dialer       net.Dialer

	forward *httputil.ReverseProxy

	// Credential gateway (nil without Credentials and EndpointRules).
	l7             *l7Config
	l7proxy        *httputil.ReverseProxy
	interceptTLS   *tls.Config
	interceptSrv   *http.Server
	interceptLn    *connQueue
	interceptConns sync.Map // *tls.Conn -> *interceptConn

	srv  *http.Server
	ln   net.Listener
	addr netip.AddrPort

	// The reverse-path loop (reverseloop.go), with credential routes: it
	// serves the listener and hands other connections to srv through
	// mainQ.
	mainQ          *connQueue
	reverseConns   map[*reverseConn]struct{}
	reverseWG      sync.WaitGroup
	reverseClosing atomic.Bool

	mu       sync.Mutex
	closing  bool
	tunnels  map[*tunnel]struct{}
	tunnelWG sync.WaitGroup
}

// New validates cfg and builds a Server; call Start to listen.
func New(cfg Config) (*Server, error) {
	if cfg.Policy == nil {
		return nil, errors.New("proxy: Config.Policy is required")
	}
	if err := validateToken(cfg.Token); err != nil {
		return nil, fmt.Errorf("proxy: %w", err)
	}
	if len(cfg.UpstreamBypass) > 0 && cfg.Upstream == nil {
		return nil, errors.New("proxy: an upstream bypass list needs an upstream proxy; set one or drop the bypass entries")
	}
	setDefault(&cfg.HeaderTimeout, defaultHeaderTimeout)
	setDefault(&cfg.ClientIdleTimeout, defaultClientIdleTimeout)
	setDefault(&cfg.TunnelIdleTimeout, defaultTunnelIdleTimeout)
	setDefault(&cfg.DialTimeout, defaultDialTimeout)
	setDefault(&cfg.MaxConns, defaultMaxConns)
	setDefault(&cfg.MaxHeaderBytes, defaultMaxHeaderBytes)
	if cfg.ErrorLog == nil {
		cfg.ErrorLog = log.New(io.Discard, "", 0)
	}
	s := &Server{
		cfg:          cfg,
		token:        append([]byte(nil), cfg.Token...),
		policy:       cfg.Policy,
		audit:        cfg.Audit,
		tunnels:      map[*tunnel]struct{}{},
		reverseConns: map[*reverseConn]struct{}{},
		dialer:       net.Dialer{Timeout: cfg.DialTimeout, KeepAlive: 30 * time.Second},
	}
	s.cfg.Token = nil
	if esc := url.PathEscape(string(s.token)); esc != string(s.token) {
		s.tokenEsc = []byte(esc)
	}
	if s.audit == nil {
		s.audit = discardSink{}
	}
	if cfg.Upstream != nil {
		up := *cfg.Upstream
		up.Password = nil
		s.upstream = &up
		s.upstreamAuth = cfg.Upstream.authHeader()
		b, err := NewBypass(cfg.UpstreamBypass)
		if err != nil {
			return nil, fmt.Errorf("proxy: %w", err)
		}
		s.bypass = b
	}
	s.forward = s.newForwarder()
	l7, err := s.newL7(cfg)
	if err != nil {
		return nil, fmt.Errorf("proxy: %w", err)
	}
	if l7 != nil {
		s.l7 = l7
		s.l7proxy = s.newL7Proxy()
		if l7.ca != nil {
			s.interceptTLS = l7.ca.TLSConfig()
			s.interceptSrv = s.newInterceptServer()
		}
	}
	return s, nil
}

func setDefault[T time.Duration | int](v *T, def T) {
	if *v <= 0 {
		*v = def
	}
}

// Start binds 127.0.0.1:Port and serves in the background. It returns once
// the listener is bound.
func (s *Server) Start() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ln != nil || s.closing {
		return errors.New("proxy: server already started or shut down")
	}
	ln, err := net.Listen("tcp4", joinHostPort("127.0.0.1", s.cfg.Port))
	if err != nil && s.cfg.Port == 0 {
		return fmt.Errorf("proxy: listen on 127.0.0.1: %w", err)
	}
	if err != nil {
		return fmt.Errorf("proxy: listen on 127.0.0.1:%d: %w (choose another --proxy-port or 0 for any free port)", s.cfg.Port, err)
	}
	s.addr = ln.Addr().(*net.TCPAddr).AddrPort()
	if s.upstream != nil && s.isSelfTarget(s.upstream.Host, s.upstream.Port) {
		ln.Close()
		return errors.New("proxy: the upstream proxy is this gateway itself; point --upstream-proxy at another proxy")
	}
	s.ln = newCapListener(ln, s.cfg.MaxConns, func() {
		s.record(Event{Mode: ModeConnect, Decision: DecisionDeny, Status: http.StatusServiceUnavailable, Reason: ReasonOverCapacity})
	})
	s.srv = &http.Server{
		Handler:                      s,
		ReadHeaderTimeout:            s.cfg.HeaderTimeout,
		IdleTimeout:                  s.cfg.ClientIdleTimeout,
		MaxHeaderBytes:               s.cfg.MaxHeaderBytes,
		ErrorLog:                     s.cfg.ErrorLog,
		DisableGeneralOptionsHandler: true,
	}
	srv, l := s.srv, s.ln
	if s.reverseLoopEnabled() {
		s.mainQ = newConnQueue(ln.Addr())
		q := s.mainQ
		go func() { _ = srv.Serve(q) }()
		go s.acceptReverse(l)
	} else {
		go func() { _ = srv.Serve(l) }()
	}
	if s.interceptSrv != nil {
		s.interceptLn = newConnQueue(ln.Addr())
		isrv, il := s.interceptSrv, s.interceptLn
		go func() { _ = isrv.Serve(il) }()
	}
	return nil
}

// Addr is the bound address (valid after Start).
func (s *Server) Addr() netip.AddrPort { return s.addr }

// Shutdown stops accepting, closes every open tunnel, waits for in-flight
// requests until ctx is done (then closes them), and wipes the token.
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	if s.closing {
		s.mu.Unlock()
		return nil
	}
	s.closing = true
	for t := range s.tunnels {
		t.close()
	}
	srv := s.srv
	s.mu.Unlock()

	var err error
	if s.mainQ != nil {
		_ = s.ln.Close() // srv serves only mainQ, which its Shutdown closes
	}
	if srv != nil {
		if err = srv.Shutdown(ctx); err != nil {
			_ = srv.Close()
		}
	}
	if s.mainQ != nil {
		err = errors.Join(err, s.shutdownReverse(ctx))
	}
	if s.interceptLn != nil {
		if ierr := s.interceptSrv.Shutdown(ctx); ierr != nil {
			_ = s.interceptSrv.Close()
			err = errors.Join(err, ierr)
		}
	}
	done := make(chan struct{})
	go func() { s.tunnelWG.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
		if err == nil {
			err = ctx.Err()
		}
	}
	if t, ok := s.forward.Transport.(interface{ CloseIdleConnections() }); ok {
		t.CloseIdleConnections()
	}
	s.tokenMu.Lock()
	wipe(s.token)
	wipe(s.tokenEsc)
	s.token, s.tokenEsc = nil, nil
	s.l7.close()
	s.tokenMu.Unlock()
	return err
}

func (s *Server) record(e Event) {
	if e.Time.IsZero() {
		e.Time = time.Now()
	}
	s.audit.Record(e)
}

// ServeHTTP dispatches on the request-target form.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch {
	case r.Method == http.MethodConnect:
		s.handleConnect(w, r)
	case strings.HasPrefix(r.RequestURI, "/"):
		s.handleOrigin(w, r)
	case r.URL.IsAbs() && r.URL.Scheme == "http":
		s.handleForward(w, r)
	case r.URL.IsAbs() && r.URL.Scheme == "https":
		s.reply(w, http.StatusBadRequest, ReasonBadRequest, "https:// URLs cannot be forwarded; use CONNECT (set HTTPS_PROXY) for https")
		s.record(Event{Mode: ModeForward, Decision: DecisionDeny, Method: r.Method, Status: http.StatusBadRequest, Reason: ReasonBadRequest})
	default:
		s.reply(w, http.StatusBadRequest, ReasonBadRequest, "unsupported request target; only CONNECT, http:// URLs and /service/ paths are served")
		s.record(Event{Mode: ModeForward, Decision: DecisionDeny, Method: r.Method, Status: http.StatusBadRequest, Reason: ReasonBadRequest})
	}
}

func (s *Server) handleOrigin(w http.ResponseWriter, r *http.Request) {
	if s.l7 != nil && len(s.l7.routes) > 0 {
		s.handleReverse(w, r)
		return
	}
	if s.cfg.Reverse == nil {
		s.reply(w, http.StatusNotFound, ReasonNoRoute, "no credential route serves this path; configure a credential or use the proxy for http:// and CONNECT")
		s.record(Event{Mode: ModeReverse, Decision: DecisionDeny, Method: r.Method, Status: http.StatusNotFound, Reason: ReasonNoRoute})
		return
	}
	r.Header.Del("Proxy-Authorization")
	r.Header.Del("Proxy-Connection")
	s.cfg.Reverse.ServeHTTP(w, r)
}

// reply writes a one-line plain-text answer with the reason code header.
func (s *Server) reply(w http.ResponseWriter, status int, reason, detail string) {
	h := w.Header()
	h.Set("Content-Type", "text/plain; charset=utf-8")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Nono-Reason", reason)
	if status == http.StatusProxyAuthRequired {
		h.Set("Proxy-Authenticate", `Basic realm="nono"`)
	}
	w.WriteHeader(status)
	_, _ = io.WriteString(w, "nono: "+sanitizeForEcho(detail)+"\n")
}

func (s *Server) denyStatus(d Decision) int {
	switch d.Reason {
	case ReasonDNSFailed:
		return http.StatusBadGateway
	case ReasonInvalidHost:
		return http.StatusBadRequest
	}
	return http.StatusForbidden
}

// isSelfTarget reports whether host:port is this gateway: any loopback or
// unspecified address, or "localhost", on the listening port.
func (s *Server) isSelfTarget(host string, port uint16) bool {
	if port != s.addr.Port() {
		return false
	}
	if host == "localhost" || strings.HasSuffix(host, ".localhost") {
		return true
	}
	if a, ok := isIPLiteral(host); ok {
		return s.isSelfAddr(netip.AddrPortFrom(a, port))
	}
	return false
}

func (s *Server) isSelfAddr(ap netip.AddrPort) bool {
	a := canonicalAddr(ap.Addr())
	if ap.Port() != s.addr.Port() {
		return false
	}
	if v4, _, ok := embeddedV4(a); ok {
		a = v4
	}
	return a.IsLoopback() || a.IsUnspecified() || a == s.addr.Addr()
}

// route is the outcome of policy plus upstream selection for one target.
type route struct {
	d       Decision
	addrs   []netip.AddrPort // direct: the checked addresses to dial
	chained bool
}

// decide applies the host policy and picks direct or chained. The loop
// check runs first on literals and names, and again on resolved addresses.
func (s *Server) decide(ctx context.Context, rawHost string, port uint16) route {
	if h, err := NormalizeHost(rawHost); err == nil && s.isSelfTarget(h, port) {
		return route{d: Decision{Host: h, Port: port, Reason: ReasonLoop, Detail: "the target is this gateway itself (proxy loop)"}}
	}
	if s.upstream != nil && !s.bypass.Match(rawHost) {
		return route{d: s.policy.checkChained(ctx, rawHost, port), chained: true}
	}
	d, addrs := s.policy.Resolve(ctx, rawHost, port)
	if d.Allow {
		for _, a := range addrs {
			if s.isSelfAddr(a) {
				return route{d: Decision{Host: d.Host, Port: port, Reason: ReasonLoop, Detail: "the target resolves to this gateway itself (proxy loop)"}}
			}
		}
	}
	return route{d: d, addrs: addrs}
}

// dialPinned connects to the first reachable checked address. It never
// resolves names.
func (s *Server) dialPinned(ctx context.Context, addrs []netip.AddrPort) (*net.TCPConn, error) {
	var errs []error
	for _, a := range addrs {
		c, err := s.dialer.DialContext(ctx, "tcp", a.String())
		if err == nil {
			return c.(*net.TCPConn), nil
		}
		errs = append(errs, err)
		if ctx.Err() != nil {
			break
		}
	}
	if len(errs) == 0 {
		return nil, errors.New("no addresses to dial")
	}
	return nil, errors.Join(errs...)
}

// oneLine flattens an error for a response body.
func oneLine(err error) string {
	return sanitizeForEcho(strings.ReplaceAll(err.Error(), "\n", "; "))
}
