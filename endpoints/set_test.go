package endpoints

import (
	"errors"
	"path"
	"strings"
	"testing"
)

func mustSet(t testing.TB, rules ...string) *Set {
	t.Helper()
	var rs []Rule
	for _, s := range rules {
		r, err := ParseRule("svc:" + s)
		if err != nil {
			t.Fatalf("ParseRule(%q): %v", s, err)
		}
		rs = append(rs, r)
	}
	set, err := Compile(rs)
	if err != nil {
		t.Fatalf("Compile: %v", err)
	}
	return set
}

// TestGlobSemantics pins the glob table of the package documentation.
func TestGlobSemantics(t *testing.T) {
	cases := []struct {
		pattern, path string
		want          bool
	}{
		// ** matches zero or more segments, the base included.
		{"/api/**", "/api", true},
		{"/api/**", "/api/", true},
		{"/api/**", "/api/x", true},
		{"/api/**", "/api/x/y", true},
		{"/api/**", "/api/x/y/", true},
		{"/api/**", "/apix", false},
		{"/api/**", "/ap", false},
		{"/api/**", "/", false},
		{"/**", "/", true},
		{"/**", "/anything/at/all", true},
		{"/a/**/b", "/a/b", true},
		{"/a/**/b", "/a/x/b", true},
		{"/a/**/b", "/a/x/y/b", true},
		{"/a/**/b", "/a/xb", false},
		{"/a/**/b", "/a/b/c", false},
		{"/**/b", "/b", true},
		{"/**/b", "/x/y/b", true},
		{"/**/b", "/xb", false},
		{"/a/**/", "/a/", true},
		{"/a/**/", "/a/x/", true},
		{"/a/**/", "/a/x", false},
		// * is exactly one non-empty segment and never crosses '/'.
		{"/repos/*/issues", "/repos/a/issues", true},
		{"/repos/*/issues", "/repos/a/b/issues", false},
		{"/repos/*/issues", "/repos/issues", false},
		{"/repos/*", "/repos/a", true},
		{"/repos/*", "/repos/", false},
		{"/repos/*", "/repos", false},
		{"/repos/*", "/repos/a/", false},
		{"/repos/*", "/repos/a/b", false},
		{"/*", "/", false},
		{"/*/", "/a/", true},
		// * inside a segment matches a run of non-'/' characters.
		{"/models/gpt-*", "/models/gpt-4o", true},
		{"/models/gpt-*", "/models/gpt-", true},
		{"/models/gpt-*", "/models/gpt-4/x", false},
		{"/v1beta/models/*:generateContent", "/v1beta/models/gemini:generateContent", true},
		{"/v1beta/models/*:generateContent", "/v1beta/models/a/b:generateContent", false},
		// Literals are literal, case-sensitive, and the trailing '/' counts.
		{"/v1/models", "/v1/models", true},
		{"/v1/models", "/v1/models/", false},
		{"/v1/models", "/V1/models", false},
		{"/v1/models/", "/v1/models/", true},
		{"/v1/models/", "/v1/models", false},
		{"/a+b", "/a+b", true},
		{"/a+b", "/aab", false},
		{"/a(b)", "/a(b)", true},
		{"/a,b", "/a,b", true},
		{"/a%20b", "/a%20b", true},
		{"/a%5Bx%5D", "/a%5Bx%5D", true},
		{"/x!", "/x!", true},
	}
	for _, c := range cases {
		set := mustSet(t, "GET:"+c.pattern)
		norm, err := NormalizePath(c.path)
		if err != nil {
			t.Fatalf("NormalizePath(%q): %v", c.path, err)
		}
		ok, _, err := set.Allow("GET", norm)
		if err != nil {
			t.Fatalf("Allow(%q): %v", c.path, err)
		}
		if ok != c.want {
			t.Errorf("pattern %q path %q: got %v, want %v", c.pattern, c.path, ok, c.want)
		}
		if ref := refMatch(set.Rules()[0].Path, norm); ref != c.want {
			t.Errorf("reference matcher disagrees with the table: pattern %q path %q: %v", c.pattern, c.path, ref)
		}
	}
}

func TestAllowMethods(t *testing.T) {
	set := mustSet(t, "POST:/v1/chat/completions", "get:/v1/models/**", "*:/v1/files/*")
	cases := []struct {
		method, path string
		want         bool
		label        string
	}{
		{"POST", "/v1/chat/completions", true, "POST /v1/chat/completions"},
		{"post", "/v1/chat/completions", false, ""}, // methods are case-sensitive
		{"Post", "/v1/chat/completions", false, ""},
		{"GET", "/v1/chat/completions", false, ""},
		{"PUT", "/v1/chat/completions", false, ""},
		{"GET", "/v1/models", true, "GET /v1/models/**"},
		{"get", "/v1/models", false, ""},
		{"HEAD", "/v1/models", false, ""},
		{"DELETE", "/v1/files/f1", true, "* /v1/files/*"},
		{"PATCH", "/v1/files/f1", true, "* /v1/files/*"},
		{"DELETE", "/v1/files/f1/content", false, ""},
		{"GET", "/v1/other", false, ""}, // default deny
	}
	for _, c := range cases {
		ok, m, err := set.Allow(c.method, c.path)
		if err != nil {
			t.Fatalf("Allow(%q, %q): %v", c.method, c.path, err)
		}
		if ok != c.want {
			t.Errorf("Allow(%q, %q) = %v, want %v", c.method, c.path, ok, c.want)
		}
		if ok && (m == nil || m.String() != c.label || m.Service != "svc") {
			t.Errorf("Allow(%q, %q) matched %+v, want %q", c.method, c.path, m, c.label)
		}
		if !ok && m != nil {
			t.Errorf("denied request reports matched rule %+v", m)
		}
	}
	for _, bad := range []string{"", "GE T", "GET\r\n", "GET\x00", "(GET)"} {
		if ok, _, err := set.Allow(bad, "/v1/models"); err == nil || ok {
			t.Errorf("Allow(%q) = %v, %v; want an error", bad, ok, err)
		}
	}
}

// TestAllowBypassAttempts: requests that a rule set must refuse even though a
// decoding upstream might route them to an allowed resource, or vice versa.
func TestAllowBypassAttempts(t *testing.T) {
	set := mustSet(t, "GET:/v1/models/*", "POST:/v1/chat/completions", "GET:/public/**")
	attempts := []string{
		"/v1/models/%2e%2e/admin",
		"/v1/models/..%2fadmin",
		"/v1/models/a%2fb",
		"/v1/models/%252e%252e",
		"/v1/models/x;/../../admin",
		`/v1/models/x\..\..\admin`,
		"/v1/models/%c0%ae%c0%ae",
		"/v1/models/%FF",
		"/public/../admin",
		"/public/./../admin",
		"/public/%2e%2e/admin",
		"/public/%2e%2e%2fadmin",
		"/v1/models/a%3Fx", // '?' inside an encoded segment is data, but..
	}
	for _, p := range attempts[:len(attempts)-1] {
		ok, m, err := set.Allow("GET", p)
		if ok || m != nil {
			t.Errorf("Allow(GET, %q) allowed by %v", p, m)
		}
		if !errors.Is(err, ErrAmbiguousPath) {
			t.Errorf("Allow(GET, %q): want ErrAmbiguousPath, got %v", p, err)
		}
	}
	// ..an encoded '?' is one segment's data: it matches * as data and is
	// forwarded encoded, so the upstream sees the same single segment.
	norm, err := NormalizePath(attempts[len(attempts)-1])
	if err != nil || norm != "/v1/models/a%3Fx" {
		t.Fatalf("encoded '?': %q %v", norm, err)
	}
	// Canonical spellings of allowed paths still pass.
	for _, p := range []string{"/v1//models/gpt", "/v1/%6dodels/gpt", "/public", "/public/a/b/"} {
		if ok, _, err := set.Allow("GET", p); !ok || err != nil {
			t.Errorf("Allow(GET, %q) = %v, %v; want allowed", p, ok, err)
		}
	}
	if ok, _, _ := set.Allow("GET", "/v1/models/a/b"); ok {
		t.Error("* crossed '/'")
	}
	if ok, _, _ := set.Allow("post", "/v1/chat/completions"); ok {
		t.Error("lower-case post matched POST")
	}
}

func TestEmptySetAllowsAll(t *testing.T) {
	for _, set := range []*Set{nil, {}, mustSet(t)} {
		if set.Len() != 0 {
			t.Fatal("not empty")
		}
		ok, m, err := set.Allow("DELETE", "/anything/at/all")
		if !ok || m != nil || err != nil {
			t.Errorf("empty set: Allow = %v, %v, %v", ok, m, err)
		}
		// GitLab-style encoded slash is fine without rules...
		if ok, _, err := set.Allow("GET", "/projects/g%2Fp"); !ok || err != nil {
			t.Errorf("empty set refused %%2F: %v", err)
		}
		// ...but ambiguity is still refused.
		if ok, _, err := set.Allow("GET", "/a/../b"); ok || err == nil {
			t.Errorf("empty set allowed a dot segment")
		}
	}
}

func TestCompileRevalidates(t *testing.T) {
	for _, r := range []Rule{
		{Method: "GET", Path: "relative"},
		{Method: "G ET", Path: "/x"},
		{Method: "GET", Path: "/x/../y"},
		{Method: "GET", Path: "/x/a**"},
	} {
		if _, err := Compile([]Rule{r}); err == nil {
			t.Errorf("Compile accepted %+v", r)
		}
	}
	set, err := Compile([]Rule{{Service: "s", Method: "get", Path: "/a//%7e/"}})
	if err != nil {
		t.Fatal(err)
	}
	if got := set.Rules()[0]; got != (Rule{"s", "GET", "/a/~/"}) {
		t.Fatalf("not canonical: %+v", got)
	}
}

// refMatch is an independent segment matcher: `**` matches zero or more
// segments, a whole `*` one non-empty segment, and any other segment is
// matched with path.Match (whose only meta character in a canonical pattern
// is `*`).
func refMatch(pattern, p string) bool {
	return refSegs(strings.Split(pattern[1:], "/"), strings.Split(p[1:], "/"))
}

func refSegs(pat, segs []string) bool {
	if len(pat) == 0 {
		return len(segs) == 0
	}
	switch pat[0] {
	case "**":
		for i := 0; i <= len(segs); i++ {
			if refSegs(pat[1:], segs[i:]) {
				return true
			}
		}
		return false
	case "*":
		return len(segs) > 0 && segs[0] != "" && refSegs(pat[1:], segs[1:])
	}
	if len(segs) == 0 {
		return false
	}
	ok, err := path.Match(pat[0], segs[0])
	return err == nil && ok && refSegs(pat[1:], segs[1:])
}
