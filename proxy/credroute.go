package proxy

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/nono-sandbox/nono/certs"
	"github.com/nono-sandbox/nono/credentials"
	"github.com/nono-sandbox/nono/endpoints"
)

// Reason codes of the credential gateway (reverse, intercept and the
// credential side of forward). Like the others, a stable interface.
const (
	ReasonPhantom          = "phantom_invalid"            // missing or wrong phantom token
	ReasonEndpoint         = "endpoint_denied"            // no endpoint rule allows the request
	ReasonBadPath          = "ambiguous_path"             // path refused by endpoint normalisation
	ReasonMethod           = "method_denied"              // TRACE, TRACK or CONNECT on an L7 path
	ReasonMisdirected      = "misdirected"                // inner Host or SNI differs from the CONNECT host
	ReasonHandshake        = "intercept_handshake_failed" // TLS with the client failed; never a tunnel
	ReasonInterceptRefused = "intercept_refused"          // credential or rules host that cannot be intercepted here
	ReasonPlainHTTP        = "plain_http_denied"          // http:// to a credential host with an https upstream
	ReasonInject           = "inject_failed"              // the secret could not be written into the request
	ReasonAmbiguousRoute   = "ambiguous_route"            // several credential routes claim the request
)

// CredentialRoute is one credential service served by the gateway: on the
// reverse path as /<Route.Name>/..., and by TLS interception (or plain http
// for a loopback http upstream) when the child talks to the upstream host
// through the proxy.
type CredentialRoute struct {
	// Route names the service, its upstream and how the secret is injected.
	Route *credentials.Route
	// Secret is the real credential. It is owned by the caller, who must
	// keep it alive until Shutdown returns and may wipe it afterwards. It
	// is never logged, audited or echoed.
	Secret *credentials.Secret
	// Endpoints restricts the route; nil or empty allows every well-formed
	// path. Rules see the path relative to the upstream base path: on the
	// reverse path the part after /<name>, on the intercept and forward
	// paths the request path with the base path removed.
	Endpoints *endpoints.Set
	// RootCAs verifies the upstream (Route.TLSRootCAs); nil = system roots.
	RootCAs *x509.CertPool
}

// credRoute is a validated CredentialRoute with everything precomputed.
type credRoute struct {
	name       string
	route      *credentials.Route
	secret     *credentials.Secret
	rules      *endpoints.Set
	scheme     string // https, or http for a loopback upstream
	host       string // NormalizeHost of the upstream host
	port       uint16
	hostHeader string // Host sent upstream (port omitted when default)
	base       string // canonical upstream base path, "" for none
	transport  *http.Transport
	// needles are the forms in which the secret can appear on the wire;
	// a response header holding any of them is dropped. Wiped by Shutdown.
	needles [][]byte
	// pre caches precheck(host, port) once serving (see l7Precheck).
	pre atomic.Pointer[Decision]
	// h1 is the reverse-path loop's HTTP/1.1 pool, used once proto says
	// the upstream answers in HTTP/1.1 (h1pool.go).
	h1    *h1Pool
	proto atomic.Int32
}

// l7Config is the credential gateway state built by New.
type l7Config struct {
	routes    map[string]*credRoute   // by name
	byHost    map[string][]*credRoute // by normalised upstream host
	hostRules map[string]*endpoints.Set
	ca        *certs.CA
	// plain forwards intercepted requests to hosts that only have rules.
	plain      *http.Transport
	transports []*http.Transport
}

// intercepted reports whether host is served at L7 (credential or rules).
func (c *l7Config) intercepted(host string) bool {
	if c == nil {
		return false
	}
	return len(c.byHost[host]) > 0 || c.hostRules[host].Len() > 0
}

func (s *Server) newL7(cfg Config) (*l7Config, error) {
	if len(cfg.Credentials) == 0 && len(cfg.EndpointRules) == 0 {
		if cfg.CA != nil {
			return nil, errors.New("Config.CA is set but there are no credential routes or endpoint rules to intercept")
		}
		return nil, nil
	}
	if cfg.Reverse != nil && len(cfg.Credentials) > 0 {
		return nil, errors.New("Config.Reverse and Config.Credentials are exclusive: the credential routes implement the reverse path")
	}
	c := &l7Config{
		routes:    map[string]*credRoute{},
		byHost:    map[string][]*credRoute{},
		hostRules: map[string]*endpoints.Set{},
		ca:        cfg.CA,
	}
	byPool := map[*x509.CertPool]*http.Transport{}
	transportFor := func(pool *x509.CertPool) *http.Transport {
		if t, ok := byPool[pool]; ok {
			return t
		}
		t := s.newL7Transport(pool)
		byPool[pool] = t
		c.transports = append(c.transports, t)
		return t
	}
	for i, cr := range cfg.Credentials {
		r, err := newCredRoute(cr)
		if err != nil {
			return nil, fmt.Errorf("credential route %d: %w", i, err)
		}
		if _, dup := c.routes[r.name]; dup {
			return nil, fmt.Errorf("credential route %q is configured twice", r.name)
		}
		r.transport = transportFor(cr.RootCAs)
		r.h1 = newH1Pool(s, r, r.transport.TLSClientConfig)
		c.routes[r.name] = r
		c.byHost[r.host] = append(c.byHost[r.host], r)
	}
	for h, set := range cfg.EndpointRules {
		if set.Len() == 0 {
			continue
		}
		host, err := NormalizeHost(h)
		if err != nil {
			return nil, fmt.Errorf("endpoint rules for host %q: %w", sanitizeForEcho(h), err)
		}
		if _, dup := c.hostRules[host]; dup {
			return nil, fmt.Errorf("endpoint rules for host %s are given twice (after normalisation)", host)
		}
		c.hostRules[host] = set
	}
	c.plain = transportFor(cfg.InterceptRootCAs)
	// Longest base path first, so route selection by prefix is a scan.
	for _, rs := range c.byHost {
		slices.SortStableFunc(rs, func(a, b *credRoute) int { return len(b.base) - len(a.base) })
	}
	return c, nil
}

func newCredRoute(cr CredentialRoute) (*credRoute, error) {
	rt := cr.Route
	if rt == nil || rt.Upstream == nil {
		return nil, errors.New("Route with an Upstream is required")
	}
	if rt.Name == "" || strings.ContainsAny(rt.Name, "/?#%") || rt.Name != sanitizeForEcho(rt.Name) {
		return nil, fmt.Errorf("route name %q cannot be a path segment", sanitizeForEcho(rt.Name))
	}
	if cr.Secret.Len() == 0 {
		return nil, fmt.Errorf("route %s: no secret loaded", rt.Name)
	}
	u := rt.Upstream
	if u.Opaque != "" || u.User != nil || u.RawQuery != "" || u.Fragment != "" {
		return nil, fmt.Errorf("route %s: the upstream must be scheme://host[:port][/base]", rt.Name)
	}
	host, err := NormalizeHost(u.Hostname())
	if err != nil {
		return nil, fmt.Errorf("route %s: upstream host: %w", rt.Name, err)
	}
	r := &credRoute{name: rt.Name, route: rt, secret: cr.Secret, rules: cr.Endpoints, scheme: u.Scheme, host: host}
	switch u.Scheme {
	case "https":
		r.port = 443
	case "http":
		r.port = 80
		if !isLoopbackHost(host) {
			return nil, fmt.Errorf("route %s: http upstreams must be loopback (localhost, 127.0.0.0/8, ::1); use https", rt.Name)
		}
	default:
		return nil, fmt.Errorf("route %s: upstream scheme must be https (or http for loopback)", rt.Name)
	}
	r.hostHeader = bracketHost(host)
	if p := u.Port(); p != "" {
		n, err := strconv.ParseUint(p, 10, 16)
		if err != nil || n == 0 {
			return nil, fmt.Errorf("route %s: bad upstream port", rt.Name)
		}
		if uint16(n) != r.port {
			r.hostHeader = joinHostPort(host, uint16(n))
		}
		r.port = uint16(n)
	}
	if b := u.EscapedPath(); b != "" && b != "/" {
		canon, err := endpoints.BaseJoin(b, "/")
		if err != nil {
			return nil, fmt.Errorf("route %s: upstream base path: %w", rt.Name, err)
		}
		r.base = strings.TrimSuffix(canon, "/")
	}
	// Fail at startup, not per request, when the secret cannot be injected
	// (bad characters for a header, basic_auth without ':').
	if rt.Mode != credentials.InjectURLPath {
		probe, _ := http.NewRequest(http.MethodGet, "http://probe.invalid/", nil)
		if err := rt.Inject(probe, cr.Secret); err != nil {
			return nil, err
		}
	}
	sec := cr.Secret.Bytes()
	for _, n := range [][]byte{
		bytes.Clone(sec),
		[]byte(base64.StdEncoding.EncodeToString(sec)),
		[]byte(url.PathEscape(string(sec))),
		[]byte(url.QueryEscape(string(sec))),
	} {
		if !slices.ContainsFunc(r.needles, func(x []byte) bool { return string(x) == string(n) }) {
			r.needles = append(r.needles, n)
		} else {
			wipe(n)
		}
	}
	return r, nil
}

func isLoopbackHost(host string) bool {
	if host == "localhost" {
		return true
	}
	a, ok := isIPLiteral(host)
	return ok && a.IsLoopback()
}

func bracketHost(host string) string {
	if strings.Contains(host, ":") {
		return "[" + host + "]"
	}
	return host
}

// newL7Transport is the pooled upstream client of the credential gateway:
// keep-alive, HTTP/2 when the upstream offers it, TLS verified against
// roots, no transparent decompression, and a dialer that applies the host
// policy and dials only the checked addresses (or chains to the upstream
// proxy).
func (s *Server) newL7Transport(roots *x509.CertPool) *http.Transport {
	return &http.Transport{
		Proxy:                  nil,
		DialContext:            s.dialL7,
		TLSClientConfig:        &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12},
		ForceAttemptHTTP2:      true,
		DisableCompression:     true,
		MaxIdleConns:           512,
		MaxIdleConnsPerHost:    64,
		IdleConnTimeout:        90 * time.Second,
		TLSHandshakeTimeout:    s.cfg.DialTimeout,
		ExpectContinueTimeout:  time.Second,
		MaxResponseHeaderBytes: 1 << 20,
	}
}

// close drops idle upstream connections and wipes the derived secret
// forms; the caller holds s.tokenMu for writing.
func (c *l7Config) close() {
	if c == nil {
		return
	}
	for _, t := range c.transports {
		t.CloseIdleConnections()
	}
	for _, r := range c.routes {
		r.h1.close()
		for _, n := range r.needles {
			wipe(n)
		}
		r.needles = nil
	}
}
