package proxy

import (
	"bytes"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"net/http"
	"strings"
)

// minTokenLen is the length of a 256-bit token in hex, the form nono uses.
const minTokenLen = 32

func validateToken(tok []byte) error {
	if len(tok) < minTokenLen {
		return errors.New("session token is too short: pass at least 32 bytes (nono uses 64 hex characters, 256 bits)")
	}
	for _, c := range tok {
		if c <= 0x20 || c >= 0x7f {
			return errors.New("session token must be printable ASCII without spaces")
		}
	}
	return nil
}

// authorized checks Proxy-Authorization: exactly one header, either
// "Basic base64(<any user>:<token>)" or "Bearer <token>", scheme
// case-insensitive, compared in constant time.
func (s *Server) authorized(h http.Header) bool {
	s.tokenMu.RLock()
	defer s.tokenMu.RUnlock()
	vals := h.Values("Proxy-Authorization")
	if len(vals) != 1 {
		return false
	}
	scheme, rest, ok := strings.Cut(strings.TrimSpace(vals[0]), " ")
	if !ok {
		return false
	}
	rest = strings.TrimLeft(rest, " ")
	switch {
	case strings.EqualFold(scheme, "Bearer"):
		return tokenEqual([]byte(rest), s.token)
	case strings.EqualFold(scheme, "Basic"):
		raw, err := base64.StdEncoding.DecodeString(rest)
		if err != nil {
			return false
		}
		defer wipe(raw)
		i := bytes.IndexByte(raw, ':')
		if i < 0 {
			return false
		}
		return tokenEqual(raw[i+1:], s.token)
	}
	return false
}

func tokenEqual(got, want []byte) bool {
	return len(want) > 0 && subtle.ConstantTimeCompare(got, want) == 1
}

func wipe(b []byte) {
	for i := range b {
		b[i] = 0
	}
}
