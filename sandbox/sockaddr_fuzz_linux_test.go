//go:build linux

package sandbox

import (
	"bytes"
	"encoding/binary"
	"net/netip"
	"testing"

	"golang.org/x/sys/unix"
)

func inet4(port uint16, ip ...byte) []byte {
	b := make([]byte, 16)
	binary.LittleEndian.PutUint16(b, unix.AF_INET)
	binary.BigEndian.PutUint16(b[2:], port)
	copy(b[4:], ip)
	return b
}

func inet6(port uint16, ip netip.Addr, scope uint32) []byte {
	b := make([]byte, 28)
	binary.LittleEndian.PutUint16(b, unix.AF_INET6)
	binary.BigEndian.PutUint16(b[2:], port)
	a := ip.As16()
	copy(b[8:], a[:])
	binary.LittleEndian.PutUint32(b[24:], scope)
	return b
}

// FuzzParseSockaddr feeds parseSockaddr what a hostile child may put in its
// connect/bind/sendto buffer, and checks the decisions built on the parsed
// value: the only TCP destinations a proxy-mode child may reach are
// 127.0.0.1:<gateway> and the --open-port ports on 127.0.0.1 or ::1, each in
// exactly one spelling (no IPv4-mapped, unspecified or other loopback forms),
// and what nono connects or binds on the child's behalf is its own
// re-encoding, which must mean the same address.
func FuzzParseSockaddr(f *testing.F) {
	const gw, open, listen = 40123, 3000, 8080
	f.Add(inet4(gw, 127, 0, 0, 1))
	f.Add(inet4(gw, 127, 0, 0, 2))
	f.Add(inet4(gw, 0, 0, 0, 0))
	f.Add(inet4(gw, 169, 254, 169, 254))
	f.Add(inet4(open, 127, 0, 0, 1))
	f.Add(inet4(listen, 0, 0, 0, 0))
	f.Add(inet6(gw, netip.MustParseAddr("::ffff:127.0.0.1"), 0))
	f.Add(inet6(gw, netip.IPv6Loopback(), 0))
	f.Add(inet6(open, netip.IPv6Loopback(), 7))
	f.Add(inet6(gw, netip.MustParseAddr("fe80::1"), 2))
	f.Add(append([]byte{unix.AF_UNIX, 0}, "/run/user/0/bus\x00junk"...))
	f.Add(append([]byte{unix.AF_UNIX, 0}, "\x00abstract\x00name"...))
	f.Add([]byte{unix.AF_UNIX, 0})
	f.Add([]byte{unix.AF_UNSPEC, 0})
	f.Add([]byte{unix.AF_INET})
	f.Add([]byte{unix.AF_INET6, 0, 1, 2, 3})
	f.Add([]byte{unix.AF_NETLINK, 0, 0, 0})
	proxy := &netDecider{spec: &Spec{Net: NetProxy, ProxyPort: gw, OpenPorts: []uint16{open}, ListenPorts: []uint16{listen}}}
	block := &netDecider{spec: &Spec{Net: NetBlock, OpenPorts: []uint16{open}}}
	loop6 := netip.IPv6Loopback()
	f.Fuzz(func(t *testing.T, b []byte) {
		tg, err := parseSockaddr(b)
		_ = tg.String()
		if err != nil {
			return
		}
		if len(b) < 2 || tg.family != int(binary.LittleEndian.Uint16(b)) {
			t.Fatalf("family %d parsed from %x", tg.family, b)
		}
		switch tg.family {
		case unix.AF_INET, unix.AF_INET6:
			re := canonicalInet(tg)
			back, err := parseSockaddr(re)
			if err != nil || back.family != tg.family || back.addr != tg.addr {
				t.Fatalf("re-encoding %v gave %x, parsed as %v (%v)", tg, re, back, err)
			}
			if tg.family == unix.AF_INET && !tg.addr.Addr().Is4() || tg.family == unix.AF_INET6 && !tg.addr.Addr().Is6() {
				t.Fatalf("family %d with address %v", tg.family, tg.addr)
			}
			a, port := tg.addr.Addr(), tg.addr.Port()
			if ok, why := proxy.connectAllowed(tg); ok {
				gateway := tg.family == unix.AF_INET && a == loopback4 && port == gw
				opened := (a == loopback4 || a == loop6) && port == open
				if !gateway && !opened {
					t.Fatalf("proxy mode allowed a connect to %v", tg)
				}
			} else if why == "" {
				t.Fatalf("refusal of %v has no reason", tg)
			}
			if ok, _ := block.connectAllowed(tg); ok && !((a == loopback4 || a == loop6) && port == open) {
				t.Fatalf("--block-net allowed a connect to %v", tg)
			}
			if ok, _ := proxy.bindAllowed(tg); ok {
				if port == 0 || port != listen && !(port == open && (a == loopback4 || a == loop6)) {
					t.Fatalf("bind to %v allowed", tg)
				}
			}
		case unix.AF_UNIX:
			p := b[2:]
			switch {
			case len(p) == 0:
				if !tg.unnamed || tg.abstract || tg.path != "" {
					t.Fatalf("empty unix address parsed as %+v", tg)
				}
			case p[0] == 0:
				if !tg.abstract || tg.path != string(p[1:]) {
					t.Fatalf("abstract address %q parsed as %+v", p, tg)
				}
			default:
				if tg.abstract || tg.unnamed || bytes.IndexByte([]byte(tg.path), 0) >= 0 || !bytes.HasPrefix(p, []byte(tg.path)) || tg.path == "" {
					t.Fatalf("pathname address %q parsed as %+v", p, tg)
				}
			}
		}
	})
}
