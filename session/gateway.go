package session

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/nono-sandbox/nono/credentials"
	"github.com/nono-sandbox/nono/policy"
	"github.com/nono-sandbox/nono/proxy"
	"github.com/nono-sandbox/nono/sandbox"
)

// Network is what the CLI collected about egress for one run.
type Network struct {
	Profile        string   // --network-profile
	AllowDomains   []string // --allow-domain (hosts, *.suffix or group names)
	UpstreamProxy  string   // --upstream-proxy
	UpstreamBypass []string // --upstream-bypass
	ProxyPort      uint16   // --proxy-port
	ListenPorts    []uint16 // --listen-port
	OpenPorts      []uint16 // --open-port
	// DNSServer, when set (host:port, from NONO_DNS_SERVER), is the DNS
	// server the gateway asks instead of the system resolver.
	DNSServer string
}

// gatewayPlan is the resolved egress policy of a proxy-mode run.
type gatewayPlan struct {
	implicit    []string // credential hosts, allowed without an entry
	profile     string
	allow       []string
	deny        []string
	allowPublic bool // only an upstream proxy: it filters (policy.NetworkPlan.AllowPublic)
	upstream    *proxy.Upstream
	bypass      []string
	port        uint16
}

// planNetwork decides the network mode. The allowlist comes from
// policy.NetworkPlan, the same function `nono why --host` uses, so the two
// cannot disagree; this adds what only a run has: the upstream proxy, the
// ports, the gateway port and the direct-mode restrictions.
func (p *Plan) planNetwork() error {
	n := p.opts.Network
	r := p.resolved
	cliUpstream := n.UpstreamProxy != "" || len(n.UpstreamBypass) > 0 || n.ProxyPort != 0
	if p.opts.AllowNet && cliUpstream {
		return errors.New("--allow-net conflicts with --upstream-proxy, --upstream-bypass and --proxy-port: choose one")
	}
	if (p.opts.BlockNet || r.NetworkBlock) && (cliUpstream || len(p.opts.Credentials.Endpoints) > 0) {
		return errors.New("--block-net conflicts with proxy flags (--network-profile, --allow-domain, --credential, --upstream-proxy, --upstream-bypass, --proxy-port): --block-net blocks all network access, the proxy flags allow some through nono's gateway; choose one")
	}
	services := p.opts.Credentials.Services
	plan, err := r.NetworkPlan(policy.NetRequest{
		BlockNet: p.opts.BlockNet, AllowNet: p.opts.AllowNet,
		NetworkProfile: n.Profile, AllowDomains: n.AllowDomains, Credentials: services,
		UpstreamProxy: n.UpstreamProxy != "",
		PresetHost: func(name string) (string, bool) {
			pr, ok := credentials.LookupPreset(name)
			if !ok {
				return "", false
			}
			u, err := url.Parse(pr.Upstream)
			if err != nil {
				return "", false
			}
			return u.Hostname(), true
		},
	})
	if err != nil {
		return err
	}
	upstream := n.UpstreamProxy
	if upstream == "" {
		upstream = r.UpstreamProxy
	}
	bypass := append(append([]string(nil), r.UpstreamBypass...), n.UpstreamBypass...)
	if len(bypass) > 0 && upstream == "" {
		return errors.New("--upstream-bypass requires --upstream-proxy: bypass entries say which hosts skip the upstream proxy")
	}
	p.spec.OpenPorts = append(append([]uint16(nil), r.OpenPorts...), n.OpenPorts...)
	listen := append(append([]uint16(nil), r.ListenPorts...), n.ListenPorts...)
	cliProxy := n.Profile != "" || len(n.AllowDomains) > 0 || len(services) > 0 || cliUpstream
	switch plan.Mode {
	case policy.NetBlocked:
		p.spec.Net = sandbox.NetBlock
		if len(listen) > 0 {
			p.opts.Printer.Warnf("--listen-port has no effect with --block-net; use --open-port for loopback IPC")
		}
		return nil
	case policy.NetOpen:
		if cliUpstream && !p.opts.AllowNet {
			return errors.New("--proxy-port needs proxy mode: add --network-profile, --allow-domain, --credential or --upstream-proxy")
		}
		if len(listen) > 0 || len(p.spec.OpenPorts) > 0 {
			p.opts.Printer.Infof("--listen-port/--open-port have no effect: the network is unrestricted\n")
		}
		p.spec.OpenPorts = nil
		return nil
	}
	if p.opts.Mode == Direct {
		if cliProxy {
			return errors.New("nono wrap does not support proxy flags (--network-profile, --allow-domain, --credential, --upstream-proxy, --upstream-bypass): the network proxy requires a parent process. Use nono run instead")
		}
		return errors.New("the profile filters the network through nono's gateway, which needs a parent process: use nono run, or --allow-net to run unfiltered")
	}
	g := &gatewayPlan{profile: plan.NetworkProfile, allow: plan.Allow, deny: plan.Deny, implicit: plan.Implicit, allowPublic: plan.AllowPublic, bypass: bypass, port: n.ProxyPort}
	if p.creds != nil {
		g.implicit = dedup(append(g.implicit, p.creds.hosts()...))
	}
	if upstream != "" {
		up, err := proxy.ParseUpstream(upstream)
		if err != nil {
			return fmt.Errorf("--upstream-proxy: %w", err)
		}
		g.upstream = up
		if g.allowPublic {
			// The address only: a user name is nobody's business here.
			p.opts.Printer.Printf("Network: every public host goes through nono's gateway to the upstream proxy %s, which does the filtering; metadata, loopback and private addresses stay denied (add --network-profile or --allow-domain for an allowlist of nono's own).\n", up.Addr())
		}
	}
	if _, err := proxy.NewBypass(bypass); err != nil {
		return fmt.Errorf("--upstream-bypass: %w", err)
	}
	if _, err := proxy.NewHostPolicy(proxy.PolicyConfig{Allow: g.allow, Deny: g.deny, Implicit: g.implicit, AllowPublic: g.allowPublic}); err != nil {
		return fmt.Errorf("network allowlist: %w", err)
	}
	p.gateway = g
	p.spec.Net = sandbox.NetProxy
	p.spec.ListenPorts = listen
	return nil
}

// dnsServerResolver asks one DNS server (host:port) directly.
func dnsServerResolver(server string) *net.Resolver {
	return &net.Resolver{
		PreferGo: true,
		Dial: func(ctx context.Context, network, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, network, server)
		},
	}
}

// gateway is a running proxy for one session.
type gateway struct {
	srv     *proxy.Server
	token   []byte
	audit   *memorySink
	bundle  string   // trust bundle path for intercepted hosts, or ""
	bundleF *os.File // the bundle itself, for the child's read grant
	cleanup func()
}

func (p *Plan) startGateway() (*gateway, error) {
	g := p.gateway
	tok := make([]byte, 32)
	if _, err := rand.Read(tok); err != nil {
		return nil, fmt.Errorf("generating the session token: %w", err)
	}
	token := []byte(hex.EncodeToString(tok))
	pc := proxy.PolicyConfig{Allow: g.allow, Deny: g.deny, Implicit: g.implicit, AllowPublic: g.allowPublic}
	if srv := p.opts.Network.DNSServer; srv != "" {
		pc.Resolver = dnsServerResolver(srv)
	}
	pol, err := proxy.NewHostPolicy(pc)
	if err != nil {
		return nil, fmt.Errorf("network allowlist: %w", err)
	}
	sink := &memorySink{max: 4096}
	cfg := proxy.Config{
		Port:           g.port,
		Token:          token,
		Policy:         pol,
		Upstream:       g.upstream,
		UpstreamBypass: g.bypass,
		Audit:          sink,
	}
	gw := &gateway{token: token, audit: sink}
	if p.creds != nil && len(p.creds.routes) > 0 {
		routes, err := p.creds.proxyRoutes()
		if err != nil {
			return nil, err
		}
		cfg.Credentials = routes
		ca, bundle, cleanup, err := p.sessionCA(p.creds.hosts())
		if err != nil {
			return nil, err
		}
		gw.cleanup = cleanup
		gw.bundleF = bundle
		gw.bundle = bundle.Name()
		if real, err := filepath.EvalSymlinks(gw.bundle); err == nil {
			gw.bundle = real // for the child's variables and messages; the grant uses bundleF
		}
		cfg.CA = ca
	}
	srv, err := proxy.New(cfg)
	if err != nil {
		gw.stop()
		return nil, fmt.Errorf("configuring the gateway: %w", err)
	}
	gw.srv = srv
	if err := srv.Start(); err != nil {
		gw.stop()
		if g.port != 0 {
			return nil, fmt.Errorf("starting the gateway on 127.0.0.1:%d: %w (is the port in use? choose another --proxy-port)", g.port, err)
		}
		return nil, fmt.Errorf("starting the gateway: %w", err)
	}
	p.spec.ProxyPort = srv.Addr().Port()
	return gw, nil
}

func (gw *gateway) stop() {
	if gw.srv != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_ = gw.srv.Shutdown(ctx)
	}
	if gw.cleanup != nil {
		gw.cleanup()
	}
	for i := range gw.token {
		gw.token[i] = 0
	}
}

// proxyEnv are the variables that point every mainstream client at the
// gateway. The token is the proxy password; NO_PROXY keeps loopback direct
// so --open-port services work (the kernel still allows only those ports).
func (gw *gateway) proxyEnv() map[string]string {
	addr := gw.srv.Addr()
	url := fmt.Sprintf("http://nono:%s@%s", gw.token, addr)
	return map[string]string{
		"HTTP_PROXY": url, "HTTPS_PROXY": url, "http_proxy": url, "https_proxy": url,
		"ALL_PROXY": url, "all_proxy": url,
		"NO_PROXY": "localhost,127.0.0.1,::1", "no_proxy": "localhost,127.0.0.1,::1",
		"NONO_PROXY_TOKEN":   string(gw.token),
		"NODE_USE_ENV_PROXY": "1",
	}
}

// memorySink keeps the session's gateway events (bounded) for the footer
// and, later, the audit log.
type memorySink struct {
	mu      sync.Mutex
	max     int
	events  []proxy.Event
	dropped int
}

func (m *memorySink) Record(e proxy.Event) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if len(m.events) >= m.max {
		m.dropped++
		return
	}
	m.events = append(m.events, e)
}

func (m *memorySink) denials() []proxy.Event {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []proxy.Event
	for _, e := range m.events {
		if e.Decision == proxy.DecisionDeny {
			out = append(out, e)
		}
	}
	return out
}

// describeEvent renders a gateway denial for the footer.
func describeEvent(e proxy.Event) string {
	target := e.Host
	if e.Port != 0 {
		target = fmt.Sprintf("%s:%d", e.Host, e.Port)
	}
	verb := strings.ToUpper(e.Method)
	if verb == "" {
		verb = e.Mode
	}
	return fmt.Sprintf("%s %s: %s", verb, target, e.Reason)
}
