package credentials

import (
	"errors"
	"path"
	"strings"
	"testing"
)

func TestParseRefValid(t *testing.T) {
	tests := []struct {
		in   string
		want Ref
	}{
		{"openai_api_key", Ref{Scheme: SchemeKeyring, Bare: true, Service: "nono", Account: "openai_api_key"}},
		{"my-key.v2", Ref{Scheme: SchemeKeyring, Bare: true, Service: "nono", Account: "my-key.v2"}},
		{"keyring://work/gh_token", Ref{Scheme: SchemeKeyring, Service: "work", Account: "gh_token"}},
		{"keyring://my service/alice@example.com", Ref{Scheme: SchemeKeyring, Service: "my service", Account: "alice@example.com"}},
		{"env://GITHUB_TOKEN", Ref{Scheme: SchemeEnv, Var: "GITHUB_TOKEN"}},
		{"env://_x1", Ref{Scheme: SchemeEnv, Var: "_x1"}},
		{"file:///run/secrets/openai", Ref{Scheme: SchemeFile, Path: "/run/secrets/openai"}},
		{"op://Development/OpenAI/credential", Ref{Scheme: SchemeOnePassword, URI: "op://Development/OpenAI/credential"}},
		{"op://Dev/My Item/section one/password", Ref{Scheme: SchemeOnePassword, URI: "op://Dev/My Item/section one/password"}},
		{"apple-password://github.com/alice@example.com", Ref{Scheme: SchemeApplePassword, Service: "github.com", Account: "alice@example.com"}},
	}
	for _, tt := range tests {
		got, err := ParseRef(tt.in)
		if err != nil {
			t.Errorf("ParseRef(%q): %v", tt.in, err)
			continue
		}
		if got != tt.want {
			t.Errorf("ParseRef(%q) = %+v, want %+v", tt.in, got, tt.want)
		}
		if got.String() != tt.in {
			t.Errorf("String() = %q, want %q", got.String(), tt.in)
		}
	}
}

func TestParseRefInvalid(t *testing.T) {
	tests := []struct {
		in, scheme, reason string
	}{
		{"", "", "keyring account"},
		{"sk-proj-abc/def+ghi=", "", "keyring account"},
		{"-rf", "", "keyring account"},
		{"sk-proj-abc123", "", "looks like an API key"},
		{"ghp_0123456789abcdef", "", "looks like an API key"},
		{strings.Repeat("a", 65), "", "looks like an API key"},
		{"has space", "", "keyring account"},
		{"keyring://svc", "keyring", "two non-empty"},
		{"keyring:///acct", "keyring", "two non-empty"},
		{"keyring://a/b/c", "keyring", "two non-empty"},
		{"keyring://a/b?x=1", "keyring", "not allowed"},
		{"env://", "env", "VAR"},
		{"env://1ABC", "env", "VAR"},
		{"env://A-B", "env", "VAR"},
		{"file://relative/path", "file", "absolute"},
		{"file://host/etc/x", "file", "absolute"},
		{"file:///etc/../secret", "file", ".."},
		{"file:///etc//x", "file", "clean"},
		{"file:///etc/x/", "file", "clean"},
		{"file:///", "file", "root"},
		{"op://vault/item", "op", "op://vault/item"},
		{"op://v/i/s/f/extra", "op", "op://vault/item"},
		{"op://v//f", "op", "empty segment"},
		{"op://v/i/f?attribute=otp", "op", "query"},
		{"apple-password://server", "apple-password", "two non-empty"},
		{"env://A\nB", "env", "control"},
	}
	for _, tt := range tests {
		_, err := ParseRef(tt.in)
		var re *RefError
		if !errors.As(err, &re) {
			t.Errorf("ParseRef(%q) err = %v, want RefError", tt.in, err)
			continue
		}
		if re.Scheme != tt.scheme || !strings.Contains(err.Error(), tt.reason) {
			t.Errorf("ParseRef(%q) = %q (scheme %q), want scheme %q and %q", tt.in, err, re.Scheme, tt.scheme, tt.reason)
		}
	}
	for _, in := range []string{"bw://item", "cmd://x", "https://example.com/x", "OP://v/i/f"} {
		_, err := ParseRef(in)
		if !errors.Is(err, ErrUnsupportedScheme) {
			t.Errorf("ParseRef(%q) err = %v, want ErrUnsupportedScheme", in, err)
		}
	}
}

// A user may paste the secret itself where a ref belongs; the error must
// not repeat it.
func TestParseRefErrorsNeverEchoInput(t *testing.T) {
	secret := "sk-proj-SUPERSECRETVALUE"
	for _, in := range []string{
		secret,
		"env://" + secret,
		"file://" + secret,
		"keyring://" + secret,
		"op://" + secret,
		secret + "://x",
		"apple-password://" + secret,
		strings.Repeat("A", 2000),
	} {
		_, err := ParseRef(in)
		if err == nil {
			t.Fatalf("ParseRef(%q) succeeded", in)
		}
		if strings.Contains(err.Error(), "SUPERSECRET") || strings.Contains(err.Error(), "AAAAAAAA") {
			t.Errorf("error echoes input: %v", err)
		}
	}
}

func FuzzParseRef(f *testing.F) {
	for _, s := range []string{
		"openai_api_key", "keyring://nono/x", "env://HOME", "file:///etc/passwd",
		"op://a/b/c", "op://a/b/c/d", "apple-password://s/a", "file://x", "://", "a://b",
		"keyring://a/b/c", "env://A\r\nB", "file:///a/../b", "op://a/b/c?x#y", "\x00",
	} {
		f.Add(s)
	}
	_, bareErr := ParseRef("!")
	_, longErr := ParseRef(strings.Repeat("a", maxRefLen+1))
	_, keyErr := ParseRef("sk-x")
	f.Fuzz(func(t *testing.T, s string) {
		// Real refs are short and the length limits have unit tests;
		// truncating keeps the minimizer from spending the whole run
		// shrinking kilobyte inputs byte by byte.
		if len(s) > 300 {
			s = s[:300]
		}
		r, err := ParseRef(s)
		if err != nil {
			if r != (Ref{}) {
				t.Fatalf("error with non-zero ref")
			}
			// Errors for scheme-less input are fixed texts: they cannot
			// echo what may be a pasted secret.
			if !strings.Contains(s, "://") && err.Error() != bareErr.Error() && err.Error() != longErr.Error() && err.Error() != keyErr.Error() {
				t.Fatalf("input-dependent error for bare input %q: %v", s, err)
			}
			return
		}
		// Valid refs round-trip, carry no control characters, and name a
		// known scheme.
		if hasControl(r.String()) {
			t.Fatalf("control characters in %q", r.String())
		}
		r2, err := ParseRef(r.String())
		if err != nil || r2 != r {
			t.Fatalf("round trip %q -> %+v -> %+v, %v", s, r, r2, err)
		}
		switch r.Scheme {
		case SchemeKeyring:
			if r.Service == "" || r.Account == "" {
				t.Fatalf("empty keyring part: %+v", r)
			}
		case SchemeEnv:
			if !validEnvName(r.Var) {
				t.Fatalf("bad env var %q", r.Var)
			}
		case SchemeFile:
			if !strings.HasPrefix(r.Path, "/") || path.Clean(r.Path) != r.Path || strings.Contains(r.Path+"/", "/../") {
				t.Fatalf("bad file path %q", r.Path)
			}
		case SchemeOnePassword, SchemeApplePassword:
		default:
			t.Fatalf("unknown scheme %q", r.Scheme)
		}
	})
}
