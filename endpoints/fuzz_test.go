package endpoints

import (
	"strings"
	"testing"
	"unicode/utf8"
)

var pathSeeds = []string{
	"", "/", "//", "/v1/chat/completions", "/v1/models/", "/a/../b", "/a/%2e%2e/b",
	"/a%2fb", "/a%252e", "/a;b", `/a\b`, "/%c0%ae", "/%FF", "/a%20b", "/caf\xc3\xa9",
	"/100%25", "/a%", "/a%2", "/.well-known", "/x?y", "/%ef%bc%8e", "/a:b@c", "/**", "/*/",
}

func FuzzNormalizePath(f *testing.F) {
	for _, s := range pathSeeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		for _, lenient := range []bool{false, true} {
			got, err := normalize(raw, lenient)
			if err != nil {
				continue
			}
			checkCanonical(t, raw, got, lenient)
			again, err := normalize(got, lenient)
			if err != nil || again != got {
				t.Fatalf("not idempotent: %q -> %q -> %q, %v", raw, got, again, err)
			}
		}
		if _, err := BaseJoin("/v1", raw); err == nil {
			j, _ := BaseJoin("/v1", raw)
			if !strings.HasPrefix(j, "/v1/") {
				t.Fatalf("BaseJoin escaped the base: %q -> %q", raw, j)
			}
		}
	})
}

func checkCanonical(t *testing.T, raw, got string, lenient bool) {
	t.Helper()
	if !strings.HasPrefix(got, "/") {
		t.Fatalf("%q -> %q: no leading '/'", raw, got)
	}
	low := strings.ToLower(got)
	for _, bad := range []string{"//", `\`, "%5c", "%00", ";", "?", "#"} {
		if strings.Contains(low, bad) {
			t.Fatalf("%q -> %q contains %q", raw, got, bad)
		}
	}
	if !lenient && strings.Contains(low, "%2f") {
		t.Fatalf("%q -> %q contains %%2F", raw, got)
	}
	for i := 0; i < len(got); i++ {
		c := got[i]
		if c <= ' ' || c >= 0x7f {
			t.Fatalf("%q -> %q has raw byte %#x", raw, got, c)
		}
		if c == '%' && (i+2 >= len(got) || !isHex(got[i+1]) || !isHex(got[i+2])) {
			t.Fatalf("%q -> %q has a bad escape", raw, got)
		}
	}
	// Fully decoding (and splitting at decoded '/' too) shows no dot segment.
	for _, seg := range strings.Split(got, "/") {
		dec := decodeAll(seg)
		if !utf8.ValidString(dec) {
			t.Fatalf("%q -> %q decodes to invalid UTF-8", raw, got)
		}
		for _, part := range strings.Split(dec, "/") {
			if part == "." || part == ".." {
				t.Fatalf("%q -> %q has a dot segment", raw, got)
			}
		}
	}
}

// decodeAll percent-decodes s once, leaving bad escapes as they are.
func decodeAll(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '%' && i+2 < len(s) && isHex(s[i+1]) && isHex(s[i+2]) {
			b.WriteByte(unhex(s[i+1])<<4 | unhex(s[i+2]))
			i += 2
			continue
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

func FuzzMatch(f *testing.F) {
	pats := []string{"/api/**", "/repos/*/issues", "/a/**/b", "/**", "/*", "/models/gpt-*", "/**/x/**", "/a/*/", "/x*y*z"}
	for i, p := range pats {
		f.Add(p, pathSeeds[i%len(pathSeeds)])
		f.Add(p, "/api/x/y")
		f.Add(p, "/a/b")
	}
	f.Fuzz(func(t *testing.T, pattern, raw string) {
		r, err := NewRule("GET", pattern)
		if err != nil {
			return
		}
		set, err := Compile([]Rule{r})
		if err != nil {
			t.Fatalf("NewRule accepted %q but Compile failed: %v", pattern, err)
		}
		p, err := NormalizePath(raw)
		if err != nil {
			if ok, _, _ := set.Allow("GET", raw); ok {
				t.Fatalf("Allow accepted a path NormalizePath refuses: %q", raw)
			}
			return
		}
		ok, _, err := set.Allow("GET", p)
		if err != nil {
			t.Fatalf("Allow(%q) on a canonical path: %v", p, err)
		}
		if want := refMatch(r.Path, p); ok != want {
			t.Fatalf("pattern %q path %q: glob %v, reference %v", r.Path, p, ok, want)
		}
		if raw2, _, _ := set.Allow("GET", raw); raw2 != ok {
			t.Fatalf("raw and canonical path disagree for %q", raw)
		}
	})
}

// FuzzParseRule: --allow-endpoint takes SERVICE:METHOD:PATH from the user.
// Parsing never panics, a refusal always says why, an accepted rule is in
// canonical form (parsing its own spelling again gives the same rule), and
// it compiles.
func FuzzParseRule(f *testing.F) {
	for _, s := range []string{
		"openai:POST:/v1/chat/completions", "openai:get:/v1/models/*", "gh:*:/repos/*/issues/**",
		"a::/", ":GET:/", "svc:GET:", "svc:GET:/a:b", "svc:G*T:/", "Svc:GET:/", "svc:GET:/a/../b",
		"svc:GET:/%2e%2e/x", "svc:GET:/a?b", "svc:GET:/**/**/**/**/**", "svc:GET:/x**", "svc:GET:/a\x00",
		"svc:GE T:/", "svc-1_x:PATCH://a//b/", "svc:GET:/caf\xc3\xa9", "x:y",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		r, err := ParseRule(s)
		if err != nil {
			if err.Error() == "" {
				t.Fatalf("refused %q with an empty error", s)
			}
			return
		}
		again, err := ParseRule(r.Service + ":" + r.Method + ":" + r.Path)
		if err != nil || again != r {
			t.Fatalf("%q parsed as %+v, whose own spelling parses as %+v (%v)", s, r, again, err)
		}
		if r.Method != "*" && r.Method != strings.ToUpper(r.Method) {
			t.Fatalf("method %q is not upper-case", r.Method)
		}
		if p, err := NormalizePath(strings.ReplaceAll(r.Path, "*", "x")); err != nil || !strings.HasPrefix(p, "/") {
			t.Fatalf("pattern %q does not normalise as a path (%v)", r.Path, err)
		}
		if _, err := Compile([]Rule{r}); err != nil {
			t.Fatalf("ParseRule accepted %q but Compile failed: %v", s, err)
		}
	})
}
