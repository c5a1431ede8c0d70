package credentials

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

func TestCustomCredentialValidateOK(t *testing.T) {
	defs := map[string]CustomCredential{
		"default header": {Upstream: "https://api.example.com", CredentialKey: "my_api_key"},
		"custom header":  {Upstream: "https://api.example.com/v2/", CredentialKey: "env://X", InjectHeader: "X-Auth", CredentialFormat: "Token {}"},
		"basic":          {Upstream: "https://h.example:8443", CredentialKey: "file:///run/s", InjectMode: InjectBasicAuth},
		"url_path":       {Upstream: "https://api.telegram.org", CredentialKey: "op://V/Bot/token", InjectMode: InjectURLPath, PathPattern: "/bot{}/", EnvVar: "TELEGRAM_TOKEN"},
		"query":          {Upstream: "http://127.0.0.1:8080", CredentialKey: "k", InjectMode: InjectQueryParam, QueryParamName: "api_key"},
		"loopback v6":    {Upstream: "http://[::1]:9000", CredentialKey: "k"},
		"localhost":      {Upstream: "http://localhost:9000", CredentialKey: "k", EndpointRules: []EndpointRule{{"GET", "/v1/**"}, {"*", "/x"}}, TLSCA: "/etc/ca.pem"},
	}
	for name, d := range defs {
		if err := d.Validate(); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
}

func TestCustomCredentialValidateErrors(t *testing.T) {
	base := CustomCredential{Upstream: "https://api.example.com", CredentialKey: "k"}
	with := func(f func(*CustomCredential)) CustomCredential { c := base; f(&c); return c }
	cases := []struct {
		def   CustomCredential
		field string
		want  string
	}{
		{with(func(c *CustomCredential) { c.Upstream = "" }), "upstream", "required"},
		{with(func(c *CustomCredential) { c.Upstream = "http://api.example.com" }), "upstream", "loopback"},
		{with(func(c *CustomCredential) { c.Upstream = "http://0.0.0.0:80" }), "upstream", "loopback"},
		{with(func(c *CustomCredential) { c.Upstream = "http://10.0.0.1" }), "upstream", "loopback"},
		{with(func(c *CustomCredential) { c.Upstream = "ftp://x.example" }), "upstream", "scheme"},
		{with(func(c *CustomCredential) { c.Upstream = "https://u:p@x.example" }), "upstream", "user:password"},
		{with(func(c *CustomCredential) { c.Upstream = "https://x.example/?a=1" }), "upstream", "query"},
		{with(func(c *CustomCredential) { c.Upstream = "https://x.example/#f" }), "upstream", "fragment"},
		{with(func(c *CustomCredential) { c.Upstream = "https://x.example/a/../b" }), "upstream", "clean"},
		{with(func(c *CustomCredential) { c.Upstream = "https://x.example:0" }), "upstream", "port"},
		{with(func(c *CustomCredential) { c.Upstream = "https://x.example./" }), "upstream", "ends with"},
		{with(func(c *CustomCredential) { c.Upstream = "//x.example" }), "upstream", "scheme"},
		{with(func(c *CustomCredential) { c.Upstream = "https://x.example/%2e%2e" }), "upstream", "percent"},
		{with(func(c *CustomCredential) { c.CredentialKey = "" }), "credential_key", "required"},
		{with(func(c *CustomCredential) { c.CredentialKey = "bw://x" }), "credential_key", "unsupported"},
		{with(func(c *CustomCredential) { c.InjectMode = "cookie" }), "inject_mode", "must be"},
		{with(func(c *CustomCredential) { c.InjectHeader = "Bad Header" }), "inject_header", "valid HTTP header name"},
		{with(func(c *CustomCredential) { c.InjectHeader = "host" }), "inject_header", "cannot carry"},
		{with(func(c *CustomCredential) { c.InjectHeader = "Proxy-Authorization" }), "inject_header", "cannot carry"},
		{with(func(c *CustomCredential) { c.CredentialFormat = "Bearer" }), "credential_format", "exactly once"},
		{with(func(c *CustomCredential) { c.CredentialFormat = "{}{}" }), "credential_format", "exactly once"},
		{with(func(c *CustomCredential) { c.CredentialFormat = "{}\r\nX-Evil: 1" }), "credential_format", "CR, LF"},
		{with(func(c *CustomCredential) { c.CredentialFormat = "{}\x01" }), "credential_format", "header value"},
		{with(func(c *CustomCredential) { c.InjectMode = InjectURLPath }), "path_pattern", "required"},
		{with(func(c *CustomCredential) { c.InjectMode = InjectURLPath; c.PathPattern = "bot{}" }), "path_pattern", "start with"},
		{with(func(c *CustomCredential) { c.InjectMode = InjectURLPath; c.PathPattern = "/bot{}?x" }), "path_pattern", "'?'"},
		{with(func(c *CustomCredential) {
			c.InjectMode = InjectURLPath
			c.PathPattern = "/a{}"
			c.PathReplacement = "/b"
		}), "path_replacement", "exactly once"},
		{with(func(c *CustomCredential) { c.InjectMode = InjectQueryParam }), "query_param_name", "required"},
		{with(func(c *CustomCredential) { c.InjectMode = InjectQueryParam; c.QueryParamName = "a&b" }), "query_param_name", "required"},
		{with(func(c *CustomCredential) { c.PathPattern = "/x{}" }), "path_pattern", "only valid with inject_mode url_path"},
		{with(func(c *CustomCredential) { c.InjectMode = InjectBasicAuth; c.CredentialFormat = "{}" }), "credential_format", "only valid with inject_mode header"},
		{with(func(c *CustomCredential) { c.QueryParamName = "k" }), "query_param_name", "only valid"},
		{with(func(c *CustomCredential) { c.EnvVar = "LD_PRELOAD" }), "env_var", "reserved"},
		{with(func(c *CustomCredential) { c.EnvVar = "NODE_OPTIONS" }), "env_var", "cannot hold"},
		{with(func(c *CustomCredential) { c.EnvVar = "A-B" }), "env_var", "must match"},
		{with(func(c *CustomCredential) { c.EndpointRules = []EndpointRule{{"GET", "v1"}} }), "endpoint_rules[0]", "start with '/'"},
		{with(func(c *CustomCredential) { c.EndpointRules = []EndpointRule{{"", "/x"}} }), "endpoint_rules[0]", "method"},
		{with(func(c *CustomCredential) { c.EndpointRules = []EndpointRule{{"GET", "/x"}, {"G T", "/x"}} }), "endpoint_rules[1]", "method"},
		{with(func(c *CustomCredential) { c.TLSCA = "ca.pem" }), "tls_ca", "absolute"},
	}
	for _, c := range cases {
		err := c.def.Validate()
		var fe *FieldError
		if !errors.As(err, &fe) || !strings.Contains(err.Error(), c.field+": ") || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: err = %v, want field %s with %q", c.def, err, c.field, c.want)
		}
	}
	// Several problems are all reported.
	err := CustomCredential{Upstream: "http://x.example", InjectMode: InjectQueryParam}.Validate()
	for _, f := range []string{"upstream", "credential_key", "query_param_name"} {
		if err == nil || !strings.Contains(err.Error(), f+":") {
			t.Errorf("joined error lacks %s: %v", f, err)
		}
	}
}

func TestCustomCredentialJSONSchemaNames(t *testing.T) {
	var c CustomCredential
	in := `{"upstream":"https://a.example","credential_key":"k","inject_mode":"query_param","query_param_name":"key",
	"env_var":"A_KEY","endpoint_rules":[{"method":"GET","path":"/x"}],"tls_ca":"/ca.pem","inject_header":"","credential_format":"",
	"path_pattern":"","path_replacement":""}`
	dec := json.NewDecoder(strings.NewReader(in))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&c); err != nil {
		t.Fatal(err)
	}
	if c.InjectMode != InjectQueryParam || c.QueryParamName != "key" || c.EndpointRules[0].Path != "/x" || c.TLSCA != "/ca.pem" {
		t.Fatalf("decoded %+v", c)
	}
}

func TestNamesAndVars(t *testing.T) {
	if got := BaseURLVar("my-api"); got != "MY_API_BASE_URL" {
		t.Errorf("BaseURLVar = %s", got)
	}
	if got := DefaultKeyVar("my-api"); got != "MY_API_API_KEY" {
		t.Errorf("DefaultKeyVar = %s", got)
	}
	if got := DefaultAccount("google-ai"); got != "google_ai_api_key" {
		t.Errorf("DefaultAccount = %s", got)
	}
	for _, bad := range []string{"", "_ep_x", "-x", "a/b", "a b", "a.b", strings.Repeat("a", 65)} {
		if ValidateName(bad) == nil {
			t.Errorf("ValidateName(%q) accepted", bad)
		}
	}
	if _, err := NewRoute("a/b", CustomCredential{Upstream: "https://x.example", CredentialKey: "k"}); err == nil {
		t.Error("NewRoute accepted a bad name")
	}
}

func TestPresets(t *testing.T) {
	want := map[string]struct{ upstream, header, format, baseVar, keyVar, account string }{
		"openai":    {"https://api.openai.com", "Authorization", "Bearer {}", "OPENAI_BASE_URL", "OPENAI_API_KEY", "openai_api_key"},
		"anthropic": {"https://api.anthropic.com", "X-Api-Key", "{}", "ANTHROPIC_BASE_URL", "ANTHROPIC_API_KEY", "anthropic_api_key"},
		"gemini":    {"https://generativelanguage.googleapis.com", "X-Goog-Api-Key", "{}", "GEMINI_BASE_URL", "GEMINI_API_KEY", "gemini_api_key"},
		"google-ai": {"https://generativelanguage.googleapis.com", "X-Goog-Api-Key", "{}", "GOOGLE_AI_BASE_URL", "GOOGLE_API_KEY", "google_ai_api_key"},
		"github":    {"https://api.github.com", "Authorization", "Bearer {}", "GITHUB_BASE_URL", "GITHUB_TOKEN", "github_api_key"},
		"gitlab":    {"https://gitlab.com", "Private-Token", "{}", "GITLAB_BASE_URL", "GITLAB_TOKEN", "gitlab_api_key"},
	}
	if len(Presets()) != len(want) {
		t.Fatalf("%d presets, want %d", len(Presets()), len(want))
	}
	for _, p := range Presets() {
		w, ok := want[p.Name]
		if !ok {
			t.Errorf("unexpected preset %s", p.Name)
			continue
		}
		r, err := p.Route()
		if err != nil {
			t.Fatalf("%s: %v", p.Name, err)
		}
		got := [...]string{r.Upstream.String(), r.Header, r.Format, r.BaseURLVar, r.KeyVar, r.Ref.Account}
		exp := [...]string{w.upstream, w.header, w.format, w.baseVar, w.keyVar, w.account}
		if got != exp || r.Mode != InjectHeader || !r.Ref.Bare || r.Ref.Service != "nono" {
			t.Errorf("%s: got %v, want %v", p.Name, got, exp)
		}
	}
	r, _ := ResolveRoute("openai", nil)
	if got := r.BaseURL("http://127.0.0.1:4321/"); got != "http://127.0.0.1:4321/openai/v1" {
		t.Errorf("openai BaseURL = %s", got)
	}
	r, _ = ResolveRoute("anthropic", nil)
	if got := r.BaseURL("http://127.0.0.1:4321"); got != "http://127.0.0.1:4321/anthropic" {
		t.Errorf("anthropic BaseURL = %s", got)
	}
}

func TestResolveRouteCustomOverridesPreset(t *testing.T) {
	custom := map[string]CustomCredential{
		"openai": {Upstream: "https://proxy.corp.example/openai", CredentialKey: "env://CORP_OPENAI"},
		"my-api": {Upstream: "https://api.example.com", CredentialKey: "my_api_key"},
	}
	r, err := ResolveRoute("openai", custom)
	if err != nil || r.Upstream.Host != "proxy.corp.example" || r.Ref.Var != "CORP_OPENAI" || r.KeyVar != "OPENAI_API_KEY" {
		t.Fatalf("override: %+v, %v", r, err)
	}
	r, err = ResolveRoute("my-api", custom)
	if err != nil || r.BaseURLVar != "MY_API_BASE_URL" || r.Header != "Authorization" || r.Format != "Bearer {}" {
		t.Fatalf("custom: %+v, %v", r, err)
	}
	_, err = ResolveRoute("nope", custom)
	if err == nil || !strings.Contains(err.Error(), "openai, anthropic") || !strings.Contains(err.Error(), "my-api") {
		t.Fatalf("unknown: %v", err)
	}
	_, err = ResolveRoute("sk-live/abcdef", nil)
	if err == nil || strings.Contains(err.Error(), "abcdef") {
		t.Fatalf("bad name echoed or accepted: %v", err)
	}
	bad := map[string]CustomCredential{"x": {Upstream: "http://evil.example", CredentialKey: "k"}}
	if _, err := ResolveRoute("x", bad); err == nil || !strings.Contains(err.Error(), "custom credential x: upstream:") {
		t.Fatalf("invalid custom: %v", err)
	}
}

func TestEnvCredentialParsing(t *testing.T) {
	got, err := ParseEnvCredentialList("openai_api_key, env://GITHUB_TOKEN,env://GITHUB_TOKEN=GH_TOKEN,op://Dev/OpenAI/credential=OPENAI_API_KEY,my-key.v2")
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"openai_api_key>OPENAI_API_KEY", "env://GITHUB_TOKEN>GITHUB_TOKEN", "env://GITHUB_TOKEN>GH_TOKEN",
		"op://Dev/OpenAI/credential>OPENAI_API_KEY", "my-key.v2>MY_KEY_V2"}
	for i, m := range got {
		if s := m.Ref.String() + ">" + m.EnvVar; s != want[i] {
			t.Errorf("entry %d = %s, want %s", i, s, want[i])
		}
	}
	for _, bad := range []string{"", "a,,b", "op://Dev/OpenAI/credential", "file:///run/x", "a=PATH", "a=LD_PRELOAD", "a=NONO_TOKEN", "env://X=1BAD", "a=HTTPS_PROXY"} {
		if _, err := ParseEnvCredentialList(bad); err == nil {
			t.Errorf("ParseEnvCredentialList(%q) accepted", bad)
		}
	}
	if m, err := NewEnvMapping("apple-password://github.com/alice@example.com", "GITHUB_PASSWORD"); err != nil || m.Ref.Account != "alice@example.com" {
		t.Errorf("NewEnvMapping: %+v, %v", m, err)
	}
	if _, err := NewEnvMapping("env://X", "node_options"); err == nil {
		t.Error("lower-case dangerous name accepted")
	}
}
