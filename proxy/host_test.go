package proxy

import (
	"errors"
	"strings"
	"testing"
)

func TestNormalizeHostCanonicalForms(t *testing.T) {
	cases := []struct{ in, want string }{
		{"example.com", "example.com"},
		{"  Example.COM  ", "example.com"},
		{"example.com.", "example.com"},
		{"EXAMPLE.com.", "example.com"},
		{"bücher.example", "xn--bcher-kva.example"},
		{"BÜCHER.example", "xn--bcher-kva.example"},
		{"xn--bcher-kva.example", "xn--bcher-kva.example"},
		{"XN--BCHER-KVA.example", "xn--bcher-kva.example"},
		{"example\u3002com", "example.com"},
		{"example\uff0ecom", "example.com"},
		{"example\uff61com", "example.com"},
		{"example\u3002com\u3002", "example.com"},
		{"ｅｘａｍｐｌｅ.com", "example.com"},
		{"r3---sn-abc.googlevideo.com", "r3---sn-abc.googlevideo.com"},
		// IPv4 literal forms of 127.0.0.1
		{"127.0.0.1", "127.0.0.1"},
		{"2130706433", "127.0.0.1"},
		{"0x7f000001", "127.0.0.1"},
		{"0x7f.1", "127.0.0.1"},
		{"0X7F.0.0.1", "127.0.0.1"},
		{"0177.0.0.1", "127.0.0.1"},
		{"0177.0.0.01", "127.0.0.1"},
		{"127.1", "127.0.0.1"},
		{"127.0.1", "127.0.0.1"},
		{"127.0.0.1.", "127.0.0.1"},
		{"１２７.０.０.１", "127.0.0.1"},
		// and of 169.254.169.254
		{"2852039166", "169.254.169.254"},
		{"0xa9fea9fe", "169.254.169.254"},
		{"0xa9.0xfe.0xa9.0xfe", "169.254.169.254"},
		{"0251.0376.0251.0376", "169.254.169.254"},
		{"169.254.43518", "169.254.169.254"},
		{"169.16689662", "169.254.169.254"},
		{"0x.0.0.0", "0.0.0.0"},
		// IPv6
		{"[::1]", "::1"},
		{"::1", "::1"},
		{"[0:0:0:0:0:0:0:1]", "::1"},
		{"[::ffff:169.254.169.254]", "169.254.169.254"},
		{"[::ffff:a9fe:a9fe]", "169.254.169.254"},
		{"[::FFFF:127.0.0.1]", "127.0.0.1"},
		{"[FD00:EC2::254]", "fd00:ec2::254"},
		{"[64:ff9b::a9fe:a9fe]", "64:ff9b::a9fe:a9fe"},
	}
	for _, c := range cases {
		got, err := NormalizeHost(c.in)
		if err != nil || got != c.want {
			t.Errorf("NormalizeHost(%q) = %q, %v; want %q", c.in, got, err, c.want)
		}
	}
}

func TestNormalizeHostRejects(t *testing.T) {
	bad := []string{
		"", "   ", ".", "..", ".example.com", "example..com", "example.com..",
		"exa\x00mple.com", "example.com\x00", "exa\rmple.com", "exa\nmple.com",
		"exa\x1bmple.com", "exa\x7fmple.com", "exa\u200bmple.com", "\ufeffexample.com",
		"exa\u200cmple.com", "exa\u200dmple.com", "exa\u00admple.com", "exa\u202emple.com",
		"exa mple.com", "exa\tmple.com", "exa\u00a0mple.com", "exa\u2028mple.com",
		"exa\xffmple.com",
		"xn--zz", "xn--a.example", "xn--abc-.example", "xn--ls8h-.example",
		"user@example.com", "example.com/path", "exa_mple.com", "*.example.com", "exa%2emple.com",
		"1.2.3.256", "1.2.3.4.5", "256.1", "foo.123", "foo.0x10", "0x100000000", "08.0.0.1",
		"4294967296", "1.2.65536", "0xa9fe.0xa9fe",
		"fe80::1%eth0", "[fe80::1%eth0]", "[fe80::1%25eth0]", "[::1", "::1]", "[]", "[127.0.0.1]",
		"[example.com]", "1:2", "example.com:443",
		strings.Repeat("a", 64) + ".com",
		strings.Repeat("abcdefghi.", 26) + "com",
		strings.Repeat("x", 2000),
	}
	for _, in := range bad {
		got, err := NormalizeHost(in)
		if err == nil {
			t.Errorf("NormalizeHost(%q) = %q, want error", in, got)
			continue
		}
		if !errors.Is(err, ErrInvalidHost) {
			t.Errorf("NormalizeHost(%q) error %v does not wrap ErrInvalidHost", in, err)
		}
		if strings.ContainsAny(err.Error(), "\x00\r\n\x1b") {
			t.Errorf("NormalizeHost(%q) error echoes control characters: %q", in, err)
		}
	}
}

func TestSplitAuthority(t *testing.T) {
	good := map[string]struct {
		host string
		port uint16
	}{
		"example.com:443": {"example.com", 443},
		"[::1]:8080":      {"[::1]", 8080},
		"1.2.3.4:1":       {"1.2.3.4", 1},
		"a:65535":         {"a", 65535},
	}
	for in, want := range good {
		h, p, err := splitAuthority(in)
		if err != nil || h != want.host || p != want.port {
			t.Errorf("splitAuthority(%q) = %q, %d, %v", in, h, p, err)
		}
	}
	for _, in := range []string{"example.com", "example.com:", ":443", "example.com:0", "example.com:65536",
		"example.com:+443", "example.com:0x1bb", "::1:443", "[::1]", "[::1:443", "example.com: 443", "[]:443", "a:1:2"} {
		if h, p, err := splitAuthority(in); err == nil {
			t.Errorf("splitAuthority(%q) = %q, %d; want error", in, h, p)
		}
	}
}

func TestSanitizeForEcho(t *testing.T) {
	got := sanitizeForEcho("evil\r\nX-Injected: 1\x00\x1b[31m\u202e")
	if strings.ContainsAny(got, "\r\n\x00\x1b\u202e") {
		t.Fatalf("sanitizeForEcho left control characters: %q", got)
	}
	if long := sanitizeForEcho(strings.Repeat("a", 5000)); len(long) > 300 {
		t.Fatalf("sanitizeForEcho did not bound length: %d", len(long))
	}
}
