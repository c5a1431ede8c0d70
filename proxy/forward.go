package proxy

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"net/netip"
	"net/url"
	"strings"
	"sync/atomic"
	"time"
)

type ctxKey int

const forwardKey ctxKey = iota

// forwardTarget travels in the outgoing request's context from the policy
// check to the Transport's dialer and to the rewrite step.
type forwardTarget struct {
	authority  string // normalised host:port that was checked
	hostHeader string
	addrs      []netip.AddrPort
	chained    bool
	status     int         // upstream status (a 101 bypasses the ResponseWriter)
	upgraded   streamBytes // bytes after a 101, likewise
}

func (s *Server) newForwarder() *httputil.ReverseProxy {
	direct := &http.Transport{
		Proxy:                  nil,
		DialContext:            s.dialChecked,
		DisableCompression:     true,
		MaxIdleConns:           256,
		MaxIdleConnsPerHost:    16,
		IdleConnTimeout:        90 * time.Second,
		ExpectContinueTimeout:  time.Second,
		MaxResponseHeaderBytes: 1 << 20,
	}
	var chained *http.Transport
	if s.upstream != nil {
		proxyURL := &url.URL{Scheme: "http", Host: s.upstream.Addr()}
		chained = &http.Transport{
			Proxy:                  func(*http.Request) (*url.URL, error) { return proxyURL, nil },
			DialContext:            s.dialer.DialContext,
			DisableCompression:     true,
			MaxIdleConns:           256,
			MaxIdleConnsPerHost:    16,
			IdleConnTimeout:        90 * time.Second,
			ExpectContinueTimeout:  time.Second,
			MaxResponseHeaderBytes: 1 << 20,
		}
	}
	return &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			ft := pr.Out.Context().Value(forwardKey).(*forwardTarget)
			pr.Out.URL = &url.URL{
				Scheme:   "http",
				Host:     ft.authority,
				Path:     pr.In.URL.Path,
				RawPath:  pr.In.URL.RawPath,
				RawQuery: pr.In.URL.RawQuery,
			}
			pr.Out.Host = ft.hostHeader
			for k := range pr.Out.Header {
				if strings.HasPrefix(http.CanonicalHeaderKey(k), "Proxy-") {
					delete(pr.Out.Header, k)
				}
			}
			if ft.chained && s.upstreamAuth != "" {
				pr.Out.Header.Set("Proxy-Authorization", s.upstreamAuth)
			}
		},
		Transport: &forwardTransport{direct: direct, chained: chained},
		ModifyResponse: func(resp *http.Response) error {
			ft := resp.Request.Context().Value(forwardKey).(*forwardTarget)
			if ft.chained && resp.StatusCode == http.StatusProxyAuthRequired {
				// Never hand the upstream's challenge to the client: it would
				// look like our own 407 and invite a credential retry.
				return errors.New("the upstream proxy rejected its credentials (407); check the upstream proxy user and password")
			}
			ft.status = resp.StatusCode
			countUpgraded(resp, &ft.upgraded, nil, s.cfg.TunnelIdleTimeout)
			return nil
		},
		FlushInterval: -1,
		ErrorLog:      s.cfg.ErrorLog,
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			ft := r.Context().Value(forwardKey).(*forwardTarget)
			s.reply(w, http.StatusBadGateway, ReasonUpstream, "cannot forward to "+ft.authority+": "+oneLine(err))
		},
	}
}

// forwardTransport picks the direct or the chained Transport per request.
type forwardTransport struct{ direct, chained *http.Transport }

func (t *forwardTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	ft, _ := r.Context().Value(forwardKey).(*forwardTarget)
	if ft == nil {
		return nil, errors.New("request reached the transport without a policy decision")
	}
	if ft.chained {
		return t.chained.RoundTrip(r)
	}
	return t.direct.RoundTrip(r)
}

func (t *forwardTransport) CloseIdleConnections() {
	t.direct.CloseIdleConnections()
	if t.chained != nil {
		t.chained.CloseIdleConnections()
	}
}

// dialChecked dials only the addresses the policy checked for this request;
// it fails closed when they are missing or belong to another authority.
func (s *Server) dialChecked(ctx context.Context, network, addr string) (net.Conn, error) {
	ft, _ := ctx.Value(forwardKey).(*forwardTarget)
	if ft == nil || ft.chained || len(ft.addrs) == 0 {
		return nil, errors.New("no checked addresses for this connection")
	}
	if addr != ft.authority {
		return nil, fmt.Errorf("dial target %s does not match the checked authority", sanitizeForEcho(addr))
	}
	ctx, cancel := context.WithTimeout(ctx, s.cfg.DialTimeout*time.Duration(len(ft.addrs)))
	defer cancel()
	return s.dialPinned(ctx, ft.addrs)
}

// handleForward serves absolute-form http:// requests.
func (s *Server) handleForward(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	ev := Event{Time: start, Mode: ModeForward, Decision: DecisionDeny, Method: r.Method, Path: sanitizeForEcho(r.URL.Path)}
	deny := func(status int, reason, detail string) {
		ev.Status, ev.Reason, ev.Duration = status, reason, time.Since(start)
		s.reply(w, status, reason, detail)
		s.record(ev)
	}
	if !s.authorized(r.Header) {
		deny(http.StatusProxyAuthRequired, ReasonAuth, "proxy authentication required: use the proxy URL nono provides (user nono, password = session token)")
		return
	}
	u := r.URL
	if u.Opaque != "" || u.User != nil || u.Host == "" {
		deny(http.StatusBadRequest, ReasonBadRequest, "malformed http:// URL (no host, or user info in the URL)")
		return
	}
	authority := u.Host
	if u.Port() == "" && !strings.HasSuffix(authority, ":") {
		authority += ":80"
	}
	rawHost, port, err := splitAuthority(authority)
	if err != nil {
		ev.Host = sanitizeForEcho(u.Host)
		deny(http.StatusBadRequest, ReasonInvalidHost, "bad URL host: "+err.Error())
		return
	}
	ev.Port = port
	if h, err := NormalizeHost(rawHost); err == nil && s.l7.intercepted(h) {
		if s.forwardL7(w, r, &ev, h, port) {
			return
		}
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
	ft := &forwardTarget{
		authority:  joinHostPort(rt.d.Host, port),
		hostHeader: joinHostPort(rt.d.Host, port),
		addrs:      rt.addrs,
		chained:    rt.chained,
	}
	if port == 80 {
		ft.hostHeader = rt.d.Host
		if strings.Contains(rt.d.Host, ":") {
			ft.hostHeader = "[" + rt.d.Host + "]"
		}
	}
	if rt.chained {
		ev.Upstream = s.upstream.Addr()
	}
	var up atomic.Int64
	if r.Body != nil && r.Body != http.NoBody {
		r.Body = &countingBody{ReadCloser: r.Body, n: &up}
	}
	cw := &countingWriter{ResponseWriter: w}
	r = r.WithContext(context.WithValue(r.Context(), forwardKey, ft))
	s.forward.ServeHTTP(cw, r)

	ev.Status, ev.BytesUp, ev.BytesDown, ev.Duration = cw.status, up.Load()+ft.upgraded.up.Load(), cw.n+ft.upgraded.down.Load(), time.Since(start)
	if ev.Status == 0 {
		ev.Status = ft.status
	}
	if ev.Status == 0 {
		ev.Status = http.StatusOK
	}
	if ev.Status == http.StatusBadGateway && cw.Header().Get("X-Nono-Reason") == ReasonUpstream {
		ev.Reason = ReasonUpstream
	} else {
		ev.Decision, ev.Reason = DecisionAllow, ReasonAllowed
	}
	s.record(ev)
}

type countingBody struct {
	io.ReadCloser
	n *atomic.Int64
}

func (b *countingBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	b.n.Add(int64(n))
	return n, err
}

// countingWriter records status and body bytes; Unwrap keeps Flush and
// Hijack (upgrades) reachable through http.ResponseController.
type countingWriter struct {
	http.ResponseWriter
	status int
	n      int64
}

func (c *countingWriter) WriteHeader(code int) {
	if c.status == 0 && (code == http.StatusSwitchingProtocols || code >= 200) {
		c.status = code
	}
	c.ResponseWriter.WriteHeader(code)
}

func (c *countingWriter) Write(p []byte) (int, error) {
	if c.status == 0 {
		c.status = http.StatusOK
	}
	n, err := c.ResponseWriter.Write(p)
	c.n += int64(n)
	return n, err
}

func (c *countingWriter) Flush() {
	_ = http.NewResponseController(c.ResponseWriter).Flush()
}

func (c *countingWriter) Unwrap() http.ResponseWriter { return c.ResponseWriter }
