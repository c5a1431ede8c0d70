package proxy

import (
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/net/idna"
)

// idnaProfile maps a host for lookup (UTS #46, non-transitional): case and
// width folding, Unicode dots to '.', STD3 ASCII rules, Bidi rule and DNS
// length limits. Hyphen placement is not checked because real hosts such as
// "r3---sn-x.googlevideo.com" use "--" in positions 3-4.
var idnaProfile = idna.New(
	idna.MapForLookup(),
	idna.BidiRule(),
	idna.VerifyDNSLength(true),
	idna.Transitional(false),
	idna.CheckHyphens(false),
)

// maxHostInput bounds the raw host before any processing.
const maxHostInput = 1024

// ErrInvalidHost is wrapped by every NormalizeHost error.
var ErrInvalidHost = errors.New("invalid host")

func invalidHost(format string, a ...any) error {
	return fmt.Errorf("%w: %s", ErrInvalidHost, fmt.Sprintf(format, a...))
}

// NormalizeHost turns a host as a client sent it into the one canonical form
// that every policy decision uses:
//
//   - surrounding whitespace is trimmed; control, format (zero-width, BOM,
//     bidi), separator and other invisible characters anywhere are rejected;
//   - an IPv6 literal (bracketed or not) is parsed and printed canonically;
//     zone ids are rejected; IPv4-mapped addresses become dotted quad;
//   - a name is mapped with IDNA (UTS #46 lookup) to lowercase ASCII, which
//     also folds the Unicode dots U+3002, U+FF0E and U+FF61 to '.';
//   - one trailing dot is removed and empty labels are rejected;
//   - a name whose last label is numeric is parsed as an IPv4 literal the way
//     browsers and inet_aton do (decimal 2130706433, hex 0x7f.1, octal
//     0177.0.0.1, short 127.1) and printed as a dotted quad, or rejected.
//
// The error never repeats the input verbatim (it may hold control bytes).
// unicodeDots folds the ideographic and fullwidth full stops to '.'.
var unicodeDots = strings.NewReplacer("\u3002", ".", "\uff0e", ".", "\uff61", ".")

func NormalizeHost(raw string) (string, error) {
	if len(raw) > maxHostInput {
		return "", invalidHost("host is longer than %d bytes", maxHostInput)
	}
	s := strings.TrimSpace(raw)
	if s == "" {
		return "", invalidHost("empty host")
	}
	if !utf8.ValidString(s) {
		return "", invalidHost("host is not valid UTF-8")
	}
	for _, r := range s {
		if r < 0x20 || r == 0x7f || unicode.IsControl(r) || unicode.Is(unicode.Cf, r) ||
			unicode.IsSpace(r) || unicode.Is(unicode.Z, r) || r == utf8.RuneError {
			return "", invalidHost("host contains a control, format or space character (U+%04X)", r)
		}
	}

	// IP literals first: brackets or a colon mean IPv6 and nothing else.
	if strings.HasPrefix(s, "[") || strings.Contains(s, ":") {
		inner := s
		if strings.HasPrefix(s, "[") {
			if !strings.HasSuffix(s, "]") || len(s) < 3 {
				return "", invalidHost("unbalanced brackets")
			}
			inner = s[1 : len(s)-1]
		}
		if strings.Contains(inner, "%") {
			return "", invalidHost("IPv6 zone identifiers are not allowed")
		}
		a, err := netip.ParseAddr(inner)
		if err != nil || !a.Is6() {
			return "", invalidHost("not a valid IPv6 address")
		}
		return canonicalAddr(a).String(), nil
	}

	// Fold the Unicode full stops ourselves so the trailing-dot and
	// empty-label rules below see them (UTS #46 maps them too).
	s = unicodeDots.Replace(s)
	s = strings.TrimSuffix(s, ".")
	if s == "" || strings.HasPrefix(s, ".") || strings.Contains(s, "..") {
		return "", invalidHost("empty label")
	}
	ascii, err := idnaProfile.ToASCII(s)
	if err != nil {
		return "", invalidHost("not a valid domain name (IDNA: %s)", idnaReason(err))
	}
	ascii = strings.ToLower(ascii)
	if ascii == "" || strings.HasSuffix(ascii, ".") || strings.HasPrefix(ascii, ".") || strings.Contains(ascii, "..") {
		return "", invalidHost("empty label")
	}
	if endsInNumber(ascii) {
		a, ok := parseIPv4(ascii)
		if !ok {
			return "", invalidHost("name ends in a number but is not a valid IPv4 address")
		}
		return a.String(), nil
	}
	return ascii, nil
}

// idnaReason keeps only the IDNA error code, never the label text.
func idnaReason(err error) string {
	msg := err.Error()
	if i := strings.LastIndex(msg, "("); i >= 0 && strings.HasSuffix(msg, ")") {
		return "rule " + strings.Trim(msg[i:], "()")
	}
	return "rejected"
}

// canonicalAddr unmaps IPv4-mapped IPv6 so "::ffff:127.0.0.1" and
// "127.0.0.1" are one address to the policy.
func canonicalAddr(a netip.Addr) netip.Addr {
	return a.Unmap().WithZone("")
}

// endsInNumber reports whether the last label is a number in any IPv4 part
// syntax (the WHATWG URL "ends in a number" rule).
func endsInNumber(host string) bool {
	last := host[strings.LastIndexByte(host, '.')+1:]
	if last == "" {
		return false
	}
	if allDigits(last) {
		return true
	}
	_, ok := parseIPv4Part(last)
	return ok
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}

// parseIPv4Part parses one part: 0x/0X hex (empty digits = 0), leading 0
// octal, otherwise decimal. Values are capped to avoid overflow.
func parseIPv4Part(p string) (uint64, bool) {
	if p == "" {
		return 0, false
	}
	base := 10
	switch {
	case len(p) >= 2 && p[0] == '0' && (p[1] == 'x' || p[1] == 'X'):
		base, p = 16, p[2:]
		if p == "" {
			return 0, true
		}
	case len(p) >= 2 && p[0] == '0':
		base, p = 8, p[1:]
	}
	if len(p) > 32 {
		return 0, false
	}
	v, err := strconv.ParseUint(p, base, 64)
	if err != nil || strings.ContainsAny(p, "+-_") {
		return 0, false
	}
	return v, true
}

// parseIPv4 implements the WHATWG IPv4 parser (1 to 4 parts; all but the
// last at most 255; the last fills the remaining bytes).
func parseIPv4(host string) (netip.Addr, bool) {
	parts := strings.Split(host, ".")
	if len(parts) > 4 {
		return netip.Addr{}, false
	}
	nums := make([]uint64, len(parts))
	for i, p := range parts {
		v, ok := parseIPv4Part(p)
		if !ok {
			return netip.Addr{}, false
		}
		nums[i] = v
	}
	for _, v := range nums[:len(nums)-1] {
		if v > 255 {
			return netip.Addr{}, false
		}
	}
	last := nums[len(nums)-1]
	if last >= 1<<(8*(5-len(nums))) {
		return netip.Addr{}, false
	}
	ipv4 := last
	for i, v := range nums[:len(nums)-1] {
		ipv4 += v << (8 * (3 - i))
	}
	return netip.AddrFrom4([4]byte{byte(ipv4 >> 24), byte(ipv4 >> 16), byte(ipv4 >> 8), byte(ipv4)}), true
}

// isIPLiteral reports whether a normalised host is an IP address.
func isIPLiteral(host string) (netip.Addr, bool) {
	a, err := netip.ParseAddr(host)
	return a, err == nil
}

// splitAuthority splits "host:port" (IPv6 in brackets) as a CONNECT target
// or URL authority. The port is required and must be 1-65535 in plain
// decimal. The host is returned raw, for NormalizeHost.
func splitAuthority(authority string) (string, uint16, error) {
	i := strings.LastIndexByte(authority, ':')
	if i < 0 {
		return "", 0, errors.New("missing port")
	}
	host, portStr := authority[:i], authority[i+1:]
	if strings.HasPrefix(host, "[") != strings.HasSuffix(host, "]") {
		return "", 0, errors.New("unbalanced brackets")
	}
	if strings.Contains(host, ":") && !strings.HasPrefix(host, "[") {
		return "", 0, errors.New("IPv6 address must be in brackets")
	}
	port, err := parsePort(portStr)
	if err != nil {
		return "", 0, err
	}
	if host == "" || host == "[]" {
		return "", 0, errors.New("missing host")
	}
	return host, port, nil
}

func parsePort(s string) (uint16, error) {
	if s == "" || len(s) > 5 || !allDigits(s) {
		return 0, errors.New("port must be a number from 1 to 65535")
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 || n > 65535 {
		return 0, errors.New("port must be a number from 1 to 65535")
	}
	return uint16(n), nil
}

// joinHostPort formats a normalised host and port, bracketing IPv6.
func joinHostPort(host string, port uint16) string {
	if strings.Contains(host, ":") {
		return "[" + host + "]:" + strconv.Itoa(int(port))
	}
	return host + ":" + strconv.Itoa(int(port))
}

// sanitizeForEcho makes untrusted text safe to echo in a one-line reason:
// control and format characters are dropped and the length is bounded.
func sanitizeForEcho(s string) string {
	var b strings.Builder
	for _, r := range s {
		if b.Len() >= 256 {
			b.WriteString("…")
			break
		}
		if r == utf8.RuneError || unicode.IsControl(r) || unicode.Is(unicode.Cf, r) ||
			(unicode.IsSpace(r) && r != ' ') || unicode.Is(unicode.Zl, r) || unicode.Is(unicode.Zp, r) {
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}
