package proxy

import (
	"bufio"
	"crypto/tls"
	"crypto/x509"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nono-sandbox/nono/certs"
	"github.com/nono-sandbox/nono/credentials"
	"github.com/nono-sandbox/nono/endpoints"
	"golang.org/x/net/websocket"
)

const phantomHeader = "Authorization: Bearer 0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

func bearerToken() string { return "Bearer " + string(testToken) }

// seenReq is what an upstream received.
type seenReq struct {
	method   string
	uri      string // RequestURI as received
	path     string // escaped path
	rawQuery string
	host     string
	proto    int
	header   http.Header
	body     string
}

// tlsOrigin is a local TLS upstream (h2 enabled) whose certificate covers
// example.com, *.example.com and 127.0.0.1.
type tlsOrigin struct {
	srv  *httptest.Server
	port uint16
	pool *x509.CertPool
	mu   sync.Mutex
	seen []seenReq
	// forget stops remembering requests (soak tests would grow without bound).
	forget bool
}

func (o *tlsOrigin) count() int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return len(o.seen)
}

func (o *tlsOrigin) last(t testing.TB) seenReq {
	t.Helper()
	o.mu.Lock()
	defer o.mu.Unlock()
	if len(o.seen) == 0 {
		t.Fatal("the upstream received no request")
	}
	return o.seen[len(o.seen)-1]
}

func (o *tlsOrigin) all() []seenReq {
	o.mu.Lock()
	defer o.mu.Unlock()
	return append([]seenReq(nil), o.seen...)
}

// record wraps h so every request is remembered before h runs.
func (o *tlsOrigin) record(h http.HandlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		o.mu.Lock()
		if o.forget {
			o.mu.Unlock()
			h(w, r)
			return
		}
		o.seen = append(o.seen, seenReq{
			method: r.Method, uri: r.RequestURI, path: r.URL.EscapedPath(), rawQuery: r.URL.RawQuery,
			host: r.Host, proto: r.ProtoMajor, header: r.Header.Clone(),
		})
		o.mu.Unlock()
		h(w, r)
	})
}

func okHandler(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/plain")
	_, _ = w.Write([]byte("ok " + r.URL.EscapedPath()))
}

// originHTTP1 makes startTLSOrigin's upstreams speak HTTP/1.1 only, so
// the reverse path goes through its own HTTP/1.1 pool (h1pool.go) rather
// than http.Transport. See TestReverseSuiteOverHTTP1Upstreams.
var originHTTP1 bool

// startTLSOrigin starts a TLS upstream on 127.0.0.1.
func startTLSOrigin(t testing.TB, h http.HandlerFunc) *tlsOrigin {
	t.Helper()
	if h == nil {
		h = okHandler
	}
	o := &tlsOrigin{}
	o.srv = httptest.NewUnstartedServer(o.record(h))
	o.srv.EnableHTTP2 = !originHTTP1
	o.srv.StartTLS()
	t.Cleanup(o.srv.Close)
	o.pool = x509.NewCertPool()
	o.pool.AddCert(o.srv.Certificate())
	o.port = o.srv.Listener.Addr().(*net.TCPAddr).AddrPort().Port()
	return o
}

// startPlainOrigin is a recording plain-http upstream on 127.0.0.1.
func startPlainOrigin(t testing.TB, h http.HandlerFunc) *tlsOrigin {
	t.Helper()
	if h == nil {
		h = okHandler
	}
	o := &tlsOrigin{}
	o.srv = httptest.NewServer(o.record(h))
	t.Cleanup(o.srv.Close)
	o.port = o.srv.Listener.Addr().(*net.TCPAddr).AddrPort().Port()
	return o
}

func mkRoute(t testing.TB, name, upstream string, def credentials.CustomCredential) *credentials.Route {
	t.Helper()
	def.Upstream = upstream
	if def.CredentialKey == "" {
		def.CredentialKey = "env://NONO_TEST_KEY"
	}
	r, err := credentials.NewRoute(name, def)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func mkSecret(t testing.TB, s string) *credentials.Secret {
	t.Helper()
	sec, err := credentials.NewSecret([]byte(s))
	if err != nil {
		t.Fatal(err)
	}
	return sec
}

func mkRules(t testing.TB, rules ...string) *endpoints.Set {
	t.Helper()
	var rs []endpoints.Rule
	for _, r := range rules {
		m, p, _ := strings.Cut(r, " ")
		rs = append(rs, endpoints.Rule{Method: m, Path: p})
	}
	set, err := endpoints.Compile(rs)
	if err != nil {
		t.Fatal(err)
	}
	return set
}

func credRouteTo(t testing.TB, name string, o *tlsOrigin, base, secret string, def credentials.CustomCredential) CredentialRoute {
	return CredentialRoute{
		Route:   mkRoute(t, name, "https://example.com:"+strconv.Itoa(int(o.port))+base, def),
		Secret:  mkSecret(t, secret),
		RootCAs: o.pool,
	}
}

type credGW struct {
	*testGW
	caPool *x509.CertPool
}

// interceptHosts are the session CA's names in tests.
var interceptHosts = []string{"example.com", "api.example.com", "rules.example.com"}

// startCredGateway starts a gateway with credential routes, a session CA
// for interceptHosts, and a resolver mapping *.example.com names to
// 127.0.0.1. Every route host is allowed implicitly.
func startCredGateway(t testing.TB, creds []CredentialRoute, mutate func(*PolicyConfig, *Config)) *credGW {
	t.Helper()
	ca, err := certs.NewSessionCA(interceptHosts, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(ca.Close)
	g := startGateway(t, func(pc *PolicyConfig, c *Config) {
		fr := pc.Resolver.(*fakeResolver)
		for _, h := range append([]string{"other.example.com"}, interceptHosts...) {
			fr.addrs[h] = []netip.Addr{netip.MustParseAddr("127.0.0.1")}
		}
		for _, cr := range creds {
			pc.Implicit = append(pc.Implicit, cr.Route.Upstream.Hostname())
		}
		c.Credentials = creds
		c.CA = ca
		if mutate != nil {
			mutate(pc, c)
		}
	})
	if originHTTP1 && g.l7 != nil {
		// Every request, not only the second, takes the HTTP/1.1 pool.
		for _, r := range g.l7.routes {
			r.proto.Store(protoHTTP1)
		}
	}
	pool := x509.NewCertPool()
	pool.AddCert(ca.Certificate())
	return &credGW{testGW: g, caPool: pool}
}

func (g *credGW) url(path string) string { return "http://" + g.Addr().String() + path }

// reverseClient talks origin-form to the gateway with keep-alive.
// dialWS opens a WebSocket to the gateway's reverse path with the phantom;
// the connection is closed when the test ends.
func (g *credGW) dialWS(t testing.TB, path string) *websocket.Conn {
	t.Helper()
	cfg, err := websocket.NewConfig("ws://"+g.Addr().String()+path, "http://localhost/")
	if err != nil {
		t.Fatal(err)
	}
	cfg.Header = http.Header{"Authorization": {bearerToken()}}
	conn, err := websocket.DialConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

func reverseClient() *http.Client {
	return &http.Client{Transport: &http.Transport{Proxy: nil, MaxIdleConnsPerHost: 64, DisableCompression: true}}
}

// interceptClient uses the gateway as HTTPS proxy and trusts the session CA.
func (g *credGW) interceptClient(h2 bool) *http.Client {
	pu := &url.URL{Scheme: "http", User: url.UserPassword("nono", string(testToken)), Host: g.Addr().String()}
	return &http.Client{Transport: &http.Transport{
		Proxy:              http.ProxyURL(pu),
		TLSClientConfig:    &tls.Config{RootCAs: g.caPool},
		ForceAttemptHTTP2:  h2,
		DisableCompression: true,
	}}
}

// tunnel opens CONNECT target and completes TLS with sni over it.
func (g *credGW) tunnel(t testing.TB, target, sni string) (*tls.Conn, *bufio.Reader) {
	t.Helper()
	c := g.dial(t)
	resp, body := sendRaw(t, c, bufio.NewReader(c), connectReq(target, true))
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("CONNECT %s: %d %q", target, resp.StatusCode, body)
	}
	tc := tls.Client(c, &tls.Config{ServerName: sni, RootCAs: g.caPool, NextProtos: []string{"http/1.1"}})
	if err := tc.Handshake(); err != nil {
		t.Fatalf("TLS through CONNECT %s: %v", target, err)
	}
	return tc, bufio.NewReader(tc)
}

// interceptRaw sends one raw request inside a fresh intercepted tunnel.
func (g *credGW) interceptRaw(t testing.TB, target, sni, raw string) (*http.Response, string) {
	t.Helper()
	tc, br := g.tunnel(t, target, sni)
	return sendRaw(t, tc, br, raw)
}

func hostPort(h string, p uint16) string { return h + ":" + strconv.Itoa(int(p)) }
