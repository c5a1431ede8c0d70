package proxy

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"time"
)

// Reason codes. They appear in audit events, in the X-Nono-Reason response
// header and in `nono why`; treat them as a stable interface.
const (
	ReasonAllowed      = "proxy_allowed"   // passed every check
	ReasonHostDenied   = "host_denied"     // matched a deny entry
	ReasonFiltered     = "proxy_filtered"  // not in the allowlist
	ReasonMetadata     = "metadata_denied" // cloud metadata name or address
	ReasonAddress      = "address_denied"  // name or literal in a forbidden range
	ReasonInvalidHost  = "invalid_host"    // host failed normalisation
	ReasonDNSFailed    = "dns_failed"      // resolution failed or returned nothing
	ReasonLoop         = "loop_denied"     // target is the gateway itself
	ReasonAuth         = "auth_required"   // missing or wrong proxy credential
	ReasonUpstream     = "upstream_failed" // dial, upstream proxy or origin failure
	ReasonBadRequest   = "bad_request"     // malformed or unsupported request
	ReasonNoRoute      = "no_route"        // origin-form request with no reverse handler
	ReasonOverCapacity = "over_capacity"   // connection cap reached
)

// Resolver is the name lookup the policy needs; *net.Resolver satisfies it.
type Resolver interface {
	LookupNetIP(ctx context.Context, network, host string) ([]netip.Addr, error)
}

// rootedResolver looks names up as fully qualified (trailing dot), so the
// resolver's search list can never turn an allowed "api" into "api.corp".
type rootedResolver struct{ r Resolver }

func (rr rootedResolver) LookupNetIP(ctx context.Context, network, host string) ([]netip.Addr, error) {
	return rr.r.LookupNetIP(ctx, network, host+".")
}

// PolicyConfig lists the entries a HostPolicy is built from. Entries are
// exact hosts ("api.example.com", "10.0.0.5", "[::1]") or "*.suffix"
// (strict subdomains only; the apex is not matched). "*" alone, "*foo",
// inner wildcards and ports are rejected.
type PolicyConfig struct {
	Allow []string
	Deny  []string
	// Implicit hosts are allowed as if listed in Allow (credential routes).
	Implicit []string
	// AllowPublic lets every host through the allowlist step as a
	// wildcard (non-exact) match: the gateway of an upstream proxy that
	// does the filtering. Metadata, the deny list and the address floor
	// still apply, so loopback and private addresses stay unreachable
	// unless an exact Allow entry names them.
	AllowPublic bool
	// Resolver defaults to net.DefaultResolver (queried with rooted names).
	Resolver Resolver
	// ResolveTimeout bounds one lookup (default 10 s).
	ResolveTimeout time.Duration
}

// Decision is the outcome of a policy check.
type Decision struct {
	Allow  bool
	Reason string // one of the Reason* codes
	Host   string // normalised host; empty when invalid
	Port   uint16
	Rule   string // the entry that matched, if any
	Detail string // one line, safe to echo to a client
}

type matcher struct {
	exact    map[string]string // normalised host -> entry as written
	suffixes []suffixEntry
}

type suffixEntry struct {
	dotSuffix string // ".example.com"
	entry     string
}

func (m *matcher) match(host string) (entry string, exact, ok bool) {
	if e, found := m.exact[host]; found {
		return e, true, true
	}
	if _, isIP := isIPLiteral(host); isIP {
		return "", false, false
	}
	for _, s := range m.suffixes {
		if len(host) > len(s.dotSuffix) && strings.HasSuffix(host, s.dotSuffix) {
			return s.entry, false, true
		}
	}
	return "", false, false
}

func (m *matcher) add(entry string) error {
	e := strings.TrimSpace(entry)
	if e == "" {
		return errors.New("empty entry")
	}
	if strings.HasPrefix(e, "*.") {
		suffix := e[2:]
		if strings.Contains(suffix, "*") {
			return fmt.Errorf("entry %q: only one leading \"*.\" is allowed", sanitizeForEcho(entry))
		}
		h, err := NormalizeHost(suffix)
		if err != nil {
			return fmt.Errorf("entry %q: %w", sanitizeForEcho(entry), err)
		}
		if _, isIP := isIPLiteral(h); isIP {
			return fmt.Errorf("entry %q: a wildcard needs a domain name, not an IP address", sanitizeForEcho(entry))
		}
		m.suffixes = append(m.suffixes, suffixEntry{dotSuffix: "." + h, entry: e})
		return nil
	}
	if strings.Contains(e, "*") {
		return fmt.Errorf("entry %q: wildcards must have the form \"*.example.com\" (strict subdomains); \"*\" alone and partial wildcards are not allowed", sanitizeForEcho(entry))
	}
	if strings.Contains(e, "/") || strings.Contains(e, "@") {
		return fmt.Errorf("entry %q: give a host name, not a URL", sanitizeForEcho(entry))
	}
	if !strings.HasPrefix(e, "[") && strings.Count(e, ":") == 1 {
		return fmt.Errorf("entry %q: ports are not supported in host entries; give the host only", sanitizeForEcho(entry))
	}
	if strings.HasPrefix(e, "[") && !strings.HasSuffix(e, "]") {
		return fmt.Errorf("entry %q: ports are not supported in host entries; give the host only", sanitizeForEcho(entry))
	}
	h, err := NormalizeHost(e)
	if err != nil {
		return fmt.Errorf("entry %q: %w", sanitizeForEcho(entry), err)
	}
	if m.exact == nil {
		m.exact = map[string]string{}
	}
	m.exact[h] = e
	return nil
}

// HostPolicy decides which hosts the gateway may reach. It is immutable and
// safe for concurrent use.
type HostPolicy struct {
	allow       matcher
	deny        matcher
	allowPublic bool
	resolver    Resolver
	timeout     time.Duration
}

// NewHostPolicy validates and compiles the entries. An empty allowlist
// denies everything, unless AllowPublic (there is no allow-all mode: the
// metadata names, the deny list and the address floor always apply).
func NewHostPolicy(cfg PolicyConfig) (*HostPolicy, error) {
	p := &HostPolicy{timeout: cfg.ResolveTimeout, allowPublic: cfg.AllowPublic}
	if p.timeout <= 0 {
		p.timeout = 10 * time.Second
	}
	p.resolver = cfg.Resolver
	if p.resolver == nil {
		p.resolver = rootedResolver{net.DefaultResolver}
	}
	for _, e := range append(append([]string{}, cfg.Allow...), cfg.Implicit...) {
		if err := p.allow.add(e); err != nil {
			return nil, fmt.Errorf("allow list: %w", err)
		}
	}
	for _, e := range cfg.Deny {
		if err := p.deny.add(e); err != nil {
			return nil, fmt.Errorf("deny list: %w", err)
		}
	}
	return p, nil
}

func isMetadataName(host string) bool {
	for _, n := range metadataNames {
		if host == n || strings.HasSuffix(host, "."+n) {
			return true
		}
	}
	return false
}

// Check is the pure, pre-DNS decision: normalise, metadata names, deny
// list, allowlist, and for IP literals the address floor. An allowed name
// still has its resolved addresses checked by Resolve before any dial.
func (p *HostPolicy) Check(rawHost string, port uint16) Decision {
	d, _ := p.check(rawHost, port)
	return d
}

// check also reports whether the allow match was exact.
func (p *HostPolicy) check(rawHost string, port uint16) (Decision, bool) {
	host, err := NormalizeHost(rawHost)
	if err != nil {
		return Decision{Reason: ReasonInvalidHost, Port: port, Detail: strings.TrimPrefix(err.Error(), ErrInvalidHost.Error()+": ")}, false
	}
	d := Decision{Host: host, Port: port}
	if port == 0 {
		d.Reason, d.Detail = ReasonInvalidHost, "port 0 is not a valid destination"
		return d, false
	}
	ip, isIP := isIPLiteral(host)
	if isMetadataName(host) || (isIP && metadataAddrs[ip]) {
		d.Reason, d.Detail = ReasonMetadata, fmt.Sprintf("host %s is a cloud metadata endpoint and is always denied", host)
		return d, false
	}
	if entry, _, ok := p.deny.match(host); ok {
		d.Reason, d.Rule, d.Detail = ReasonHostDenied, entry, fmt.Sprintf("host %s is in the deny list (%s)", host, sanitizeForEcho(entry))
		return d, false
	}
	entry, exact, ok := p.allow.match(host)
	public := false
	if !ok && p.allowPublic {
		entry, exact, ok, public = "*", false, true, true
	}
	if !ok {
		d.Reason, d.Detail = ReasonFiltered, fmt.Sprintf("host %s is not in the allowlist", host)
		return d, false
	}
	d.Rule = entry
	if isIP {
		if deny := floorDecision(&d, ip, exact, "address"); deny {
			return d, exact
		}
	}
	d.Allow, d.Reason = true, ReasonAllowed
	if public {
		d.Detail = fmt.Sprintf("host %s is allowed: with only an upstream proxy, the gateway passes every public host to it", host)
	} else {
		d.Detail = fmt.Sprintf("host %s is allowed by %s", host, sanitizeForEcho(entry))
	}
	return d, exact
}

// floorDecision fills d and returns true when ip is denied by the floor.
func floorDecision(d *Decision, ip netip.Addr, exact bool, what string) bool {
	c, desc := classifyAddr(ip)
	switch {
	case c == classMetadata:
		d.Allow, d.Reason = false, ReasonMetadata
		d.Detail = fmt.Sprintf("%s is %s and is always denied", floorSubject(d, ip, what), desc)
		return true
	case c == classForbidden:
		d.Allow, d.Reason = false, ReasonAddress
		d.Detail = fmt.Sprintf("%s is %s and is always denied", floorSubject(d, ip, what), desc)
		return true
	case c == classPrivate && !exact:
		d.Allow, d.Reason = false, ReasonAddress
		d.Detail = fmt.Sprintf("%s is %s; only an exact (non-wildcard) allow entry may reach it", floorSubject(d, ip, what), desc)
		return true
	}
	return false
}

// floorSubject names a refused address: "resolved address 10.0.0.1 of
// corp.test", or "address 10.0.0.1" for a literal. Only refusals pay for it.
func floorSubject(d *Decision, ip netip.Addr, what string) string {
	if a, err := netip.ParseAddr(strings.Trim(d.Host, "[]")); err == nil && a == ip {
		return fmt.Sprintf("%s %s", what, ip)
	}
	return fmt.Sprintf("%s %s of %s", what, ip, d.Host)
}

// Resolve runs Check and then, for an allowed name, resolves it once and
// checks every address against the deny floor. On allow it returns the
// exact addresses to dial; callers must never resolve the name again.
func (p *HostPolicy) Resolve(ctx context.Context, rawHost string, port uint16) (Decision, []netip.AddrPort) {
	d, exact := p.check(rawHost, port)
	if !d.Allow {
		return d, nil
	}
	if ip, isIP := isIPLiteral(d.Host); isIP {
		return d, []netip.AddrPort{netip.AddrPortFrom(ip, port)}
	}
	addrs, err := p.lookup(ctx, d.Host)
	if err != nil {
		d.Allow, d.Reason = false, ReasonDNSFailed
		d.Detail = fmt.Sprintf("could not resolve %s: %s", d.Host, lookupErrText(err))
		return d, nil
	}
	out := make([]netip.AddrPort, 0, len(addrs))
	seen := make(map[netip.Addr]bool, len(addrs))
	for _, a := range addrs {
		a = canonicalAddr(a)
		if seen[a] {
			continue
		}
		seen[a] = true
		if p.deniedAddr(&d, a) || floorDecision(&d, a, exact, "resolved address") {
			return d, nil
		}
		out = append(out, netip.AddrPortFrom(a, port))
	}
	return d, out
}

func (p *HostPolicy) lookup(ctx context.Context, host string) ([]netip.Addr, error) {
	ctx, cancel := context.WithTimeout(ctx, p.timeout)
	defer cancel()
	addrs, err := p.resolver.LookupNetIP(ctx, "ip", host)
	if err != nil {
		return nil, err
	}
	if len(addrs) == 0 {
		return nil, errors.New("no addresses")
	}
	return addrs, nil
}

// checkChained is the decision for traffic sent to an upstream proxy, which
// resolves the name itself. The name-level checks always apply. The name is
// also resolved locally, best effort: if that works, every address must pass
// the floor (catching names that point at metadata or loopback); if it
// fails, the request proceeds and the upstream's resolution is trusted.
func (p *HostPolicy) checkChained(ctx context.Context, rawHost string, port uint16) Decision {
	d, exact := p.check(rawHost, port)
	if !d.Allow {
		return d
	}
	if _, isIP := isIPLiteral(d.Host); isIP {
		return d
	}
	addrs, err := p.lookup(ctx, d.Host)
	if err != nil {
		return d
	}
	for _, a := range addrs {
		a = canonicalAddr(a)
		if p.deniedAddr(&d, a) || floorDecision(&d, a, exact, "resolved address") {
			return d
		}
	}
	return d
}

// deniedAddr applies IP deny entries to a resolved address, so a deny entry
// for an address cannot be sidestepped through a name that resolves to it.
func (p *HostPolicy) deniedAddr(d *Decision, a netip.Addr) bool {
	entry, found := p.deny.exact[a.String()]
	if !found {
		return false
	}
	d.Allow, d.Reason, d.Rule = false, ReasonHostDenied, entry
	d.Detail = fmt.Sprintf("resolved address %s of %s is in the deny list (%s)", a, d.Host, sanitizeForEcho(entry))
	return true
}

func lookupErrText(err error) string {
	var dnsErr *net.DNSError
	switch {
	case errors.As(err, &dnsErr) && dnsErr.IsNotFound:
		return "no such host"
	case errors.As(err, &dnsErr) && dnsErr.IsTimeout, errors.Is(err, context.DeadlineExceeded):
		return "lookup timed out"
	case errors.Is(err, context.Canceled):
		return "lookup cancelled"
	}
	return sanitizeForEcho(err.Error())
}
