package proxy

import (
	"bufio"
	"context"
	"crypto/tls"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nono-sandbox/nono/certs"
	"github.com/nono-sandbox/nono/credentials"
	"github.com/nono-sandbox/nono/endpoints"
	"golang.org/x/net/http2"
)

func TestInterceptInjectsOverH1AndH2(t *testing.T) {
	o := startTLSOrigin(t, nil)
	g := startCredGateway(t, []CredentialRoute{credRouteTo(t, "svc", o, "", secretA, credentials.CustomCredential{})}, nil)
	for _, h2 := range []bool{false, true} {
		req, _ := http.NewRequest("GET", "https://"+hostPort("example.com", o.port)+"/v1/models?a=b", nil)
		req.Header.Set("Authorization", bearerToken())
		resp, err := g.interceptClient(h2).Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || string(body) != "ok /v1/models" {
			t.Fatalf("h2=%v: %d %q", h2, resp.StatusCode, body)
		}
		if want := map[bool]int{false: 1, true: 2}[h2]; resp.ProtoMajor != want {
			t.Fatalf("client to gateway used HTTP/%d, want %d", resp.ProtoMajor, want)
		}
		got := o.last(t)
		if v := got.header.Values("Authorization"); len(v) != 1 || v[0] != "Bearer "+secretA || got.rawQuery != "a=b" || got.proto != 2 {
			t.Fatalf("upstream saw %v %q proto %d", got.header, got.rawQuery, got.proto)
		}
		ev := g.audit.next(t, func(e Event) bool { return e.Mode == ModeIntercept })
		if ev.Service != "svc" || ev.Status != 200 || ev.Path != "/v1/models" || ev.Decision != DecisionAllow {
			t.Fatalf("audit %+v", ev)
		}
	}
}

func TestInterceptRequiresPhantom(t *testing.T) {
	o := startTLSOrigin(t, nil)
	g := startCredGateway(t, []CredentialRoute{credRouteTo(t, "svc", o, "", secretA, credentials.CustomCredential{})}, nil)
	for _, auth := range []string{"", "Bearer sk-my-own-key", "Bearer " + strings.Repeat("0", 64)} {
		req, _ := http.NewRequest("GET", "https://"+hostPort("example.com", o.port)+"/v1/models", nil)
		if auth != "" {
			req.Header.Set("Authorization", auth)
		}
		resp, err := g.interceptClient(true).Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 401 || string(body) != `{"error":"nono: missing or invalid phantom token"}`+"\n" {
			t.Fatalf("auth %q: %d %q", auth, resp.StatusCode, body)
		}
	}
	if o.count() != 0 {
		t.Fatal("upstream contacted without the phantom")
	}
}

func TestInterceptMisdirectedRequests(t *testing.T) {
	o := startTLSOrigin(t, nil)
	a := credRouteTo(t, "svc", o, "", secretA, credentials.CustomCredential{})
	b := CredentialRoute{Route: mkRoute(t, "api", "https://api.example.com:"+strconv.Itoa(int(o.port)), credentials.CustomCredential{}), Secret: mkSecret(t, secretB), RootCAs: o.pool}
	g := startCredGateway(t, []CredentialRoute{a, b}, nil)
	target := hostPort("example.com", o.port)
	cases := []struct{ name, sni, raw string }{
		{"sni differs", "api.example.com", "GET /x HTTP/1.1\r\nHost: " + target + "\r\n" + phantomHeader + "\r\n\r\n"},
		{"host differs", "example.com", "GET /x HTTP/1.1\r\nHost: " + hostPort("api.example.com", o.port) + "\r\n" + phantomHeader + "\r\n\r\n"},
		{"host port differs", "example.com", "GET /x HTTP/1.1\r\nHost: example.com:443\r\n" + phantomHeader + "\r\n\r\n"},
		{"host without port on another port", "example.com", "GET /x HTTP/1.1\r\nHost: example.com\r\n" + phantomHeader + "\r\n\r\n"},
		{"absolute-form to another host", "example.com", "GET https://" + hostPort("api.example.com", o.port) + "/x HTTP/1.1\r\nHost: " + target + "\r\n" + phantomHeader + "\r\n\r\n"},
		{"absolute-form to the same host", "example.com", "GET https://" + target + "/x HTTP/1.1\r\nHost: " + target + "\r\n" + phantomHeader + "\r\n\r\n"},
		{"http absolute-form", "example.com", "GET http://evil.test/x HTTP/1.1\r\nHost: " + target + "\r\n" + phantomHeader + "\r\n\r\n"},
	}
	for _, c := range cases {
		resp, body := g.interceptRaw(t, target, c.sni, c.raw)
		if resp.StatusCode != http.StatusMisdirectedRequest || resp.Header.Get("X-Nono-Reason") != ReasonMisdirected {
			t.Errorf("%s: %d %q", c.name, resp.StatusCode, body)
		}
		ev := g.audit.next(t, func(e Event) bool { return e.Mode == ModeIntercept })
		if ev.Status != http.StatusMisdirectedRequest || ev.Decision != DecisionDeny {
			t.Errorf("%s: audit %+v", c.name, ev)
		}
	}
	// h2: :authority is checked the same way.
	c := g.dial(t)
	if resp, _ := sendRaw(t, c, bufio.NewReader(c), connectReq(target, true)); resp.StatusCode != 200 {
		t.Fatal(resp.StatusCode)
	}
	tc := tls.Client(c, &tls.Config{ServerName: "example.com", RootCAs: g.caPool, NextProtos: []string{"h2"}})
	if err := tc.Handshake(); err != nil || tc.ConnectionState().NegotiatedProtocol != "h2" {
		t.Fatalf("h2 handshake: %v %q", err, tc.ConnectionState().NegotiatedProtocol)
	}
	cc, err := (&http2.Transport{}).NewClientConn(tc)
	if err != nil {
		t.Fatal(err)
	}
	for _, authority := range []string{hostPort("api.example.com", o.port), "example.com:1", target} {
		req, _ := http.NewRequest("GET", "https://"+target+"/x", nil)
		req.Host = authority
		req.Header.Set("Authorization", bearerToken())
		resp, err := cc.RoundTrip(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		want := http.StatusMisdirectedRequest
		if authority == target {
			want = 200
		}
		if resp.StatusCode != want || resp.ProtoMajor != 2 {
			t.Fatalf("h2 :authority %s: %d HTTP/%d", authority, resp.StatusCode, resp.ProtoMajor)
		}
	}
	if o.count() != 1 {
		t.Fatalf("misdirected requests reached the upstream: %v", o.all())
	}
}

func TestInterceptHostSpellings(t *testing.T) {
	o := startTLSOrigin(t, nil)
	g := startCredGateway(t, []CredentialRoute{credRouteTo(t, "svc", o, "", secretA, credentials.CustomCredential{})}, nil)
	port := strconv.Itoa(int(o.port))
	for _, target := range []string{"example.com.:" + port, "EXAMPLE.com:" + port, "Example.COM.:" + port} {
		resp, body := g.interceptRaw(t, target, "example.com", "GET /v1/x HTTP/1.1\r\nHost: "+target+"\r\n"+phantomHeader+"\r\n\r\n")
		if resp.StatusCode != 200 || o.last(t).header.Get("Authorization") != "Bearer "+secretA {
			t.Errorf("%s: %d %q", target, resp.StatusCode, body)
		}
	}
}

func TestInterceptOtherPortNeverTunnels(t *testing.T) {
	o := startTLSOrigin(t, nil)
	other := startTLSOrigin(t, nil) // a live TLS server on another port of the same host
	g := startCredGateway(t, []CredentialRoute{credRouteTo(t, "svc", o, "", secretA, credentials.CustomCredential{})}, nil)
	for _, target := range []string{hostPort("example.com", other.port), hostPort("example.com.", other.port), "example.com:443", "EXAMPLE.COM:80"} {
		resp, body := g.roundTrip(t, connectReq(target, true))
		if resp.StatusCode != 403 || resp.Header.Get("X-Nono-Reason") != ReasonInterceptRefused {
			t.Errorf("CONNECT %s: %d %q", target, resp.StatusCode, body)
		}
	}
	if other.count()+o.count() != 0 {
		t.Fatal("a refused CONNECT reached an upstream")
	}
}

func TestNonRouteHostIsStillAnOpaqueTunnel(t *testing.T) {
	o := startTLSOrigin(t, nil)
	g := startCredGateway(t, []CredentialRoute{credRouteTo(t, "svc", o, "", secretA, credentials.CustomCredential{})}, nil)
	echo := startOrigin(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "origin "+r.Host) }))
	c := g.dial(t)
	br := bufio.NewReader(c)
	resp, _ := sendRaw(t, c, br, connectReq(hostPort("allowed.test", echo), true))
	if resp.StatusCode != 200 {
		t.Fatalf("CONNECT: %d", resp.StatusCode)
	}
	// Plain HTTP inside the tunnel reaches the origin untouched: no TLS was
	// terminated by the gateway.
	resp, body := sendRaw(t, c, br, "GET /x HTTP/1.1\r\nHost: anything\r\n\r\n")
	if resp.StatusCode != 200 || body != "origin anything" {
		t.Fatalf("%d %q", resp.StatusCode, body)
	}
}

func TestInterceptHandshakeFailureIsAuditedNotTunnelled(t *testing.T) {
	o := startTLSOrigin(t, nil)
	g := startCredGateway(t, []CredentialRoute{credRouteTo(t, "svc", o, "", secretA, credentials.CustomCredential{})}, nil)
	target := hostPort("example.com", o.port)
	// A client that pins the real upstream certificate rejects our leaf.
	c := g.dial(t)
	resp, _ := sendRaw(t, c, bufio.NewReader(c), connectReq(target, true))
	if resp.StatusCode != 200 {
		t.Fatal(resp.StatusCode)
	}
	tc := tls.Client(c, &tls.Config{ServerName: "example.com", RootCAs: o.pool})
	if err := tc.Handshake(); err == nil {
		t.Fatal("the client accepted the gateway's leaf with only the upstream's CA")
	}
	ev := g.audit.next(t, func(e Event) bool { return e.Reason == ReasonHandshake })
	if ev.Mode != ModeIntercept || ev.Decision != DecisionDeny || ev.Host != "example.com" {
		t.Fatalf("audit %+v", ev)
	}
	// A client speaking plain HTTP after the 200 gets no tunnel either.
	c2 := g.dial(t)
	br2 := bufio.NewReader(c2)
	sendRaw(t, c2, br2, connectReq(target, true))
	io.WriteString(c2, "GET / HTTP/1.1\r\nHost: example.com\r\n\r\n")
	rest, _ := io.ReadAll(br2)
	if strings.Contains(string(rest), "ok /") {
		t.Fatalf("plain bytes were tunnelled: %q", rest)
	}
	g.audit.next(t, func(e Event) bool { return e.Reason == ReasonHandshake })
	// No SNI: the CA refuses to mint.
	c3 := g.dial(t)
	sendRaw(t, c3, bufio.NewReader(c3), connectReq(target, true))
	if err := tls.Client(c3, &tls.Config{InsecureSkipVerify: true}).Handshake(); err == nil {
		t.Fatal("handshake without SNI succeeded")
	}
	if o.count() != 0 {
		t.Fatal("upstream contacted")
	}
}

func TestInterceptWithoutCAIsRefused(t *testing.T) {
	o := startTLSOrigin(t, nil)
	g := startCredGateway(t, []CredentialRoute{credRouteTo(t, "svc", o, "", secretA, credentials.CustomCredential{})}, func(_ *PolicyConfig, c *Config) {
		c.CA = nil
	})
	resp, body := g.roundTrip(t, connectReq(hostPort("example.com", o.port), true))
	if resp.StatusCode != 403 || resp.Header.Get("X-Nono-Reason") != ReasonInterceptRefused {
		t.Fatalf("%d %q", resp.StatusCode, body)
	}
	// The reverse path still works without a CA.
	resp, body = g.roundTrip(t, "GET /svc/x HTTP/1.1\r\nHost: x\r\n"+phantomHeader+"\r\n\r\n")
	if resp.StatusCode != 200 {
		t.Fatalf("%d %q", resp.StatusCode, body)
	}
}

func TestInterceptRoutesByBasePath(t *testing.T) {
	o := startTLSOrigin(t, nil)
	v1 := credRouteTo(t, "one", o, "/v1", secretA, credentials.CustomCredential{})
	v2 := credRouteTo(t, "two", o, "/v2", secretB, credentials.CustomCredential{})
	g := startCredGateway(t, []CredentialRoute{v1, v2}, nil)
	target := hostPort("example.com", o.port)
	for path, want := range map[string]string{"/v1/x": secretA, "/v2/x": secretB, "/v1": secretA} {
		resp, body := g.interceptRaw(t, target, "example.com", "GET "+path+" HTTP/1.1\r\nHost: "+target+"\r\n"+phantomHeader+"\r\n\r\n")
		if resp.StatusCode != 200 || o.last(t).header.Get("Authorization") != "Bearer "+want {
			t.Fatalf("%s: %d %q", path, resp.StatusCode, body)
		}
	}
	n := o.count()
	for _, path := range []string{"/v3/x", "/v10/x", "/"} {
		resp, body := g.interceptRaw(t, target, "example.com", "GET "+path+" HTTP/1.1\r\nHost: "+target+"\r\n"+phantomHeader+"\r\n\r\n")
		if resp.StatusCode != 403 {
			t.Fatalf("%s outside every base: %d %q", path, resp.StatusCode, body)
		}
	}
	// Two routes with the same host and base are ambiguous on this path.
	dup := credRouteTo(t, "dup", o, "/v1", secretB, credentials.CustomCredential{})
	g2 := startCredGateway(t, []CredentialRoute{v1, dup}, nil)
	resp, body := g2.interceptRaw(t, target, "example.com", "GET /v1/x HTTP/1.1\r\nHost: "+target+"\r\n"+phantomHeader+"\r\n\r\n")
	if resp.StatusCode != 403 || resp.Header.Get("X-Nono-Reason") != ReasonAmbiguousRoute {
		t.Fatalf("ambiguous: %d %q", resp.StatusCode, body)
	}
	if o.count() != n {
		t.Fatal("refused requests reached the upstream")
	}
}

func TestRulesOnlyHostInterceptedOnAnyPortAndForwarded(t *testing.T) {
	o := startTLSOrigin(t, nil)
	o2 := startTLSOrigin(t, nil)
	plain := startPlainOrigin(t, nil)
	rules := mkRules(t, "GET /repos/*/issues", "* /public/**")
	g := startCredGateway(t, nil, func(pc *PolicyConfig, c *Config) {
		pc.Allow = append(pc.Allow, "rules.example.com")
		c.EndpointRules = map[string]*endpoints.Set{"Rules.Example.com.": rules}
		c.InterceptRootCAs = o.pool // both TLS origins share the httptest certificate
	})
	for _, port := range []uint16{o.port, o2.port} {
		target := hostPort("rules.example.com", port)
		resp, body := g.interceptRaw(t, target, "rules.example.com", "GET /repos/x/issues HTTP/1.1\r\nHost: "+target+"\r\nAuthorization: token users-own\r\n\r\n")
		if resp.StatusCode != 200 {
			t.Fatalf("port %d: %d %q", port, resp.StatusCode, body)
		}
		// No credential route: the client's own Authorization passes.
		if got := map[uint16]*tlsOrigin{o.port: o, o2.port: o2}[port].last(t); got.header.Get("Authorization") != "token users-own" {
			t.Fatalf("rules-only host: Authorization %q", got.header.Get("Authorization"))
		}
		resp, body = g.interceptRaw(t, target, "rules.example.com", "DELETE /repos/x HTTP/1.1\r\nHost: "+target+"\r\n\r\n")
		if resp.StatusCode != 403 || !strings.Contains(body, "DELETE /repos/x") {
			t.Fatalf("port %d deny: %d %q", port, resp.StatusCode, body)
		}
	}
	// Forward (http://) to a rules host: same rules, canonical path sent.
	target := hostPort("rules.example.com", plain.port)
	resp, body := g.roundTrip(t, getReq("http://"+target+"/public//a/%7eb", true))
	if resp.StatusCode != 200 || plain.last(t).path != "/public/a/~b" {
		t.Fatalf("forward allow: %d %q", resp.StatusCode, body)
	}
	n := plain.count()
	for _, p := range []string{"/private", "/public/%2e%2e/private", "/public/..%2fprivate", "/repos/x/y/issues"} {
		resp, body = g.roundTrip(t, getReq("http://"+target+p, true))
		if resp.StatusCode != 403 && resp.StatusCode != 400 {
			t.Fatalf("forward %s: %d %q", p, resp.StatusCode, body)
		}
	}
	if plain.count() != n {
		t.Fatal("denied forward reached the origin")
	}
}

func TestForwardPlainHTTPToCredentialHostRefused(t *testing.T) {
	o := startTLSOrigin(t, nil)
	g := startCredGateway(t, []CredentialRoute{credRouteTo(t, "svc", o, "", secretA, credentials.CustomCredential{})}, nil)
	for _, u := range []string{"http://example.com/v1/x", "http://" + hostPort("example.com", o.port) + "/v1/x", "http://EXAMPLE.com./x"} {
		resp, body := g.roundTrip(t, getReq(u, true, phantomHeader))
		if resp.StatusCode != 403 || resp.Header.Get("X-Nono-Reason") != ReasonPlainHTTP {
			t.Fatalf("%s: %d %q", u, resp.StatusCode, body)
		}
	}
	if o.count() != 0 {
		t.Fatal("upstream contacted")
	}
}

func TestForwardToLoopbackHTTPCredentialInjects(t *testing.T) {
	plain := startPlainOrigin(t, nil)
	cr := CredentialRoute{Route: mkRoute(t, "local", "http://127.0.0.1:"+strconv.Itoa(int(plain.port)), credentials.CustomCredential{InjectHeader: "X-Api-Key"}), Secret: mkSecret(t, secretA)}
	g := startCredGateway(t, []CredentialRoute{cr}, nil)
	u := "http://" + hostPort("127.0.0.1", plain.port) + "/v1/x"
	resp, body := g.roundTrip(t, getReq(u, true, "X-Api-Key: "+string(testToken)))
	if resp.StatusCode != 200 || plain.last(t).header.Get("X-Api-Key") != secretA || plain.last(t).header.Get("Proxy-Authorization") != "" {
		t.Fatalf("%d %q %v", resp.StatusCode, body, plain.last(t).header)
	}
	resp, _ = g.roundTrip(t, getReq(u, true))
	if resp.StatusCode != 401 {
		t.Fatalf("forward without phantom: %d", resp.StatusCode)
	}
	// The proxy credential is still required first.
	resp, _ = g.roundTrip(t, getReq(u, false, "X-Api-Key: "+string(testToken)))
	if resp.StatusCode != 407 {
		t.Fatalf("forward without proxy auth: %d", resp.StatusCode)
	}
	if plain.count() != 1 {
		t.Fatalf("upstream count %d", plain.count())
	}
}

// TestEndpointRulesSameOnEveryPath runs one table through the reverse,
// intercept and forward paths: same decision, same canonical path.
func TestEndpointRulesSameOnEveryPath(t *testing.T) {
	o := startTLSOrigin(t, nil)
	plain := startPlainOrigin(t, nil)
	rules := []string{"GET /api/**", "POST /v1/chat/completions", "GET /repos/*/issues"}
	tlsRoute := credRouteTo(t, "tls", o, "", secretA, credentials.CustomCredential{})
	tlsRoute.Endpoints = mkRules(t, rules...)
	plainRoute := CredentialRoute{Route: mkRoute(t, "plain", "http://127.0.0.1:"+strconv.Itoa(int(plain.port)), credentials.CustomCredential{}), Secret: mkSecret(t, secretB), Endpoints: mkRules(t, rules...)}
	g := startCredGateway(t, []CredentialRoute{tlsRoute, plainRoute}, nil)

	table := []struct {
		method, path string
		want         string // canonical upstream path, "" = refused
	}{
		{"GET", "/api", "/api"},
		{"GET", "/api/", "/api/"},
		{"GET", "/api/x/y", "/api/x/y"},
		{"GET", "/apix", ""},
		{"GET", "/API/x", ""},
		{"POST", "/v1/chat/completions", "/v1/chat/completions"},
		{"POST", "/v1/chat/%63ompletions", "/v1/chat/completions"},
		{"POST", "/v1//chat///completions", "/v1/chat/completions"},
		{"post", "/v1/chat/completions", ""},
		{"Post", "/v1/chat/completions", ""},
		{"GET", "/v1/chat/completions", ""},
		{"POST", "/v1/chat/completions/", ""},
		{"POST", "/v1/./chat/completions", ""},
		{"POST", "/v1/x/../chat/completions", ""},
		{"POST", "/v1/chat/completions;x=1", ""},
		{"POST", "/v1/chat%2fcompletions", ""},
		{"POST", "/v1/chat%2Fcompletions", ""},
		{"GET", "/api/%2e%2e/admin", ""},
		{"GET", "/api/..%2fadmin", ""},
		{"GET", "/api/%252e%252e/admin", ""},
		{"GET", "/api/%2e/x", ""},
		{"GET", "/api\\..\\admin", ""},
		{"GET", "/api/%5c../admin", ""},
		{"GET", "/api/%ff", ""},
		{"GET", "/api/%c0%ae%c0%ae/admin", ""},
		{"GET", "/api/%3f/x", "/api/%3F/x"}, // an encoded '?' stays data, never a query
		{"GET", "/repos/a/issues", "/repos/a/issues"},
		{"GET", "/repos/a/b/issues", ""},
		{"GET", "/repos//issues", ""},
		{"TRACE", "/api/x", ""},
	}
	port := strconv.Itoa(int(o.port))
	paths := []struct {
		name string
		send func(method, path string) (*http.Response, string)
		up   *tlsOrigin
	}{
		{"reverse", func(m, p string) (*http.Response, string) {
			return g.roundTrip(t, m+" /tls"+p+" HTTP/1.1\r\nHost: x\r\n"+phantomHeader+"\r\n\r\n")
		}, o},
		{"intercept", func(m, p string) (*http.Response, string) {
			return g.interceptRaw(t, "example.com:"+port, "example.com", m+" "+p+" HTTP/1.1\r\nHost: example.com:"+port+"\r\n"+phantomHeader+"\r\n\r\n")
		}, o},
		{"forward", func(m, p string) (*http.Response, string) {
			h := hostPort("127.0.0.1", plain.port)
			return g.roundTrip(t, m+" http://"+h+p+" HTTP/1.1\r\nHost: "+h+"\r\nProxy-Authorization: "+basicAuth("nono", testToken)+"\r\n"+phantomHeader+"\r\n\r\n")
		}, plain},
	}
	for _, pth := range paths {
		for _, c := range table {
			before := pth.up.count()
			resp, body := pth.send(c.method, c.path)
			if c.want == "" {
				if resp.StatusCode < 400 || resp.StatusCode >= 500 || pth.up.count() != before {
					t.Errorf("%s %s %s: want refused, got %d %q (upstream %d→%d)", pth.name, c.method, c.path, resp.StatusCode, body, before, pth.up.count())
				}
				continue
			}
			if resp.StatusCode != 200 || pth.up.count() != before+1 || pth.up.last(t).path != c.want {
				t.Errorf("%s %s %s: want %s, got %d %q", pth.name, c.method, c.path, c.want, resp.StatusCode, body)
			}
		}
	}
}

func TestNewValidatesCredentials(t *testing.T) {
	pol := mustPolicy(t, PolicyConfig{Allow: []string{"a.test"}})
	good := func() CredentialRoute {
		return CredentialRoute{Route: mkRoute(t, "svc", "https://example.com", credentials.CustomCredential{}), Secret: mkSecret(t, secretA)}
	}
	httpRoute := *good().Route
	httpRoute.Upstream, _ = url.Parse("http://example.com")
	slash := *good().Route
	slash.Name = "a/b"
	ctrl, err := credentials.NewSecret([]byte("abc\x01def"))
	if err != nil {
		t.Fatal(err)
	}
	basicNoColon := CredentialRoute{Route: mkRoute(t, "b", "https://example.com", credentials.CustomCredential{InjectMode: credentials.InjectBasicAuth}), Secret: mkSecret(t, "nocolon")}
	ca, err := certs.NewSessionCA([]string{"example.com"}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	defer ca.Close()
	for name, mut := range map[string]func(*Config){
		"reverse and credentials": func(c *Config) { c.Reverse = http.NotFoundHandler() },
		"duplicate name":          func(c *Config) { c.Credentials = append(c.Credentials, good()) },
		"no secret":               func(c *Config) { c.Credentials[0].Secret = nil },
		"wiped secret":            func(c *Config) { c.Credentials[0].Secret.Wipe() },
		"no route":                func(c *Config) { c.Credentials[0].Route = nil },
		"http not loopback":       func(c *Config) { c.Credentials[0].Route = &httpRoute },
		"name with slash":         func(c *Config) { c.Credentials[0].Route = &slash },
		"control char in secret":  func(c *Config) { c.Credentials[0].Secret = ctrl },
		"basic without colon":     func(c *Config) { c.Credentials = []CredentialRoute{basicNoColon} },
		"bad rules host": func(c *Config) {
			c.EndpointRules = map[string]*endpoints.Set{"bad host\x00": mkRules(t, "GET /x")}
		},
		"rules host twice": func(c *Config) {
			c.EndpointRules = map[string]*endpoints.Set{"a.example.com": mkRules(t, "GET /x"), "A.EXAMPLE.COM.": mkRules(t, "GET /y")}
		},
		"CA without routes": func(c *Config) { c.Credentials = nil; c.CA = ca },
	} {
		cfg := Config{Policy: pol, Token: testToken, Credentials: []CredentialRoute{good()}}
		mut(&cfg)
		if _, err := New(cfg); err == nil {
			t.Errorf("%s: New accepted the config", name)
		} else if strings.Contains(err.Error(), secretA) || strings.Contains(err.Error(), "nocolon") {
			t.Errorf("%s: error text holds the secret: %v", name, err)
		}
	}
	if _, err := New(Config{Policy: pol, Token: testToken, Credentials: []CredentialRoute{good()}, CA: ca}); err != nil {
		t.Fatal(err)
	}
}

func TestShutdownWipesDerivedSecretsNotCallerSecret(t *testing.T) {
	o := startTLSOrigin(t, nil)
	cr := credRouteTo(t, "svc", o, "", secretA, credentials.CustomCredential{InjectMode: credentials.InjectQueryParam, QueryParamName: "key"})
	g := startCredGateway(t, []CredentialRoute{cr}, nil)
	held := g.l7.routes["svc"].needles
	if len(held) < 2 {
		t.Fatalf("needles %d", len(held))
	}
	if err := g.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	for _, n := range held {
		for _, b := range n {
			if b != 0 {
				t.Fatal("a derived secret form survived Shutdown")
			}
		}
	}
	if string(cr.Secret.Bytes()) != secretA {
		t.Fatal("Shutdown wiped the caller's secret")
	}
}
