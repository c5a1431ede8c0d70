package proxy

import (
	"context"
	"net/netip"
	"strings"
	"testing"
)

func mustPolicy(t testing.TB, pc PolicyConfig) *HostPolicy {
	t.Helper()
	p, err := NewHostPolicy(pc)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestPolicyEntryValidation(t *testing.T) {
	bad := []string{"*", "*example.com", "example*.com", "*.*.example.com", "foo.*.example.com", "*.",
		"example.com:443", "[::1]:443", "http://example.com", "example.com/x", "user@example.com",
		"*.1.2.3.4", "*.0.1", "", "  ", "exa\x00mple.com", "*.exa\nmple.com", "fe80::1%eth0"}
	for _, e := range bad {
		if _, err := NewHostPolicy(PolicyConfig{Allow: []string{e}}); err == nil {
			t.Errorf("allow entry %q accepted", e)
		} else if strings.ContainsAny(err.Error(), "\x00\n") {
			t.Errorf("error for %q echoes control characters: %q", e, err)
		}
		if _, err := NewHostPolicy(PolicyConfig{Deny: []string{e}}); err == nil {
			t.Errorf("deny entry %q accepted", e)
		}
	}
	_, err := NewHostPolicy(PolicyConfig{Allow: []string{"*"}})
	if err == nil || !strings.Contains(err.Error(), "*.example.com") {
		t.Errorf("error for \"*\" does not explain the accepted form: %v", err)
	}
	for _, e := range []string{"example.com", "*.example.com", "EXAMPLE.com.", "10.0.0.5", "[::1]", "::1", "bücher.example", "0x7f.1"} {
		if _, err := NewHostPolicy(PolicyConfig{Allow: []string{e}}); err != nil {
			t.Errorf("allow entry %q rejected: %v", e, err)
		}
	}
}

func TestPolicyMatchingSemantics(t *testing.T) {
	res := newFakeResolver(nil)
	p := mustPolicy(t, PolicyConfig{
		Allow:    []string{"allowed.test", "*.wild.test", "EXACT.Case.test.", "bücher.example", "10.0.0.5"},
		Deny:     []string{"bad.wild.test", "*.evil.wild.test"},
		Implicit: []string{"api.route.test"},
		Resolver: res,
	})
	cases := []struct {
		host   string
		reason string
	}{
		{"allowed.test", ReasonAllowed},
		{"ALLOWED.test.", ReasonAllowed},
		{"allowed\u3002test", ReasonAllowed},
		{"exact.case.test", ReasonAllowed},
		{"xn--bcher-kva.example", ReasonAllowed},
		{"BÜCHER.example", ReasonAllowed},
		{"api.route.test", ReasonAllowed},
		{"x.wild.test", ReasonAllowed},
		{"a.b.wild.test", ReasonAllowed},
		{"wild.test", ReasonFiltered},           // apex is not a strict subdomain
		{"evilwild.test", ReasonFiltered},       // suffix without the dot
		{"wild.test.evil.test", ReasonFiltered}, // allowed name as a prefix
		{"allowed.test.evil.test", ReasonFiltered},
		{"evilallowed.test", ReasonFiltered},
		{"sub.allowed.test", ReasonFiltered}, // exact entries have no subdomains
		{"bad.wild.test", ReasonHostDenied},  // deny beats a wildcard allow
		{"BAD.wild.test.", ReasonHostDenied},
		{"bad\uff0ewild\uff61test", ReasonHostDenied},
		{"x.evil.wild.test", ReasonHostDenied},
		{"metadata.google.internal", ReasonMetadata},
		{"METADATA.google.internal.", ReasonMetadata},
		{"x.metadata.google.internal", ReasonMetadata},
		{"metadata.azure.internal", ReasonMetadata},
		{"10.0.0.5", ReasonAllowed}, // private literal through an exact entry
		{"0xa000005", ReasonAllowed},
		{"10.0.0.6", ReasonFiltered},
		{"169.254.169.254", ReasonMetadata},
		{"2852039166", ReasonMetadata},
		{"[fd00:ec2::254]", ReasonMetadata},
		{"100.100.100.200", ReasonMetadata},
		{"168.63.129.16", ReasonMetadata},
		{"[::ffff:169.254.169.254]", ReasonMetadata},
		{"exa\x00mple.com", ReasonInvalidHost},
		{"fe80::1%eth0", ReasonInvalidHost},
	}
	for _, c := range cases {
		d := p.Check(c.host, 443)
		if d.Reason != c.reason || d.Allow != (c.reason == ReasonAllowed) {
			t.Errorf("Check(%q) = %+v, want %s", c.host, d, c.reason)
		}
		if strings.ContainsAny(d.Detail, "\x00\r\n") {
			t.Errorf("Check(%q) detail has control characters: %q", c.host, d.Detail)
		}
	}
	if res.total() != 0 {
		t.Fatalf("Check consulted the resolver %d times; it must be pre-DNS", res.total())
	}
	if d := p.Check("allowed.test", 0); d.Allow || d.Reason != ReasonInvalidHost {
		t.Errorf("port 0 allowed: %+v", d)
	}
}

func TestEmptyAllowlistDeniesEverything(t *testing.T) {
	p := mustPolicy(t, PolicyConfig{Resolver: newFakeResolver(nil)})
	for _, h := range []string{"example.com", "93.184.216.34", "localhost"} {
		if d := p.Check(h, 443); d.Allow || d.Reason != ReasonFiltered {
			t.Errorf("empty allowlist: Check(%q) = %+v", h, d)
		}
	}
}

func TestDeniedNameNeverReachesResolver(t *testing.T) {
	res := newFakeResolver(map[string]string{
		"secret.wild.test":         "93.184.216.34",
		"other.test":               "93.184.216.34",
		"metadata.google.internal": "93.184.216.34",
	})
	p := mustPolicy(t, PolicyConfig{
		Allow:    []string{"*.wild.test", "metadata.google.internal"},
		Deny:     []string{"secret.wild.test"},
		Resolver: res,
	})
	for _, h := range []string{"secret.wild.test", "SECRET.wild.test.", "secret\u3002wild.test", "other.test", "metadata.google.internal", "bad\x00.wild.test"} {
		d, addrs := p.Resolve(context.Background(), h, 443)
		if d.Allow || addrs != nil {
			t.Errorf("Resolve(%q) allowed: %+v %v", h, d, addrs)
		}
	}
	if n := res.total(); n != 0 {
		t.Fatalf("denied names reached the resolver %d times: %v", n, res.calls)
	}
}

func TestResolveDenyFloor(t *testing.T) {
	res := newFakeResolver(map[string]string{
		"pub.wild.test":      "93.184.216.34,2606:2800:220:1:248:1893:25c8:1946",
		"loop.wild.test":     "127.0.0.1",
		"loop6.wild.test":    "::1",
		"ll.wild.test":       "169.254.10.10",
		"ll6.wild.test":      "fe80::1",
		"md.wild.test":       "169.254.169.254",
		"mapped.wild.test":   "::ffff:169.254.169.254",
		"nat64.wild.test":    "64:ff9b::a9fe:a9fe",
		"sixto4.wild.test":   "2002:a9fe:a9fe::1",
		"nat64lo.wild.test":  "64:ff9b::7f00:1",
		"rfc1918.wild.test":  "192.168.1.10",
		"cgnat.wild.test":    "100.64.0.1",
		"ula.wild.test":      "fd12:3456::1",
		"mixed.wild.test":    "93.184.216.34,169.254.169.254",
		"mixed6.wild.test":   "93.184.216.34,fe80::1",
		"mcast.wild.test":    "224.0.0.1",
		"zero.wild.test":     "0.0.0.0",
		"bcast.wild.test":    "255.255.255.255",
		"ali.wild.test":      "100.100.100.200",
		"azure.wild.test":    "168.63.129.16",
		"aws6.wild.test":     "fd00:ec2::254",
		"teredo.wild.test":   "2001:0:4136:e378:8000:63bf:3fff:fdd2",
		"loop.exact.test":    "127.0.0.1,::1",
		"priv.exact.test":    "10.0.0.1,fd00::1,100.64.1.1",
		"md.exact.test":      "169.254.169.254",
		"ll.exact.test":      "fe80::1",
		"mixedmd.exact.test": "10.0.0.1,::ffff:169.254.169.254",
	})
	p := mustPolicy(t, PolicyConfig{
		Allow:    []string{"*.wild.test", "loop.exact.test", "priv.exact.test", "md.exact.test", "ll.exact.test", "mixedmd.exact.test", "nxdomain.test"},
		Resolver: res,
	})
	cases := map[string]string{
		"pub.wild.test":      ReasonAllowed,
		"loop.wild.test":     ReasonAddress,
		"loop6.wild.test":    ReasonAddress,
		"ll.wild.test":       ReasonAddress,
		"ll6.wild.test":      ReasonAddress,
		"md.wild.test":       ReasonMetadata,
		"mapped.wild.test":   ReasonMetadata,
		"nat64.wild.test":    ReasonMetadata,
		"sixto4.wild.test":   ReasonMetadata,
		"nat64lo.wild.test":  ReasonAddress,
		"rfc1918.wild.test":  ReasonAddress,
		"cgnat.wild.test":    ReasonAddress,
		"ula.wild.test":      ReasonAddress,
		"mixed.wild.test":    ReasonMetadata,
		"mixed6.wild.test":   ReasonAddress,
		"mcast.wild.test":    ReasonAddress,
		"zero.wild.test":     ReasonAddress,
		"bcast.wild.test":    ReasonAddress,
		"ali.wild.test":      ReasonMetadata,
		"azure.wild.test":    ReasonMetadata,
		"aws6.wild.test":     ReasonMetadata,
		"teredo.wild.test":   ReasonAddress,
		"loop.exact.test":    ReasonAllowed,
		"priv.exact.test":    ReasonAllowed,
		"md.exact.test":      ReasonMetadata,
		"ll.exact.test":      ReasonAddress,
		"mixedmd.exact.test": ReasonMetadata,
		"nxdomain.test":      ReasonDNSFailed,
	}
	for host, want := range cases {
		d, addrs := p.Resolve(context.Background(), host, 8443)
		if d.Reason != want {
			t.Errorf("Resolve(%q) = %s (%s), want %s", host, d.Reason, d.Detail, want)
			continue
		}
		if !d.Allow {
			if addrs != nil {
				t.Errorf("Resolve(%q) denied but returned addresses %v", host, addrs)
			}
			continue
		}
		// The returned addresses are exactly what the resolver gave, unmapped, on the port.
		if len(addrs) != len(res.addrs[host]) {
			t.Errorf("Resolve(%q) returned %v, resolver had %v", host, addrs, res.addrs[host])
		}
		for i, a := range addrs {
			if a.Port() != 8443 || a.Addr() != res.addrs[host][i].Unmap() {
				t.Errorf("Resolve(%q)[%d] = %v", host, i, a)
			}
		}
	}
	// Each name was resolved exactly once.
	for host := range cases {
		if n := res.count(host); n != 1 {
			t.Errorf("%s resolved %d times", host, n)
		}
	}
}

func TestResolveIPLiteralSkipsDNS(t *testing.T) {
	res := newFakeResolver(nil)
	p := mustPolicy(t, PolicyConfig{Allow: []string{"10.0.0.5", "[::1]"}, Resolver: res})
	d, addrs := p.Resolve(context.Background(), "0xa000005", 80)
	if !d.Allow || len(addrs) != 1 || addrs[0] != netip.MustParseAddrPort("10.0.0.5:80") {
		t.Fatalf("Resolve(0xa000005) = %+v %v", d, addrs)
	}
	d, addrs = p.Resolve(context.Background(), "[0::1]", 80)
	if !d.Allow || len(addrs) != 1 || addrs[0] != netip.MustParseAddrPort("[::1]:80") {
		t.Fatalf("Resolve([0::1]) = %+v %v", d, addrs)
	}
	if res.total() != 0 {
		t.Fatal("IP literal was resolved")
	}
}

func TestIPDenyEntryAppliesToResolvedAddress(t *testing.T) {
	res := newFakeResolver(map[string]string{"svc.exact.test": "10.9.9.9"})
	p := mustPolicy(t, PolicyConfig{Allow: []string{"svc.exact.test"}, Deny: []string{"10.9.9.9"}, Resolver: res})
	if d, _ := p.Resolve(context.Background(), "svc.exact.test", 80); d.Allow || d.Reason != ReasonHostDenied {
		t.Fatalf("name resolving to a denied IP: %+v", d)
	}
}

func TestDNSFailureIsDenial(t *testing.T) {
	res := newFakeResolver(nil)
	p := mustPolicy(t, PolicyConfig{Allow: []string{"gone.test"}, Resolver: res})
	d, addrs := p.Resolve(context.Background(), "gone.test", 443)
	if d.Allow || d.Reason != ReasonDNSFailed || addrs != nil || !strings.Contains(d.Detail, "no such host") {
		t.Fatalf("DNS failure: %+v %v", d, addrs)
	}
}

func TestRootedResolverAddsTrailingDot(t *testing.T) {
	res := newFakeResolver(map[string]string{"api.": "93.184.216.34"})
	p := mustPolicy(t, PolicyConfig{Allow: []string{"api"}, Resolver: rootedResolver{res}})
	d, addrs := p.Resolve(context.Background(), "api", 443)
	if !d.Allow || len(addrs) != 1 || res.count("api.") != 1 || res.count("api") != 0 {
		t.Fatalf("rooted lookup: %+v %v %v", d, addrs, res.calls)
	}
}

func TestClassifyAddr(t *testing.T) {
	cases := map[string]addrClass{
		"8.8.8.8": classPublic, "2606:4700::1111": classPublic,
		"127.0.0.1": classPrivate, "127.255.0.1": classPrivate, "::1": classPrivate,
		"10.0.0.1": classPrivate, "172.16.0.1": classPrivate, "172.31.255.255": classPrivate, "172.32.0.1": classPublic,
		"192.168.0.1": classPrivate, "100.64.0.1": classPrivate, "100.127.255.255": classPrivate, "100.128.0.1": classPublic,
		"fc00::1": classPrivate, "fd00::1": classPrivate,
		"169.254.0.1": classForbidden, "fe80::1": classForbidden, "febf::1": classForbidden,
		"224.0.0.1": classForbidden, "239.255.255.250": classForbidden, "ff02::1": classForbidden,
		"0.0.0.0": classForbidden, "0.1.2.3": classForbidden, "::": classForbidden, "255.255.255.255": classForbidden,
		"169.254.169.254": classMetadata, "fd00:ec2::254": classMetadata, "100.100.100.200": classMetadata, "168.63.129.16": classMetadata,
		"::ffff:169.254.169.254": classMetadata, "::ffff:127.0.0.1": classPrivate, "::ffff:8.8.8.8": classPublic,
		"64:ff9b::a9fe:a9fe": classMetadata, "64:ff9b::7f00:1": classPrivate, "64:ff9b::a9fe:1": classForbidden, "64:ff9b::808:808": classPublic,
		"2002:a9fe:a9fe::": classMetadata, "2002:7f00:1::": classPrivate, "2002:e000:1::": classForbidden, "2002:808:808::": classPublic,
		"::a9fe:a9fe": classForbidden, "::7f00:1": classForbidden,
	}
	for s, want := range cases {
		if got, _ := classifyAddr(netip.MustParseAddr(s)); got != want {
			t.Errorf("classifyAddr(%s) = %d, want %d", s, got, want)
		}
	}
}

// TestAllowPublic: the gateway of an upstream proxy that filters passes
// every host the floor allows, as a wildcard match: metadata, the deny list,
// and loopback, private and link-local addresses (literal or resolved) are
// still refused, and a denied name still never reaches the resolver.
func TestAllowPublic(t *testing.T) {
	res := newFakeResolver(map[string]string{
		"pub.test":   "93.184.216.34",
		"loop.test":  "127.0.0.1",
		"corp.test":  "10.1.2.3",
		"md.test":    "169.254.169.254",
		"mixed.test": "93.184.216.34,192.168.1.1",
	})
	p := mustPolicy(t, PolicyConfig{AllowPublic: true, Deny: []string{"blocked.test"}, Resolver: res})
	for _, h := range []string{"pub.test", "anything.example", "93.184.216.34"} {
		if d := p.Check(h, 443); !d.Allow || d.Rule != "*" || !strings.Contains(d.Detail, "upstream proxy") {
			t.Errorf("Check(%q) = %+v", h, d)
		}
	}
	if d, addrs := p.Resolve(context.Background(), "pub.test", 443); !d.Allow || len(addrs) != 1 {
		t.Errorf("Resolve(pub.test) = %+v %v", d, addrs)
	}
	for h, reason := range map[string]string{
		"blocked.test": ReasonHostDenied, "169.254.169.254": ReasonMetadata, "metadata.google.internal": ReasonMetadata,
		"127.0.0.1": ReasonAddress, "10.0.0.1": ReasonAddress, "[::1]": ReasonAddress,
		"loop.test": ReasonAddress, "corp.test": ReasonAddress, "md.test": ReasonMetadata, "mixed.test": ReasonAddress,
	} {
		d, addrs := p.Resolve(context.Background(), h, 443)
		if d.Allow || addrs != nil || d.Reason != reason {
			t.Errorf("Resolve(%q) = %+v %v, want %s", h, d, addrs, reason)
		}
	}
	if res.calls["blocked.test"] != 0 {
		t.Error("a denied name reached the resolver")
	}
	// An exact entry still reaches a private address, as without AllowPublic.
	p = mustPolicy(t, PolicyConfig{AllowPublic: true, Allow: []string{"corp.test"}, Resolver: res})
	if d, _ := p.Resolve(context.Background(), "corp.test", 443); !d.Allow {
		t.Errorf("exact entry with AllowPublic: %+v", d)
	}
}
