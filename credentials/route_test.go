package credentials

import (
	"encoding/base64"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

const phantom = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

func route(t *testing.T, name string, def CustomCredential) *Route {
	t.Helper()
	r, err := NewRoute(name, def)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func presetRoute(t *testing.T, name string) *Route {
	t.Helper()
	r, err := ResolveRoute(name, nil)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// outbound builds a request as the proxy forwards it, carrying raw headers
// the way a client sent them (including non-canonical and duplicate keys).
func outbound(t *testing.T, target string, hdr map[string][]string) *http.Request {
	t.Helper()
	req := httptest.NewRequest(http.MethodPost, target, nil)
	for k, v := range hdr {
		req.Header[k] = v
	}
	return req
}

func TestInjectHeaderStripsEveryClientCopy(t *testing.T) {
	r := presetRoute(t, "anthropic")
	req := outbound(t, "https://api.anthropic.com/v1/messages", map[string][]string{
		"X-Api-Key":           {phantom, "attacker-second-copy"},
		"x-api-key":           {"lowercase-copy"},
		"X-API-KEY":           {"upper-copy"},
		"Authorization":       {"Bearer " + phantom},
		"Proxy-Authorization": {"Basic bm9ubzp0b2tlbg=="},
		"Private-Token":       {"x"},
		"Anthropic-Version":   {"2023-06-01"},
	})
	s := mustSecret(t, "sk-ant-real")
	if err := r.Inject(req, s); err != nil {
		t.Fatal(err)
	}
	if got := valuesFold(req.Header, "x-api-key"); len(got) != 1 || got[0] != "sk-ant-real" {
		t.Fatalf("x-api-key values = %q", got)
	}
	for _, h := range []string{"Authorization", "Proxy-Authorization", "Private-Token"} {
		if v := valuesFold(req.Header, h); len(v) != 0 {
			t.Errorf("%s not stripped: %q", h, v)
		}
	}
	if req.Header.Get("Anthropic-Version") != "2023-06-01" {
		t.Error("unrelated header removed")
	}
	// Nothing anywhere still carries the phantom.
	for k, vs := range req.Header {
		for _, v := range vs {
			if strings.Contains(v, phantom) {
				t.Errorf("phantom still in %s", k)
			}
		}
	}
}

func TestInjectHeaderFormats(t *testing.T) {
	cases := []struct {
		route  *Route
		header string
		want   string
	}{
		{presetRoute(t, "openai"), "Authorization", "Bearer real"},
		{presetRoute(t, "github"), "Authorization", "Bearer real"},
		{presetRoute(t, "gitlab"), "Private-Token", "real"},
		{presetRoute(t, "gemini"), "X-Goog-Api-Key", "real"},
		{route(t, "c", CustomCredential{Upstream: "https://a.example", CredentialKey: "k", InjectHeader: "x-custom-auth", CredentialFormat: "Key={};v=1"}), "X-Custom-Auth", "Key=real;v=1"},
	}
	for _, c := range cases {
		req := outbound(t, "https://a.example/x", map[string][]string{c.header: {"Bearer " + phantom}})
		if err := c.route.Inject(req, mustSecret(t, "real")); err != nil {
			t.Fatal(err)
		}
		if got := req.Header.Values(c.header); len(got) != 1 || got[0] != c.want {
			t.Errorf("%s: %s = %q, want %q", c.route.Name, c.header, got, c.want)
		}
	}
}

func TestInjectRefusesUnsafeValues(t *testing.T) {
	r := presetRoute(t, "openai")
	// A Secret built around the constructor (as a buggy backend might)
	// still cannot put control characters into a header.
	bad := &Secret{b: []byte("real\x01")}
	req := outbound(t, "https://api.openai.com/v1/x", nil)
	if err := r.Inject(req, bad); err == nil || strings.Contains(err.Error(), "real") {
		t.Fatalf("control character injected or echoed: %v", err)
	}
	if err := r.Inject(req, nil); err == nil {
		t.Fatal("nil secret accepted")
	}
	wiped := mustSecret(t, "x")
	wiped.Wipe()
	if err := r.Inject(req, wiped); err == nil {
		t.Fatal("wiped secret accepted")
	}
}

func TestInjectBasicAuth(t *testing.T) {
	r := route(t, "reg", CustomCredential{Upstream: "https://registry.example", CredentialKey: "k", InjectMode: InjectBasicAuth})
	req := outbound(t, "https://registry.example/v2/", map[string][]string{
		"Authorization": {"Basic " + base64.StdEncoding.EncodeToString([]byte("user:"+phantom)), "Bearer extra"},
	})
	if err := r.Inject(req, mustSecret(t, "alice:s3cret")); err != nil {
		t.Fatal(err)
	}
	user, pass, ok := req.BasicAuth()
	if !ok || user != "alice" || pass != "s3cret" || len(req.Header.Values("Authorization")) != 1 {
		t.Fatalf("basic auth = %q %q %v (%q)", user, pass, ok, req.Header.Values("Authorization"))
	}
	if err := r.Inject(outbound(t, "https://registry.example/", nil), mustSecret(t, "nocolon")); err == nil {
		t.Fatal("secret without ':' accepted for basic_auth")
	}
}

func TestInjectURLPath(t *testing.T) {
	r := route(t, "telegram", CustomCredential{Upstream: "https://api.telegram.org", CredentialKey: "k", InjectMode: InjectURLPath, PathPattern: "/bot{}/"})
	req := outbound(t, "https://api.telegram.org/bot"+phantom+"/getMe?x=1", nil)
	if err := r.Inject(req, mustSecret(t, "123:ABC/def")); err != nil {
		t.Fatal(err)
	}
	if req.URL.Path != "/bot123:ABC/def/getMe" || req.URL.EscapedPath() != "/bot123:ABC%2Fdef/getMe" || req.URL.RawQuery != "x=1" {
		t.Fatalf("path = %q escaped %q query %q", req.URL.Path, req.URL.EscapedPath(), req.URL.RawQuery)
	}

	// Replacement differs from the pattern; token runs to the next '/'.
	r2 := route(t, "svc", CustomCredential{Upstream: "https://a.example/base", CredentialKey: "k", InjectMode: InjectURLPath, PathPattern: "/key/{}", PathReplacement: "/k/{}"})
	req = outbound(t, "https://a.example/base/key/"+phantom+"/items", nil)
	got, err := ExtractPhantom(req, r2)
	if err != nil || string(got) != phantom {
		t.Fatalf("extract = %q, %v", got, err)
	}
	if err := r2.Inject(req, mustSecret(t, "real")); err != nil {
		t.Fatal(err)
	}
	if req.URL.Path != "/base/k/real/items" {
		t.Fatalf("path = %q", req.URL.Path)
	}
	// No phantom in the path: nothing to replace, fail closed.
	if err := r.Inject(outbound(t, "https://api.telegram.org/getMe", nil), mustSecret(t, "x")); !errors.Is(err, ErrNoPhantom) {
		t.Fatalf("err = %v", err)
	}
}

func TestInjectQueryParam(t *testing.T) {
	r := route(t, "maps", CustomCredential{Upstream: "https://maps.example", CredentialKey: "k", InjectMode: InjectQueryParam, QueryParamName: "key"})
	req := outbound(t, "https://maps.example/geo?a=1&key="+phantom+"&b=2&k%65y=dup", nil)
	if err := r.Inject(req, mustSecret(t, "re al&x=1")); err != nil {
		t.Fatal(err)
	}
	q := req.URL.Query()
	if q["key"][0] != "re al&x=1" || len(q["key"]) != 1 || q.Get("a") != "1" || q.Get("b") != "2" || q.Has("x") {
		t.Fatalf("query = %q", req.URL.RawQuery)
	}
	req = outbound(t, "https://maps.example/geo", nil)
	if err := r.Inject(req, mustSecret(t, "real")); err != nil || req.URL.RawQuery != "key=real" {
		t.Fatalf("append to empty query: %q %v", req.URL.RawQuery, err)
	}
}

func TestExtractPhantom(t *testing.T) {
	basic := route(t, "b", CustomCredential{Upstream: "https://a.example", CredentialKey: "k", InjectMode: InjectBasicAuth})
	query := route(t, "q", CustomCredential{Upstream: "https://a.example", CredentialKey: "k", InjectMode: InjectQueryParam, QueryParamName: "key"})
	path := route(t, "p", CustomCredential{Upstream: "https://a.example", CredentialKey: "k", InjectMode: InjectURLPath, PathPattern: "/bot{}/"})
	token := route(t, "t", CustomCredential{Upstream: "https://a.example", CredentialKey: "k", CredentialFormat: "token {}"})
	b64 := func(s string) string { return "Basic " + base64.StdEncoding.EncodeToString([]byte(s)) }
	ok := []struct {
		name   string
		route  *Route
		target string
		hdr    map[string][]string
	}{
		{"bearer", presetRoute(t, "openai"), "/x", map[string][]string{"Authorization": {"Bearer " + phantom}}},
		{"bearer lower", presetRoute(t, "openai"), "/x", map[string][]string{"authorization": {"bearer " + phantom}}},
		{"bare in Authorization", presetRoute(t, "openai"), "/x", map[string][]string{"Authorization": {phantom}}},
		{"x-api-key", presetRoute(t, "anthropic"), "/x", map[string][]string{"X-Api-Key": {phantom}}},
		{"x-api-key with Bearer", presetRoute(t, "anthropic"), "/x", map[string][]string{"x-api-key": {"Bearer " + phantom}}},
		{"x-goog-api-key", presetRoute(t, "gemini"), "/x", map[string][]string{"X-Goog-Api-Key": {phantom}}},
		{"token prefix", token, "/x", map[string][]string{"Authorization": {"Token " + phantom}}},
		{"token format, Bearer sent", token, "/x", map[string][]string{"Authorization": {"Bearer " + phantom}}},
		{"basic", basic, "/x", map[string][]string{"Authorization": {b64("nono:" + phantom)}}},
		{"query", query, "/x?a=1&key=" + phantom, nil},
		{"path", path, "/bot" + phantom + "/getMe", nil},
		// SDKs change headers across versions: the phantom may sit in
		// another well-known auth header than the one the route injects.
		{"x-api-key route, Bearer sent", presetRoute(t, "anthropic"), "/x", map[string][]string{"Authorization": {"Bearer " + phantom}}},
		{"Authorization route, x-api-key sent", presetRoute(t, "openai"), "/x", map[string][]string{"X-Api-Key": {phantom}}},
	}
	for _, c := range ok {
		got, err := ExtractPhantom(outbound(t, "https://a.example"+c.target, c.hdr), c.route)
		if err != nil || !PhantomMatches(got, []byte(phantom)) {
			t.Errorf("%s: got %q, %v", c.name, got, err)
		}
	}
	bad := []struct {
		name   string
		route  *Route
		target string
		hdr    map[string][]string
		is     error
	}{
		{"missing", presetRoute(t, "openai"), "/x", nil, ErrNoPhantom},
		{"basic auth in a header route", presetRoute(t, "anthropic"), "/x", map[string][]string{"Authorization": {b64("u:" + phantom)}}, ErrNoPhantom},
		{"two auth headers", presetRoute(t, "anthropic"), "/x", map[string][]string{"Authorization": {"Bearer " + phantom}, "Api-Key": {"other"}}, ErrAmbiguousPhantom},
		{"two headers", presetRoute(t, "anthropic"), "/x", map[string][]string{"X-Api-Key": {phantom, "other"}}, ErrAmbiguousPhantom},
		{"two header spellings", presetRoute(t, "anthropic"), "/x", map[string][]string{"X-Api-Key": {phantom}, "x-api-key": {"other"}}, ErrAmbiguousPhantom},
		{"empty bearer", presetRoute(t, "openai"), "/x", map[string][]string{"Authorization": {"Bearer "}}, ErrNoPhantom},
		{"basic given bearer", basic, "/x", map[string][]string{"Authorization": {"Bearer " + phantom}}, ErrNoPhantom},
		{"basic no colon", basic, "/x", map[string][]string{"Authorization": {b64(phantom)}}, ErrNoPhantom},
		{"basic bad base64", basic, "/x", map[string][]string{"Authorization": {"Basic !!!"}}, ErrNoPhantom},
		{"query missing", query, "/x?a=1", nil, ErrNoPhantom},
		{"query twice", query, "/x?key=" + phantom + "&key=other", nil, ErrAmbiguousPhantom},
		{"query bad escape", query, "/x?key=%zz", nil, ErrNoPhantom},
		{"path missing", path, "/getMe", nil, ErrNoPhantom},
		{"path empty token", path, "/bot/getMe", nil, ErrNoPhantom},
		{"path no suffix", path, "/bot" + phantom, nil, ErrNoPhantom},
	}
	for _, c := range bad {
		got, err := ExtractPhantom(outbound(t, "https://a.example"+c.target, c.hdr), c.route)
		if !errors.Is(err, c.is) {
			t.Errorf("%s: got %q, %v; want %v", c.name, got, err, c.is)
		}
	}
	// Phantom in the wrong location (query) for a header route.
	got, err := ExtractPhantom(outbound(t, "https://a.example/x?key="+phantom, nil), presetRoute(t, "openai"))
	if err == nil {
		t.Errorf("header route accepted a phantom in the query: %q", got)
	}
}

func TestPhantomMatches(t *testing.T) {
	p := []byte(phantom)
	if !PhantomMatches([]byte(phantom), p) {
		t.Fatal("equal tokens do not match")
	}
	for _, presented := range []string{"", phantom[:63], phantom + "0", strings.ToUpper(phantom), "1" + phantom[1:], phantom[:63] + "x"} {
		if PhantomMatches([]byte(presented), p) {
			t.Errorf("%q matched", presented)
		}
	}
	if PhantomMatches(nil, nil) || PhantomMatches([]byte{}, []byte{}) {
		t.Error("empty phantom matched")
	}
}

func TestStripClientAuth(t *testing.T) {
	h := http.Header{
		"Authorization": {"a"}, "authorization": {"b"}, "X-Api-Key": {"c"}, "api-key": {"d"},
		"X-Goog-Api-Key": {"e"}, "PRIVATE-TOKEN": {"f"}, "Proxy-Authorization": {"g"}, "Job-Token": {"h"},
		"Accept": {"*/*"}, "X-Api-Keys": {"kept"},
	}
	StripClientAuth(h)
	if len(h) != 2 || h.Get("Accept") != "*/*" || h.Get("X-Api-Keys") != "kept" {
		t.Fatalf("after strip: %v", h)
	}
}

func BenchmarkPhantomCheckAndInject(b *testing.B) {
	r, _ := ResolveRoute("openai", nil)
	s, _ := NewSecret([]byte("sk-real-0123456789"))
	p := []byte(phantom)
	for b.Loop() {
		req, _ := http.NewRequest(http.MethodPost, "https://api.openai.com/v1/chat/completions", nil)
		req.Header.Set("Authorization", "Bearer "+phantom)
		got, err := ExtractPhantom(req, r)
		if err != nil || !PhantomMatches(got, p) {
			b.Fatal("phantom check failed")
		}
		if err := r.Inject(req, s); err != nil {
			b.Fatal(err)
		}
	}
}
