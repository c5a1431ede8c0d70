package credentials

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"
)

const testValue = "sk-live-0123456789abcdef"

func mustSecret(t testing.TB, v string) *Secret {
	t.Helper()
	s, err := NewSecret([]byte(v))
	if err != nil {
		t.Fatalf("NewSecret: %v", err)
	}
	return s
}

func TestSecretRedaction(t *testing.T) {
	s := mustSecret(t, testValue)
	holder := struct {
		Key  *Secret
		Val  Secret
		List []*Secret
	}{s, *s, []*Secret{s}}

	var outs []string
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%X", "%d", "%10s", "%-8v"} {
		outs = append(outs, fmt.Sprintf(verb, s), fmt.Sprintf(verb, *s), fmt.Sprintf(verb, holder))
	}
	outs = append(outs, fmt.Sprint(s), fmt.Sprintln(*s), s.String(), s.GoString())
	for _, v := range []any{s, *s, holder, map[string]*Secret{"k": s}} {
		j, err := json.Marshal(v)
		if err != nil {
			t.Fatalf("json.Marshal(%T): %v", v, err)
		}
		outs = append(outs, string(j))
	}
	var logBuf bytes.Buffer
	slog.New(slog.NewTextHandler(&logBuf, nil)).Info("m", "secret", s, "val", *s)
	slog.New(slog.NewJSONHandler(&logBuf, nil)).Info("m", "secret", s, "holder", holder)
	outs = append(outs, logBuf.String())

	hexValue := fmt.Sprintf("%x", testValue)
	for _, o := range outs {
		if strings.Contains(o, testValue) || strings.Contains(strings.ToLower(o), hexValue) || strings.Contains(o, "sk-live") {
			t.Errorf("secret leaked: %q", o)
		}
		if !strings.Contains(o, redacted) {
			t.Errorf("output lacks redaction marker: %q", o)
		}
	}
}

func TestSecretWipeZeroesBackingArray(t *testing.T) {
	buf := []byte(testValue)
	s, err := NewSecret(buf)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(s.Bytes(), []byte(testValue)) {
		t.Fatalf("Bytes() = %q", s.Bytes())
	}
	alias := s.Bytes()
	s.Wipe()
	if !bytes.Equal(buf, make([]byte, len(testValue))) || !bytes.Equal(alias, make([]byte, len(alias))) {
		t.Fatalf("backing array not zeroed: %q", buf)
	}
	if s.Len() != 0 || s.Bytes() != nil {
		t.Fatalf("secret still usable after Wipe: len %d", s.Len())
	}
	s.Wipe() // idempotent
	var nilSecret *Secret
	nilSecret.Wipe()
}

func TestSecretCloneIsIndependent(t *testing.T) {
	s := mustSecret(t, testValue)
	c := s.Clone()
	s.Wipe()
	if string(c.Bytes()) != testValue {
		t.Fatalf("clone affected by Wipe of original")
	}
}

func TestNewSecretRefusesHeaderInjection(t *testing.T) {
	for _, v := range []string{"abc\r\nX-Evil: 1", "abc\ndef", "abc\rdef", "abc\x00def", "\n"} {
		buf := []byte(v)
		_, err := NewSecret(buf)
		if !errors.Is(err, ErrUnsafeSecret) {
			t.Errorf("NewSecret(%q) err = %v, want ErrUnsafeSecret", v, err)
		}
		if err != nil && strings.Contains(err.Error(), "abc") {
			t.Errorf("error echoes the value: %v", err)
		}
		if !bytes.Equal(buf, make([]byte, len(buf))) {
			t.Errorf("refused secret not wiped: %q", buf)
		}
	}
	if _, err := NewSecret(nil); !errors.Is(err, ErrEmptySecret) {
		t.Errorf("empty: err = %v", err)
	}
}
