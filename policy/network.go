package policy

import (
	"errors"
	"fmt"
	"strings"

	"github.com/nono-sandbox/nono/netprofiles"
)

// Network reason codes of `nono why --host` (nono-cli.md §4). The gateway's
// own codes (host_denied, metadata_denied, invalid_host, address_denied, ...)
// pass through WhyHost unchanged.
const (
	ReasonNetworkBlocked = "network_blocked"
	ReasonNetworkAllowed = "network_allowed"
	ReasonProxyAllowed   = "proxy_allowed"
	ReasonProxyFiltered  = "proxy_filtered"
	ReasonHostDenied     = "host_denied"
	ReasonMetadataDenied = "metadata_denied"
	ReasonInvalidHost    = "invalid_host"
)

// NetMode is how the child's network is confined.
type NetMode int

const (
	// NetOpen: no restriction, no gateway.
	NetOpen NetMode = iota
	// NetBlocked: every non-AF_UNIX socket is refused.
	NetBlocked
	// NetFiltered: egress only through the gateway, which applies the allowlist.
	NetFiltered
)

func (m NetMode) String() string {
	switch m {
	case NetBlocked:
		return "blocked"
	case NetFiltered:
		return "proxy"
	}
	return "allowed"
}

// NetRequest is the network part of the CLI context (flags or their NONO_*
// variables). Profile settings come from the Resolved it is applied to.
type NetRequest struct {
	BlockNet       bool     // --block-net
	AllowNet       bool     // --allow-net: no restriction, no gateway
	NetworkProfile string   // --network-profile; "" = the profile's
	AllowDomains   []string // --allow-domain; host-group names allowed
	Credentials    []string // --credential service names
	UpstreamProxy  bool     // --upstream-proxy was given
	// PresetHost maps a built-in credential service (openai, github, ...)
	// to its upstream host. Package policy does not know the presets; the
	// CLI passes credentials.LookupPreset. nil: presets add no host.
	PresetHost func(service string) (host string, ok bool)
}

// proxyFlags reports whether the CLI asked for the gateway.
func (q NetRequest) proxyFlags() bool {
	return q.NetworkProfile != "" || len(q.AllowDomains) > 0 || len(q.Credentials) > 0
}

// NetworkPlan is the network policy a run enforces: the mode, and in proxy
// mode the gateway's allow and deny entries (exact hosts or "*.suffix", as
// proxy.PolicyConfig takes them). `nono why` uses it to answer host
// questions the way `nono run` decides them.
type NetworkPlan struct {
	Mode           NetMode
	NetworkProfile string   // network profile in effect, "" = none
	Allow          []string // network profile entries, then allow_domain (CLI, profile), groups expanded
	Deny           []string // profile deny_domain, groups expanded
	// Implicit are the upstream hosts of the credential services in use,
	// allowed because a credential route targets them (proxy.PolicyConfig.Implicit).
	Implicit []string
	// Sources says where each Allow entry came from ("network_profile:<name>",
	// "--allow-domain", "profile network.allow_domain"), for explanations.
	Sources map[string]string
	// BlockSource names what blocked the network, in NetBlocked mode.
	BlockSource string
	// AllowPublic: an upstream proxy with no allowlist of nono's own (no
	// network profile, allow_domain or credential). Every public host
	// passes the gateway, which chains it to the upstream proxy that does
	// the filtering; the deny list and the address floor still apply
	// (metadata always, loopback and private addresses because no entry
	// names them). proxy.PolicyConfig.AllowPublic.
	AllowPublic bool
}

// NetworkPlan combines req with the resolved profile's network section with
// the rules of `nono run`:
//
//   - --allow-net wins (no restriction, no gateway), but conflicts with
//     --block-net and with CLI proxy flags;
//   - --block-net or profile network.block blocks, and conflicts with CLI
//     proxy flags (a profile's own proxy settings are overridden);
//   - a network profile (flag, else profile), any allow_domain entry (flag
//     or profile) or any credential service turns on the gateway; its
//     allowlist may then be empty (deny all);
//   - an upstream proxy (flag or profile) alone turns it on with
//     AllowPublic: the seed chains everything through a corporate proxy
//     with only --upstream-proxy and --upstream-bypass;
//   - otherwise the network is open.
//
// Group names in allow/deny entries are expanded with netprofiles.Expand. An
// unknown network profile is an error that lists the valid names.
func (r *Resolved) NetworkPlan(req NetRequest) (NetworkPlan, error) {
	if r.fromCap {
		return r.Net.plan(), nil
	}
	switch {
	case req.BlockNet && req.AllowNet:
		return NetworkPlan{}, errors.New("--block-net and --allow-net conflict: choose one")
	case req.AllowNet && req.proxyFlags():
		return NetworkPlan{}, errors.New("--allow-net conflicts with proxy flags (--network-profile, --allow-domain, --credential): choose one")
	case (req.BlockNet || r.NetworkBlock) && req.proxyFlags():
		return NetworkPlan{}, errors.New("--block-net (or profile network.block) conflicts with proxy flags (--network-profile, --allow-domain, --credential): choose one")
	case req.AllowNet:
		return NetworkPlan{Mode: NetOpen}, nil
	case req.BlockNet:
		return NetworkPlan{Mode: NetBlocked, BlockSource: "--block-net"}, nil
	case r.NetworkBlock:
		return NetworkPlan{Mode: NetBlocked, BlockSource: "profile network.block"}, nil
	}
	np := req.NetworkProfile
	if np == "" {
		np = r.NetworkProfile
	}
	domains := append(append([]string(nil), req.AllowDomains...), r.AllowDomains...)
	services := unionStr(r.Credentials, req.Credentials)
	upstream := req.UpstreamProxy || r.UpstreamProxy != ""
	if np == "" && len(domains) == 0 && len(services) == 0 {
		if !upstream {
			return NetworkPlan{Mode: NetOpen}, nil
		}
		return NetworkPlan{Mode: NetFiltered, AllowPublic: true, Deny: netprofiles.Expand(r.DenyDomains), Sources: map[string]string{}}, nil
	}
	plan := NetworkPlan{Mode: NetFiltered, NetworkProfile: np, Sources: map[string]string{}}
	add := func(entries []string, source string) {
		for _, e := range entries {
			if _, dup := plan.Sources[e]; !dup {
				plan.Sources[e] = source
				plan.Allow = append(plan.Allow, e)
			}
		}
	}
	if np != "" {
		entries, err := netprofiles.Profile(np)
		if err != nil {
			return NetworkPlan{}, fmt.Errorf("network profile: %w", err)
		}
		add(entries, "network_profile:"+np)
	}
	add(netprofiles.Expand(req.AllowDomains), "--allow-domain")
	add(netprofiles.Expand(r.AllowDomains), "profile network.allow_domain")
	plan.Deny = netprofiles.Expand(r.DenyDomains)
	for _, name := range services {
		host, ok := "", false
		if c, custom := r.CustomCredentials[name]; custom {
			host = upstreamHost(c.Upstream)
			ok = host != ""
		} else if req.PresetHost != nil {
			host, ok = req.PresetHost(name)
		}
		if !ok {
			return NetworkPlan{}, fmt.Errorf("credential service %q is neither a preset nor a custom credential of the profile", name)
		}
		if !contains(plan.Implicit, host) {
			plan.Implicit = append(plan.Implicit, host)
		}
	}
	return plan, nil
}

// plan is the network a session recorded in its capability file: blocked,
// open, or the gateway with its allowlist, credential upstreams and
// upstream-only mode. Files from before net_proxy have only
// allowed_domains, which still means the gateway.
func (n CapNet) plan() NetworkPlan {
	switch {
	case n.Blocked:
		return NetworkPlan{Mode: NetBlocked, BlockSource: "this sandbox"}
	case !n.Proxy && len(n.AllowedDomains) == 0:
		return NetworkPlan{Mode: NetOpen}
	}
	p := NetworkPlan{Mode: NetFiltered, Allow: n.AllowedDomains, Implicit: n.CredentialHosts, AllowPublic: n.AllowPublic, Sources: map[string]string{}}
	for _, a := range p.Allow {
		p.Sources[a] = "this sandbox's gateway"
	}
	return p
}

// upstreamHost returns the host of an upstream URL ("https://api.x.com/v1"
// gives "api.x.com"), or "" when it has none.
func upstreamHost(u string) string {
	_, rest, ok := strings.Cut(u, "://")
	if !ok {
		return ""
	}
	if i := strings.IndexAny(rest, "/?#"); i >= 0 {
		rest = rest[:i]
	}
	if i := strings.LastIndexByte(rest, '@'); i >= 0 {
		rest = rest[i+1:]
	}
	if strings.HasPrefix(rest, "[") {
		if i := strings.IndexByte(rest, ']'); i >= 0 {
			return rest[:i+1]
		}
		return ""
	}
	if i := strings.LastIndexByte(rest, ':'); i >= 0 {
		rest = rest[:i]
	}
	return rest
}

// HostVerdict is the gateway's pure (pre-DNS) decision on one host: the
// fields of proxy.Decision that an explanation needs.
type HostVerdict struct {
	Allow  bool
	Reason string // the gateway's reason code, e.g. proxy_allowed, host_denied
	Host   string // normalised host, "" when invalid
	Rule   string // the allow or deny entry that matched, if any
	Detail string // one line
}

// HostChecker decides one host:port against a plan's entries. Package policy
// must not import the gateway, so the caller supplies it; in nono it is
// proxy.NewHostPolicy(PolicyConfig{Allow: plan.Allow, Deny: plan.Deny,
// Implicit: plan.Implicit}).Check, which performs no DNS.
type HostChecker func(host string, port uint16) HostVerdict

// WhyHost explains whether the child may reach host:port under plan. check
// must be built from plan's entries; it is consulted in every mode so that
// an invalid host name is reported as invalid_host even when the network is
// open or blocked.
func WhyHost(plan NetworkPlan, check HostChecker, host string, port uint16) WhyResult {
	v := check(host, port)
	if v.Reason == ReasonInvalidHost {
		return WhyResult{Status: StatusDenied, Reason: ReasonInvalidHost, Details: "Invalid host: " + v.Detail}
	}
	switch plan.Mode {
	case NetBlocked:
		return WhyResult{Status: StatusDenied, Reason: ReasonNetworkBlocked,
			Details:      "Network access is blocked for this sandbox; no host can be reached.",
			PolicySource: plan.BlockSource}
	case NetOpen:
		return WhyResult{Status: StatusAllowed, Reason: ReasonNetworkAllowed,
			Details: "Network access is not restricted: there is no domain filtering (use --block-net, --network-profile or --allow-domain to restrict it)."}
	}
	target := fmt.Sprintf("%s:%d", v.Host, port)
	if v.Allow && plan.AllowPublic && !contains(plan.Implicit, v.Rule) {
		return WhyResult{Status: StatusAllowed, Reason: ReasonProxyAllowed,
			Details:      fmt.Sprintf("Only an upstream proxy is configured: the gateway passes %s, like every public host, to the upstream proxy, which does the filtering (metadata, loopback and private addresses are still refused; --network-profile or --allow-domain give nono an allowlist of its own).", target),
			PolicySource: "upstream_proxy"}
	}
	if v.Allow {
		return WhyResult{Status: StatusAllowed, Reason: ReasonProxyAllowed,
			Details:      fmt.Sprintf("Domain filtering is active and %s matches the allowlist entry %s.", target, v.Rule),
			PolicySource: plan.entrySource(v.Rule)}
	}
	switch v.Reason {
	case ReasonProxyFiltered:
		return WhyResult{Status: StatusDenied, Reason: ReasonProxyFiltered,
			Details: fmt.Sprintf("Domain filtering is active. %s is not in the allowlist (%s); allow it with --allow-domain %s, or add it to network.allow_domain in the profile.",
				v.Host, plan.describe(), v.Host),
			SuggestedFlag: "--allow-domain " + v.Host}
	case ReasonHostDenied:
		return WhyResult{Status: StatusDenied, Reason: ReasonHostDenied,
			Details:      fmt.Sprintf("Domain filtering is active and %s matches the deny entry %s; deny entries win over the allowlist.", v.Host, v.Rule),
			PolicySource: "profile network.deny_domain"}
	case ReasonMetadataDenied:
		return WhyResult{Status: StatusDenied, Reason: ReasonMetadataDenied,
			Details: fmt.Sprintf("%s is a cloud metadata endpoint; the gateway always refuses it.", v.Host)}
	}
	return WhyResult{Status: StatusDenied, Reason: v.Reason, Details: v.Detail}
}

func (p NetworkPlan) entrySource(entry string) string {
	if s, ok := p.Sources[entry]; ok {
		return s
	}
	if contains(p.Implicit, entry) {
		return "credential upstream"
	}
	return ""
}

// describe summarises where the allowlist came from.
func (p NetworkPlan) describe() string {
	var parts []string
	if p.NetworkProfile != "" {
		parts = append(parts, "network profile "+p.NetworkProfile)
	}
	n := 0
	for _, s := range p.Sources {
		if !strings.HasPrefix(s, "network_profile:") {
			n++
		}
	}
	if n > 0 {
		parts = append(parts, fmt.Sprintf("%d allow_domain entr%s", n, map[bool]string{true: "y", false: "ies"}[n == 1]))
	}
	if len(parts) == 0 {
		return "empty allowlist"
	}
	return strings.Join(parts, " + ")
}
