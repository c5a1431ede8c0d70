package proxy

import (
	"bufio"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// Upstream is a parent HTTP proxy that the gateway chains through.
type Upstream struct {
	Host string // normalised
	Port uint16
	User string // optional
	// Password is supplied by the caller from a secret reference, never
	// parsed from a URL. New copies it into the Proxy-Authorization value;
	// the caller may wipe its copy afterwards.
	Password []byte
}

// ParseUpstream accepts "host:port" or "http://[user@]host:port". Other
// schemes, a path, query or fragment, a password in the URL, and a missing
// port are rejected; the host goes through NormalizeHost.
func ParseUpstream(s string) (*Upstream, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return nil, errors.New("upstream proxy: empty value; use host:port or http://[user@]host:port")
	}
	if len(s) > maxHostInput {
		return nil, errors.New("upstream proxy: value is too long")
	}
	authority := s
	up := &Upstream{}
	if strings.Contains(s, "://") {
		u, err := url.Parse(s)
		if err != nil {
			return nil, errors.New("upstream proxy: not a valid URL; use http://[user@]host:port")
		}
		if u.Scheme != "http" {
			return nil, fmt.Errorf("upstream proxy: scheme %q is not supported; only http:// proxies can be chained", sanitizeForEcho(u.Scheme))
		}
		if u.Opaque != "" || (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.ForceQuery || u.Fragment != "" {
			return nil, errors.New("upstream proxy: the URL must not have a path, query or fragment")
		}
		if u.User != nil {
			if _, has := u.User.Password(); has {
				return nil, errors.New("upstream proxy: do not put a password in the URL; give it as a secret reference (upstream proxy password) instead")
			}
			up.User = u.User.Username()
			if up.User == "" || strings.ContainsAny(up.User, ":\r\n\x00") {
				return nil, errors.New("upstream proxy: invalid user name")
			}
		}
		authority = u.Host
	} else if strings.ContainsAny(s, "/@?#") {
		return nil, errors.New("upstream proxy: use host:port or http://[user@]host:port")
	}
	rawHost, port, err := splitAuthority(authority)
	if err != nil {
		return nil, fmt.Errorf("upstream proxy: %w (use host:port, for example proxy.corp:3128)", err)
	}
	host, err := NormalizeHost(rawHost)
	if err != nil {
		return nil, fmt.Errorf("upstream proxy: %w", err)
	}
	up.Host, up.Port = host, port
	return up, nil
}

// Addr is "host:port" (IPv6 bracketed). It carries no credentials.
func (u *Upstream) Addr() string { return joinHostPort(u.Host, u.Port) }

// String is the proxy URL without any password.
func (u *Upstream) String() string {
	if u.User != "" {
		return "http://" + url.User(u.User).String() + "@" + u.Addr()
	}
	return "http://" + u.Addr()
}

// authHeader builds the Proxy-Authorization value, or "" without a user.
func (u *Upstream) authHeader() string {
	if u.User == "" && len(u.Password) == 0 {
		return ""
	}
	buf := make([]byte, 0, len(u.User)+1+len(u.Password))
	buf = append(append(append(buf, u.User...), ':'), u.Password...)
	defer wipe(buf)
	return "Basic " + base64.StdEncoding.EncodeToString(buf)
}

// Bypass is the list of hosts that skip the upstream proxy: exact names or
// "*.suffix" (strict subdomains), matched after NormalizeHost.
type Bypass struct{ m matcher }

// NewBypass validates the entries (same syntax as allow entries).
func NewBypass(entries []string) (*Bypass, error) {
	b := &Bypass{}
	for _, e := range entries {
		if err := b.m.add(e); err != nil {
			return nil, fmt.Errorf("upstream bypass: %w", err)
		}
	}
	return b, nil
}

// Match normalises host and reports whether it bypasses the upstream.
func (b *Bypass) Match(host string) bool {
	if b == nil {
		return false
	}
	h, err := NormalizeHost(host)
	if err != nil {
		return false
	}
	_, _, ok := b.m.match(h)
	return ok
}

// maxUpstreamHead bounds the upstream proxy's CONNECT response head.
const maxUpstreamHead = 64 << 10

// dialTunnel opens a CONNECT tunnel to target through the upstream proxy.
// It returns the raw TCP connection and any bytes the upstream sent after
// its response head (they belong to the tunnel).
func (s *Server) dialTunnel(ctx context.Context, target string) (*net.TCPConn, []byte, error) {
	ctx, cancel := context.WithTimeout(ctx, s.cfg.DialTimeout)
	defer cancel()
	c, err := s.dialer.DialContext(ctx, "tcp", s.upstream.Addr())
	if err != nil {
		return nil, nil, fmt.Errorf("cannot reach upstream proxy %s: %w", s.upstream.Addr(), err)
	}
	conn := c.(*net.TCPConn)
	fail := func(err error) (*net.TCPConn, []byte, error) {
		conn.Close()
		return nil, nil, err
	}
	deadline, _ := ctx.Deadline()
	_ = conn.SetDeadline(deadline)
	stop := context.AfterFunc(ctx, func() { _ = conn.SetDeadline(time.Unix(1, 0)) })

	var req strings.Builder
	fmt.Fprintf(&req, "CONNECT %s HTTP/1.1\r\nHost: %s\r\n", target, target)
	if s.upstreamAuth != "" {
		req.WriteString("Proxy-Authorization: " + s.upstreamAuth + "\r\n")
	}
	req.WriteString("\r\n")
	if _, err := io.WriteString(conn, req.String()); err != nil {
		stop()
		return fail(fmt.Errorf("upstream proxy %s: write CONNECT: %w", s.upstream.Addr(), err))
	}
	br := bufio.NewReader(io.LimitReader(conn, maxUpstreamHead))
	resp, err := http.ReadResponse(br, &http.Request{Method: http.MethodConnect})
	if err != nil {
		stop()
		return fail(fmt.Errorf("upstream proxy %s: bad CONNECT response: %w", s.upstream.Addr(), err))
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		stop()
		return fail(fmt.Errorf("upstream proxy %s refused CONNECT: %s", s.upstream.Addr(), sanitizeForEcho(resp.Status)))
	}
	var pending []byte
	if n := br.Buffered(); n > 0 {
		pending, _ = br.Peek(n)
		pending = append([]byte(nil), pending...)
	}
	if !stop() {
		return fail(fmt.Errorf("upstream proxy %s: %w", s.upstream.Addr(), context.Cause(ctx)))
	}
	if err := conn.SetDeadline(time.Time{}); err != nil {
		return fail(err)
	}
	return conn, pending, nil
}
