package endpoints

import (
	"errors"
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
)

// MaxPathLength is the longest raw path NormalizePath accepts, in bytes.
const MaxPathLength = 16 << 10

// ErrAmbiguousPath is wrapped by every NormalizePath refusal, so callers can
// answer 400 for it.
var ErrAmbiguousPath = errors.New("ambiguous request path")

// NormalizePath canonicalises a raw, percent-encoded request path (query
// removed) or refuses it as ambiguous. See the package documentation for the
// exact rules. The result is the path to match and to forward.
func NormalizePath(raw string) (string, error) {
	return normalize(raw, false)
}

// NormalizePathEncodedSlash is NormalizePath except that an encoded '/' (%2F)
// is kept, as data inside its segment, instead of refused. It is meant for
// services without endpoint rules. Dot segments are refused between %2F's
// too, so an upstream that decodes %2F sees no '.' or '..' segment either.
func NormalizePathEncodedSlash(raw string) (string, error) {
	return normalize(raw, true)
}

// BaseJoin joins an upstream base path (e.g. "/v1") with a request path. Both
// are canonicalised (keeping %2F as data, as NormalizePathEncodedSlash does),
// and the result always lies under the base: "/v1" + "/../x" is an error, not
// "/x". An empty base or "/" returns the canonical request path.
func BaseJoin(basePath, reqPath string) (string, error) {
	base := ""
	if basePath != "" && basePath != "/" {
		b, err := normalize(basePath, true)
		if err != nil {
			return "", fmt.Errorf("upstream base path: %w", err)
		}
		base = strings.TrimSuffix(b, "/")
	}
	p, err := normalize(reqPath, true)
	if err != nil {
		return "", err
	}
	joined := base + p
	if base != "" && !strings.HasPrefix(joined, base+"/") {
		// Unreachable with a canonical p, kept as a last line of defence.
		return "", fmt.Errorf("%w: request path escapes the upstream base path %q", ErrAmbiguousPath, base)
	}
	return joined, nil
}

func refuse(raw, why string) error {
	return fmt.Errorf("%w %q: %s", ErrAmbiguousPath, clip(raw), why)
}

// clip keeps error text short; %q already escapes control characters.
func clip(s string) string {
	const n = 120
	if len(s) > n {
		return s[:n] + "..."
	}
	return s
}

func normalize(raw string, allowEncodedSlash bool) (string, error) {
	if raw == "" {
		return "/", nil
	}
	if len(raw) > MaxPathLength {
		return "", fmt.Errorf("%w: path is %d bytes, longer than the limit of %d", ErrAmbiguousPath, len(raw), MaxPathLength)
	}
	if raw[0] != '/' {
		return "", refuse(raw, "path must start with '/'")
	}
	var out strings.Builder
	out.Grow(len(raw))
	segs := strings.Split(raw[1:], "/")
	for _, seg := range segs {
		if seg == "" {
			continue // repeated '/' collapse; a trailing '/' is re-added below
		}
		enc, err := segment(raw, seg, allowEncodedSlash)
		if err != nil {
			return "", err
		}
		out.WriteByte('/')
		out.WriteString(enc)
	}
	if segs[len(segs)-1] == "" {
		out.WriteByte('/')
	}
	return out.String(), nil
}

const upperHex = "0123456789ABCDEF"

// segment canonicalises one '/'-free segment of raw.
func segment(raw, seg string, allowEncodedSlash bool) (string, error) {
	var enc strings.Builder
	dec := make([]byte, 0, len(seg))
	for i := 0; i < len(seg); i++ {
		c := seg[i]
		if c == '%' {
			if i+2 >= len(seg) || !isHex(seg[i+1]) || !isHex(seg[i+2]) {
				return "", refuse(raw, "'%' must be followed by two hex digits")
			}
			b := unhex(seg[i+1])<<4 | unhex(seg[i+2])
			i += 2
			switch {
			case b == '/' && !allowEncodedSlash:
				return "", refuse(raw, "encoded '/' (%2F) is ambiguous")
			case b == '\\':
				return "", refuse(raw, "encoded '\\' (%5C) is ambiguous")
			case b == ';':
				return "", refuse(raw, "encoded ';' (%3B) is ambiguous")
			case b < 0x20 || b == 0x7f:
				return "", refuse(raw, "encoded control character")
			case isUnreserved(b):
				enc.WriteByte(b)
			default:
				enc.WriteByte('%')
				enc.WriteByte(upperHex[b>>4])
				enc.WriteByte(upperHex[b&15])
			}
			dec = append(dec, b)
			continue
		}
		switch {
		case c < 0x20 || c == 0x7f:
			return "", refuse(raw, "control character")
		case c == '\\':
			return "", refuse(raw, "'\\' is ambiguous")
		case c == ';':
			return "", refuse(raw, "';' path parameters are ambiguous")
		case c == '?' || c == '#':
			return "", refuse(raw, "query or fragment delimiter in path (strip the query first)")
		case isPathChar(c):
			enc.WriteByte(c)
		default:
			enc.WriteByte('%')
			enc.WriteByte(upperHex[c>>4])
			enc.WriteByte(upperHex[c&15])
		}
		dec = append(dec, c)
	}
	if err := checkDecoded(raw, dec); err != nil {
		return "", err
	}
	return enc.String(), nil
}

// checkDecoded applies the checks that need the decoded bytes of a segment.
func checkDecoded(raw string, dec []byte) error {
	if !utf8.Valid(dec) {
		return refuse(raw, "invalid or overlong UTF-8")
	}
	for i := 0; i+2 < len(dec); i++ {
		// Every '%' in dec came from %25: raw '%' always starts an escape.
		if dec[i] == '%' && isHex(dec[i+1]) && isHex(dec[i+2]) {
			return refuse(raw, "double percent-encoding (%25XX)")
		}
	}
	for _, r := range string(dec) {
		if unicode.IsControl(r) {
			return refuse(raw, "control character")
		}
		if lookalike(r) {
			return refuse(raw, fmt.Sprintf("character U+%04X looks like '.', '/' or '\\'", r))
		}
	}
	// dec has no '/' unless %2F was allowed; split so that an upstream that
	// decodes %2F still sees no dot segment.
	for _, part := range strings.Split(string(dec), "/") {
		if part == "." || part == ".." {
			return refuse(raw, "dot segments ('.' or '..') are not allowed")
		}
	}
	return nil
}

// lookalike reports runes that some servers fold into '.', '/' or '\'.
func lookalike(r rune) bool {
	switch r {
	case '\uFF0E', '\uFE52', '\u2024', '\u2025', // full stops and dot leaders
		'\uFF0F', '\u2215', '\u2044', '\u29F8', // slashes
		'\uFF3C', '\uFE68', '\u2216', '\u29F5', '\u29F9': // backslashes
		return true
	}
	return false
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

func unhex(c byte) byte {
	switch {
	case '0' <= c && c <= '9':
		return c - '0'
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10
	default:
		return c - 'A' + 10
	}
}

// isUnreserved reports RFC 3986 unreserved characters, which are decoded.
func isUnreserved(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' ||
		c == '-' || c == '.' || c == '_' || c == '~'
}

// isPathChar reports the bytes kept raw in a canonical segment: RFC 3986
// pchar minus ';' (refused earlier) and '%' (handled as an escape).
func isPathChar(c byte) bool {
	if isUnreserved(c) {
		return true
	}
	return strings.IndexByte("!$&'()*+,=:@", c) >= 0
}
