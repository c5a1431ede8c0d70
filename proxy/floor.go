package proxy

import "net/netip"

// addrClass is where an address sits relative to the deny floor.
type addrClass int

const (
	classPublic    addrClass = iota // reachable with any allow entry
	classPrivate                    // loopback, RFC 1918, CGNAT, ULA: exact allow entries only
	classForbidden                  // never: link-local, multicast, unspecified, broadcast, reserved
	classMetadata                   // never: cloud metadata endpoints
)

var metadataAddrs = map[netip.Addr]bool{
	netip.MustParseAddr("169.254.169.254"): true, // AWS, GCP, Azure IMDS, OCI, DigitalOcean
	netip.MustParseAddr("fd00:ec2::254"):   true, // AWS IMDS over IPv6
	netip.MustParseAddr("100.100.100.200"): true, // Alibaba Cloud
	netip.MustParseAddr("168.63.129.16"):   true, // Azure WireServer
}

// metadataNames are denied by name (and all their subdomains) before any
// allow entry or DNS is consulted.
var metadataNames = []string{
	"metadata.google.internal",
	"metadata.azure.internal",
	"metadata.goog",
	"metadata",
	"instance-data",
	"instance-data.ec2.internal",
}

func pfx(s string) netip.Prefix { return netip.MustParsePrefix(s) }

type rangeClass struct {
	p    netip.Prefix
	c    addrClass
	what string
}

var v4Ranges = []rangeClass{
	{pfx("0.0.0.0/8"), classForbidden, "an unspecified (this-network) address"},
	{pfx("169.254.0.0/16"), classForbidden, "a link-local address"},
	{pfx("224.0.0.0/4"), classForbidden, "a multicast address"},
	{pfx("240.0.0.0/4"), classForbidden, "a reserved or broadcast address"},
	{pfx("127.0.0.0/8"), classPrivate, "a loopback address"},
	{pfx("10.0.0.0/8"), classPrivate, "a private (RFC 1918) address"},
	{pfx("172.16.0.0/12"), classPrivate, "a private (RFC 1918) address"},
	{pfx("192.168.0.0/16"), classPrivate, "a private (RFC 1918) address"},
	{pfx("100.64.0.0/10"), classPrivate, "a carrier-grade NAT address"},
	{pfx("192.0.0.0/24"), classPrivate, "an IETF special-purpose address"},
	{pfx("198.18.0.0/15"), classPrivate, "a benchmarking-network address"},
}

var v6Ranges = []rangeClass{
	{pfx("::/128"), classForbidden, "the unspecified address"},
	{pfx("::1/128"), classPrivate, "a loopback address"},
	{pfx("fe80::/10"), classForbidden, "a link-local address"},
	{pfx("fec0::/10"), classForbidden, "a site-local address"},
	{pfx("ff00::/8"), classForbidden, "a multicast address"},
	{pfx("::/96"), classForbidden, "a deprecated IPv4-compatible address"},
	{pfx("::ffff:0:0:0/96"), classForbidden, "an IPv4-translated address"},
	{pfx("100::/64"), classForbidden, "a discard-only address"},
	{pfx("2001::/32"), classForbidden, "a Teredo address"},
	{pfx("2001:db8::/32"), classForbidden, "a documentation address"},
	{pfx("64:ff9b:1::/48"), classPrivate, "a local-use NAT64 address"},
	{pfx("fc00::/7"), classPrivate, "a unique local address"},
}

// classifyAddr places an address on the deny floor and says why, in words
// suitable for a one-line reason. IPv4 embedded in IPv6 (mapped, NAT64
// 64:ff9b::/96, 6to4 2002::/16) is classified by the embedded address.
func classifyAddr(a netip.Addr) (addrClass, string) {
	a = canonicalAddr(a)
	if metadataAddrs[a] {
		return classMetadata, "a cloud metadata address"
	}
	if a.Is4() {
		return classify4(a)
	}
	if v4, how, ok := embeddedV4(a); ok {
		c, what := classify4(v4)
		if c == classMetadata || metadataAddrs[v4] {
			return classMetadata, "a cloud metadata address (" + how + ")"
		}
		if c != classPublic {
			return c, what + " (" + how + ")"
		}
		return classPublic, ""
	}
	for _, r := range v6Ranges {
		if r.p.Contains(a) {
			return r.c, r.what
		}
	}
	return classPublic, ""
}

func classify4(a netip.Addr) (addrClass, string) {
	if metadataAddrs[a] {
		return classMetadata, "a cloud metadata address"
	}
	for _, r := range v4Ranges {
		if r.p.Contains(a) {
			return r.c, r.what
		}
	}
	return classPublic, ""
}

var (
	nat64Prefix = pfx("64:ff9b::/96")
	sixToFour   = pfx("2002::/16")
)

func embeddedV4(a netip.Addr) (netip.Addr, string, bool) {
	b := a.As16()
	switch {
	case nat64Prefix.Contains(a):
		return netip.AddrFrom4([4]byte{b[12], b[13], b[14], b[15]}), "NAT64-embedded", true
	case sixToFour.Contains(a):
		return netip.AddrFrom4([4]byte{b[2], b[3], b[4], b[5]}), "6to4-embedded", true
	}
	return netip.Addr{}, "", false
}
