package proxy

import (
	"context"
	"net/netip"
	"strings"
	"testing"
	"unicode"
)

func FuzzNormalizeHost(f *testing.F) {
	for _, s := range []string{
		"example.com", "EXAMPLE.com.", "bücher.example", "xn--bcher-kva.example", "a\u3002b", "a\uff0eb\uff61",
		"2130706433", "0x7f.1", "0177.0.0.1", "127.1", "0xa9fe.a9fe", "[::ffff:169.254.169.254]", "fe80::1%eth0",
		"a\x00b", "a\u200bb", "\ufeffa", "..", "1.2.3.256", "xn--", "[::1]", "::1", "１２７.０.０.１",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		out, err := NormalizeHost(in)
		if err != nil {
			if out != "" {
				t.Fatalf("error with output %q", out)
			}
			return
		}
		again, err := NormalizeHost(out)
		if err != nil || again != out {
			t.Fatalf("not idempotent: %q -> %q -> %q, %v", in, out, again, err)
		}
		if out == "" || len(out) > 253 || strings.HasSuffix(out, ".") || strings.Contains(out, "..") {
			t.Fatalf("bad output %q", out)
		}
		for _, r := range out {
			if r > unicode.MaxASCII || unicode.IsUpper(r) || r <= ' ' || strings.ContainsRune("%@/\\*_#?", r) {
				t.Fatalf("output %q has %q", out, r)
			}
		}
		if a, isIP := isIPLiteral(out); isIP {
			if a.String() != out || a.Is4In6() || a.Zone() != "" {
				t.Fatalf("IP output not canonical: %q", out)
			}
		} else if endsInNumber(out) {
			t.Fatalf("name output ends in a number: %q", out)
		}
	})
}

// fuzzResolver answers every name with addresses derived from the input.
type fuzzResolver struct {
	addrs []netip.Addr
	calls int
}

func (r *fuzzResolver) LookupNetIP(context.Context, string, string) ([]netip.Addr, error) {
	r.calls++
	return r.addrs, nil
}

func FuzzHostPolicyDecision(f *testing.F) {
	f.Add("allowed.test", uint16(443), []byte{127, 0, 0, 1})
	f.Add("x.wild.test", uint16(80), []byte{169, 254, 169, 254})
	f.Add("secret.wild.test.", uint16(1), []byte{8, 8, 8, 8})
	f.Add("metadata.google.internal", uint16(443), []byte{1, 1, 1, 1})
	f.Add("2852039166", uint16(443), []byte{})
	f.Add("x.wild.test", uint16(443), []byte{0x20, 0x02, 0xa9, 0xfe, 0xa9, 0xfe, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1})
	f.Fuzz(func(t *testing.T, host string, port uint16, raw []byte) {
		res := &fuzzResolver{}
		for len(raw) >= 4 {
			if len(raw) >= 16 && raw[0]&1 == 0 {
				res.addrs = append(res.addrs, netip.AddrFrom16([16]byte(raw[:16])))
				raw = raw[16:]
			} else {
				res.addrs = append(res.addrs, netip.AddrFrom4([4]byte(raw[:4])))
				raw = raw[4:]
			}
		}
		p, err := NewHostPolicy(PolicyConfig{
			Allow:    []string{"allowed.test", "*.wild.test", "10.0.0.5"},
			Deny:     []string{"secret.wild.test", "*.deny.wild.test"},
			Resolver: res,
		})
		if err != nil {
			t.Fatal(err)
		}
		d := p.Check(host, port)
		if res.calls != 0 {
			t.Fatal("Check resolved")
		}
		if d.Allow != (d.Reason == ReasonAllowed) {
			t.Fatalf("inconsistent decision %+v", d)
		}
		if d.Allow {
			h := d.Host
			okHost := h == "allowed.test" || h == "10.0.0.5" || (strings.HasSuffix(h, ".wild.test") && h != "secret.wild.test" && !strings.HasSuffix(h, ".deny.wild.test"))
			if !okHost || port == 0 || isMetadataName(h) {
				t.Fatalf("allowed %q (%q)", host, h)
			}
		}
		d2, addrs := p.Resolve(context.Background(), host, port)
		if !d.Allow && (d2.Allow || res.calls != 0) {
			t.Fatalf("pre-DNS denial changed or resolved: %+v", d2)
		}
		if d2.Allow {
			exact := d2.Host == "allowed.test" || d2.Host == "10.0.0.5"
			for _, a := range addrs {
				c, _ := classifyAddr(a.Addr())
				if c == classMetadata || c == classForbidden || (c == classPrivate && !exact) || a.Port() != port {
					t.Fatalf("Resolve allowed %v for %q", a, d2.Host)
				}
			}
			if len(addrs) == 0 {
				t.Fatal("allowed with no addresses")
			}
		} else if addrs != nil {
			t.Fatal("denied with addresses")
		}
		if strings.ContainsAny(d2.Detail, "\x00\r\n\x1b") {
			t.Fatalf("detail has control characters: %q", d2.Detail)
		}
	})
}

func FuzzBypassMatch(f *testing.F) {
	for _, s := range []string{"internal.corp", "a.svc.corp", "svc.corp", "evilsvc.corp", "A.SVC.CORP.", "a\u3002svc.corp", "x\x00.svc.corp"} {
		f.Add(s)
	}
	b, err := NewBypass([]string{"internal.corp", "*.svc.corp"})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, h string) {
		got := b.Match(h)
		n, err := NormalizeHost(h)
		if err != nil {
			if got {
				t.Fatalf("invalid host %q matched", h)
			}
			return
		}
		want := n == "internal.corp" || (strings.HasSuffix(n, ".svc.corp") && len(n) > len(".svc.corp"))
		if got != want || b.Match(n) != got {
			t.Fatalf("Match(%q) = %v (normalised %q), want %v", h, got, n, want)
		}
	})
}

func FuzzParseUpstream(f *testing.F) {
	for _, s := range []string{"proxy:3128", "http://u@proxy:3128", "http://u:p@proxy:3128", "https://p:1", "[::1]:1", "http://[::1]:80/", "p:0", "http://p:1/x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		u, err := ParseUpstream(s)
		if err != nil {
			return
		}
		if u.Port == 0 || len(u.Password) != 0 {
			t.Fatalf("bad upstream %+v", u)
		}
		if n, err := NormalizeHost(u.Host); err != nil || n != u.Host {
			t.Fatalf("host not normalised: %q", u.Host)
		}
		back, err := ParseUpstream(u.String())
		if err != nil || back.Host != u.Host || back.Port != u.Port || back.User != u.User {
			t.Fatalf("round trip %q -> %q: %+v %v", s, u.String(), back, err)
		}
	})
}
