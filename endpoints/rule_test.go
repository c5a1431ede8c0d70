package endpoints

import (
	"strings"
	"testing"
)

func TestParseRule(t *testing.T) {
	ok := []struct {
		in   string
		want Rule
	}{
		{"openai:POST:/v1/chat/completions", Rule{"openai", "POST", "/v1/chat/completions"}},
		{"openai:post:/v1/chat/completions", Rule{"openai", "POST", "/v1/chat/completions"}},
		{"github:*:/repos/*/issues", Rule{"github", "*", "/repos/*/issues"}},
		{"google-ai:GET:/v1beta/models/*:generateContent", Rule{"google-ai", "GET", "/v1beta/models/*:generateContent"}},
		{"my_svc2:GET:/a//b/", Rule{"my_svc2", "GET", "/a/b/"}},
		{"x:GET:/a/**/**/b", Rule{"x", "GET", "/a/**/b"}},
		{"x:GET:/a/%7euser", Rule{"x", "GET", "/a/~user"}},
		{"x:PROPFIND:/dav/**", Rule{"x", "PROPFIND", "/dav/**"}},
	}
	for _, c := range ok {
		got, err := ParseRule(c.in)
		if err != nil || got != c.want {
			t.Errorf("ParseRule(%q) = %+v, %v; want %+v", c.in, got, err, c.want)
		}
	}
	bad := []struct{ in, wantErr string }{
		{"", "SERVICE:METHOD:PATH"},
		{"openai", "SERVICE:METHOD:PATH"},
		{"openai:POST", "SERVICE:METHOD:PATH"},
		{":POST:/x", "service name is empty"},
		{"openai::/x", "method is empty"},
		{"openai:POST:", "path is empty"},
		{"OpenAI:POST:/x", "service name"},
		{"-openai:POST:/x", "service name"},
		{"open ai:POST:/x", "service name"},
		{"open.ai:POST:/x", "service name"},
		{"openai:PO ST:/x", "not an HTTP method token"},
		{"openai:GET\r\n:/x", "not an HTTP method token"},
		{"openai:G*:/x", "not an HTTP method token"},
		{"openai:POST:v1/x", "must start with '/'"},
		{"openai:POST:/v1/x?y=1", "query"},
		{"openai:POST:/v1/x#frag", "query or fragment"},
		{"openai:POST:/v1/\x00", "control character"},
		{"openai:POST:/v1/\n", "control character"},
		{"openai:POST:/v1/[ab]", "only '*' and '**'"},
		{"openai:POST:/v1/{a,b}", "only '*' and '**'"},
		{`openai:POST:/v1\x`, "only '*' and '**'"},
		{"openai:POST:/v1/a**", "whole segment"},
		{"openai:POST:/v1/***", "whole segment"},
		{"openai:POST:/v1/../x", "dot segments"},
		{"openai:POST:/v1/%2e%2e/x", "dot segments"},
		{"openai:POST:/v1/a%2fb", "%2F"},
		{"openai:POST:/v1/a;b", "';'"},
	}
	for _, c := range bad {
		_, err := ParseRule(c.in)
		if err == nil {
			t.Errorf("ParseRule(%q): want error containing %q, got nil", c.in, c.wantErr)
			continue
		}
		if !strings.Contains(err.Error(), c.wantErr) {
			t.Errorf("ParseRule(%q): error %q does not mention %q", c.in, err, c.wantErr)
		}
	}
}

func TestNewRuleAndString(t *testing.T) {
	r, err := NewRule("get", "/v1/models/*")
	if err != nil {
		t.Fatal(err)
	}
	if r.Method != "GET" || r.Service != "" || r.String() != "GET /v1/models/*" {
		t.Fatalf("got %+v / %q", r, r.String())
	}
}

func TestRuleGlobstarLimit(t *testing.T) {
	if _, err := NewRule("GET", "/**/a/**/b/**/c/**"); err != nil {
		t.Fatalf("4 globstars refused: %v", err)
	}
	if _, err := NewRule("GET", "/**/a/**/b/**/c/**/d/**"); err == nil {
		t.Fatal("5 globstars accepted")
	}
}
