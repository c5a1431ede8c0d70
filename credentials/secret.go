package credentials

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"log/slog"
)

// redacted is what every printing, logging or marshalling path shows instead
// of a secret's value.
const redacted = "[redacted]"

// ErrUnsafeSecret reports a secret that contains CR, LF or NUL. Such a value
// could split an HTTP header when injected, so it is refused at load time.
var ErrUnsafeSecret = errors.New("secret contains CR, LF or NUL, which could inject HTTP headers; store it without line breaks")

// ErrEmptySecret reports a backend that returned an empty value.
var ErrEmptySecret = errors.New("secret is empty")

// Secret holds one credential value. Its bytes are reachable only through
// Bytes; every fmt verb, slog, encoding/json and encoding.TextMarshaler path
// prints "[redacted]". Call Wipe when the value is no longer needed.
//
// The formatting methods have value receivers so that a Secret printed by
// value (not through a pointer) is redacted too.
type Secret struct {
	b []byte
}

// NewSecret takes ownership of b (it is wiped by Wipe) after checking that it
// is non-empty and free of CR, LF and NUL. On error b is wiped.
func NewSecret(b []byte) (*Secret, error) {
	if len(b) == 0 {
		return nil, ErrEmptySecret
	}
	if bytes.ContainsAny(b, "\r\n\x00") {
		clear(b)
		return nil, ErrUnsafeSecret
	}
	return &Secret{b: b}, nil
}

// Bytes returns the secret's backing array, not a copy. The caller must not
// retain it past Wipe.
func (s *Secret) Bytes() []byte {
	if s == nil {
		return nil
	}
	return s.b
}

// Len is the secret's length in bytes (0 after Wipe).
func (s *Secret) Len() int {
	if s == nil {
		return 0
	}
	return len(s.b)
}

// Clone returns an independent copy that must be wiped separately.
func (s *Secret) Clone() *Secret {
	if s == nil {
		return nil
	}
	return &Secret{b: bytes.Clone(s.b)}
}

// Wipe zeroes the backing array and forgets it. It is safe to call twice and
// on a nil Secret.
func (s *Secret) Wipe() {
	if s == nil {
		return
	}
	clear(s.b)
	s.b = nil
}

// String implements fmt.Stringer without revealing the value.
func (Secret) String() string { return redacted }

// GoString implements fmt.GoStringer (%#v) without revealing the value.
func (Secret) GoString() string { return "credentials.Secret(" + redacted + ")" }

// Format implements fmt.Formatter, so every verb (%v %+v %s %q %x %d ...)
// prints the redaction marker.
func (Secret) Format(f fmt.State, verb rune) {
	if verb == 'v' && f.Flag('#') {
		_, _ = io.WriteString(f, Secret{}.GoString())
		return
	}
	_, _ = io.WriteString(f, redacted)
}

// LogValue implements slog.LogValuer.
func (Secret) LogValue() slog.Value { return slog.StringValue(redacted) }

// MarshalJSON emits the string "[redacted]", never the value.
func (Secret) MarshalJSON() ([]byte, error) { return []byte(`"` + redacted + `"`), nil }

// MarshalText emits "[redacted]", never the value.
func (Secret) MarshalText() ([]byte, error) { return []byte(redacted), nil }
