package endpoints

import (
	"errors"
	"strings"
	"testing"
)

func TestNormalizePathCanonical(t *testing.T) {
	cases := []struct{ in, want string }{
		{"", "/"},
		{"/", "/"},
		{"//", "/"},
		{"/v1/chat/completions", "/v1/chat/completions"},
		{"//v1///chat//completions", "/v1/chat/completions"},
		{"/v1/models/", "/v1/models/"},
		{"/v1/models//", "/v1/models/"},
		{"/v1/%63hat", "/v1/chat"},     // unreserved escapes are decoded
		{"/a%7eb%2D%5f", "/a~b-_"},     // unreserved punctuation too
		{"/a%20b", "/a%20b"},           // reserved escapes stay escaped
		{"/a%3a%40", "/a%3A%40"},       // with upper-case hex
		{"/a b", "/a%20b"},             // raw bytes not allowed in a path are encoded
		{"/caf\xc3\xa9", "/caf%C3%A9"}, // raw UTF-8 is encoded
		{"/caf%c3%a9", "/caf%C3%A9"},   // encoded UTF-8 is kept
		{"/a:b@c!$&'()*+,=", "/a:b@c!$&'()*+,="},
		{"/100%25", "/100%25"},       // a lone %25 is data
		{"/100%25off", "/100%25off"}, // not followed by two hex digits
		{"/...", "/..."},             // three dots is a name
		{"/.well-known/x", "/.well-known/x"},
		{"/a.", "/a."},
		{"/V1/Models", "/V1/Models"}, // case preserved
	}
	for _, c := range cases {
		got, err := NormalizePath(c.in)
		if err != nil {
			t.Errorf("NormalizePath(%q): unexpected error %v", c.in, err)
			continue
		}
		if got != c.want {
			t.Errorf("NormalizePath(%q) = %q, want %q", c.in, got, c.want)
		}
		again, err := NormalizePath(got)
		if err != nil || again != got {
			t.Errorf("NormalizePath not idempotent on %q: %q, %v", got, again, err)
		}
	}
}

// TestNormalizePathRefusesBypasses is the path half of nono-proxy.md §10.3
// item 5: every ambiguous spelling is an error, never silently rewritten.
func TestNormalizePathRefusesBypasses(t *testing.T) {
	cases := []struct{ name, in string }{
		{"encoded dot-dot", "/v1/%2e%2e/admin"},
		{"encoded dot-dot upper", "/v1/%2E%2E/admin"},
		{"mixed dot-dot", "/v1/.%2e/admin"},
		{"raw dot-dot", "/v1/../admin"},
		{"raw dot", "/v1/./models"},
		{"encoded dot", "/v1/%2e/models"},
		{"trailing dot-dot", "/v1/.."},
		{"leading dot-dot", "/../etc/passwd"},
		{"dot-dot then encoded slash", "/v1/..%2fadmin"},
		{"encoded slash", "/v1/a%2fb"},
		{"encoded slash upper", "/v1/a%2Fb"},
		{"double-encoded dot", "/v1/%252e%252e/admin"},
		{"double-encoded slash", "/v1/a%252fb"},
		{"double-encoded via escapes", "/v1/%25%32%65"},
		{"triple-encoded", "/v1/%25252e"},
		{"semicolon param", "/v1/models;x=y"},
		{"semicolon dot-dot", "/v1/..;/admin"},
		{"encoded semicolon", "/v1/models%3bx"},
		{"backslash", `/v1\..\admin`},
		{"backslash alone", `/v1/a\b`},
		{"encoded backslash", "/v1/a%5cb"},
		{"overlong slash", "/v1/%c0%af"},
		{"overlong dot", "/v1/%c0%ae%c0%ae/admin"},
		{"overlong 3-byte dot", "/v1/%e0%80%ae"},
		{"invalid utf8 FF", "/v1/%FF"},
		{"raw invalid utf8", "/v1/\xff"},
		{"surrogate", "/v1/%ed%a0%80"},
		{"nul encoded", "/v1/a%00b"},
		{"nul raw", "/v1/a\x00b"},
		{"newline encoded", "/v1/a%0d%0aX-Evil:1"},
		{"newline raw", "/v1/a\nb"},
		{"tab", "/v1/a\tb"},
		{"del", "/v1/a\x7fb"},
		{"c1 control", "/v1/a%c2%85b"},
		{"bad escape", "/v1/a%zz"},
		{"short escape", "/v1/a%2"},
		{"lone percent", "/v1/a%"},
		{"query", "/v1/models?x=1"},
		{"fragment", "/v1/models#x"},
		{"relative", "v1/models"},
		{"asterisk form", "*"},
		{"absolute form", "http://x/y"},
		{"fullwidth dot-dot", "/v1/%ef%bc%8e%ef%bc%8e/admin"},
		{"fullwidth slash", "/v1/a%ef%bc%8fb"},
		{"division slash", "/v1/a%e2%88%95b"},
		{"two dot leader", "/v1/%e2%80%a5"},
		{"too long", "/" + strings.Repeat("a", MaxPathLength)},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := NormalizePath(c.in)
			if err == nil {
				t.Fatalf("NormalizePath(%q) = %q, want an error", c.in, got)
			}
			if !errors.Is(err, ErrAmbiguousPath) {
				t.Fatalf("error %v does not wrap ErrAmbiguousPath", err)
			}
		})
	}
}

func TestNormalizePathEncodedSlash(t *testing.T) {
	got, err := NormalizePathEncodedSlash("/api/v4/projects/group%2fsub%2Fproj/issues")
	if err != nil || got != "/api/v4/projects/group%2Fsub%2Fproj/issues" {
		t.Fatalf("got %q, %v", got, err)
	}
	for _, in := range []string{
		"/projects/a%2F..%2F..%2Fadmin", // an upstream decoding %2F would see ..
		"/projects/%2F.%2Fx",
		"/projects/..",
		"/projects/a%5Cb",
		"/projects/a%252Fb",
	} {
		if got, err := NormalizePathEncodedSlash(in); err == nil {
			t.Errorf("NormalizePathEncodedSlash(%q) = %q, want an error", in, got)
		}
	}
	if _, err := NormalizePath("/projects/a%2Fb"); err == nil {
		t.Error("strict NormalizePath accepted %2F")
	}
}

func TestBaseJoin(t *testing.T) {
	ok := []struct{ base, req, want string }{
		{"/v1", "/chat/completions", "/v1/chat/completions"},
		{"/v1/", "/chat/completions", "/v1/chat/completions"},
		{"/v1", "//chat//completions/", "/v1/chat/completions/"},
		{"/v1", "", "/v1/"},
		{"/v1", "/", "/v1/"},
		{"", "/x", "/x"},
		{"/", "/x", "/x"},
		{"/api/v4", "/projects/g%2Fp", "/api/v4/projects/g%2Fp"},
	}
	for _, c := range ok {
		got, err := BaseJoin(c.base, c.req)
		if err != nil || got != c.want {
			t.Errorf("BaseJoin(%q, %q) = %q, %v; want %q", c.base, c.req, got, err, c.want)
		}
	}
	// Escapes out of the base in every spelling must fail, not reach "/x".
	bad := []struct{ base, req string }{
		{"/v1", "/../x"},
		{"/v1", "/%2e%2e/x"},
		{"/v1", "/.%2E/x"},
		{"/v1", "/a/../../x"},
		{"/v1", "/..%2fx"},
		{"/v1", "/a%2F..%2F..%2Fx"},
		{"/v1", `/..\x`},
		{"/v1", "/%252e%252e/x"},
		{"/v1", "/%c0%ae%c0%ae/x"},
		{"/v1", "x"},
		{"/v1/..", "/x"},
		{"v1", "/x"},
	}
	for _, c := range bad {
		if got, err := BaseJoin(c.base, c.req); err == nil {
			t.Errorf("BaseJoin(%q, %q) = %q, want an error", c.base, c.req, got)
		}
	}
}
