package proxy

import (
	"bufio"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"net/http/httptrace"
	"net/netip"
	"net/textproto"
	"strings"
	"testing"

	"github.com/nono-sandbox/nono/credentials"
	"github.com/nono-sandbox/nono/endpoints"
	"golang.org/x/net/websocket"
)

const secretA = "sk-real-secret-AAAA-1111"
const secretB = "sk-real-secret-BBBB-2222"

func TestReverseInjectsRealSecret(t *testing.T) {
	o := startTLSOrigin(t, nil)
	g := startCredGateway(t, []CredentialRoute{credRouteTo(t, "svc", o, "", secretA, credentials.CustomCredential{})}, nil)
	req, _ := http.NewRequest("GET", g.url("/svc/v1/models?limit=2&x=%2F"), nil)
	req.Header.Set("Authorization", bearerToken())
	req.Header.Set("X-Forwarded-For", "6.6.6.6")
	req.Header.Set("Forwarded", "for=6.6.6.6")
	req.Header.Set("X-Forwarded-Host", "evil.test")
	resp, err := reverseClient().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || string(body) != "ok /v1/models" {
		t.Fatalf("got %d %q", resp.StatusCode, body)
	}
	got := o.last(t)
	if v := got.header.Values("Authorization"); len(v) != 1 || v[0] != "Bearer "+secretA {
		t.Fatalf("upstream Authorization = %q, want the real secret once", v)
	}
	if got.rawQuery != "limit=2&x=%2F" || got.host != hostPort("example.com", o.port) {
		t.Fatalf("upstream query %q host %q", got.rawQuery, got.host)
	}
	for k, vs := range got.header {
		if strings.HasPrefix(k, "X-Forwarded") || k == "Forwarded" || strings.HasPrefix(k, "Proxy-") {
			t.Fatalf("upstream received %s: %q", k, vs)
		}
		for _, v := range vs {
			if strings.Contains(v, string(testToken)) {
				t.Fatalf("upstream received the phantom in %s", k)
			}
		}
	}
	if want := map[bool]int{false: 2, true: 1}[originHTTP1]; got.proto != want {
		t.Fatalf("upstream saw HTTP/%d, want HTTP/%d (h2 when the upstream offers it)", got.proto, want)
	}
	ev := g.audit.next(t, func(e Event) bool { return e.Mode == ModeReverse })
	if ev.Service != "svc" || ev.Path != "/v1/models" || ev.Status != 200 || ev.Decision != DecisionAllow || ev.Host != "example.com" || ev.Port != o.port {
		t.Fatalf("audit event %+v", ev)
	}
}

func TestReversePhantomRequired(t *testing.T) {
	o := startTLSOrigin(t, nil)
	g := startCredGateway(t, []CredentialRoute{
		credRouteTo(t, "svc", o, "", secretA, credentials.CustomCredential{}),
		credRouteTo(t, "anth", o, "", secretB, credentials.CustomCredential{InjectHeader: "x-api-key"}),
	}, nil)
	tok := string(testToken)
	cases := []struct {
		name, path string
		headers    []string
	}{
		{"missing", "/svc/x", nil},
		{"wrong", "/svc/x", []string{"Authorization: Bearer " + strings.Repeat("f", 64)}},
		{"prefix", "/svc/x", []string{"Authorization: Bearer " + tok[:63]}},
		{"longer", "/svc/x", []string{"Authorization: Bearer " + tok + "0"}},
		{"empty", "/svc/x", []string{"Authorization: Bearer "}},
		{"duplicate", "/svc/x", []string{"Authorization: Bearer " + tok, "Authorization: Bearer " + tok}},
		{"other header, wrong token", "/svc/x", []string{"X-Api-Key: " + tok[1:] + "0"}},
		{"two different auth headers", "/svc/x", []string{"X-Api-Key: " + tok, "Private-Token: " + tok}},
		{"proxy auth only", "/svc/x", []string{"Proxy-Authorization: " + basicAuth("nono", testToken)}},
		{"in query", "/svc/x?key=" + tok, nil},
		{"basic instead of bearer", "/svc/x", []string{"Authorization: Basic " + basicB64("nono:"+tok)}},
		{"x-api-key route with wrong Authorization", "/anth/x", []string{"Authorization: Bearer " + tok[:60]}},
		{"x-api-key twice", "/anth/x", []string{"X-Api-Key: " + tok, "x-api-key: " + tok}},
	}
	for _, c := range cases {
		raw := "GET " + c.path + " HTTP/1.1\r\nHost: 127.0.0.1\r\n"
		for _, h := range c.headers {
			raw += h + "\r\n"
		}
		resp, body := g.roundTrip(t, raw+"\r\n")
		if resp.StatusCode != 401 || body != `{"error":"nono: missing or invalid phantom token"}`+"\n" ||
			resp.Header.Get("Content-Type") != "application/json" || resp.Header.Get("X-Nono-Reason") != ReasonPhantom {
			t.Errorf("%s: %d %q %v", c.name, resp.StatusCode, body, resp.Header)
		}
	}
	if n := o.count(); n != 0 {
		t.Fatalf("the upstream was contacted %d times without a valid phantom", n)
	}
}

func TestReverseRoutesByPathAndNeverCrossesSecrets(t *testing.T) {
	oa := startTLSOrigin(t, nil)
	ob := startTLSOrigin(t, nil)
	g := startCredGateway(t, []CredentialRoute{
		credRouteTo(t, "a", oa, "", secretA, credentials.CustomCredential{}),
		credRouteTo(t, "b", ob, "", secretB, credentials.CustomCredential{InjectHeader: "x-api-key"}),
	}, nil)
	c := reverseClient()
	for i := 0; i < 3; i++ {
		for _, svc := range []string{"a", "b"} {
			req, _ := http.NewRequest("GET", g.url("/"+svc+"/v1/x"), nil)
			if svc == "a" {
				req.Header.Set("Authorization", bearerToken())
			} else {
				req.Header.Set("X-Api-Key", string(testToken))
			}
			resp, err := c.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 200 {
				t.Fatalf("%s: %d", svc, resp.StatusCode)
			}
		}
	}
	for _, r := range oa.all() {
		if r.header.Get("Authorization") != "Bearer "+secretA || fmt.Sprint(r.header) != strings.ReplaceAll(fmt.Sprint(r.header), secretB, "") {
			t.Fatalf("upstream a got %v", r.header)
		}
	}
	for _, r := range ob.all() {
		if r.header.Get("X-Api-Key") != secretB || strings.Contains(fmt.Sprint(r.header), secretA) || r.header.Get("Authorization") != "" {
			t.Fatalf("upstream b got %v", r.header)
		}
	}
	if oa.count() != 3 || ob.count() != 3 {
		t.Fatalf("counts a=%d b=%d", oa.count(), ob.count())
	}
}

func TestReverseStripsClientCredentialsAndHopByHopAbuse(t *testing.T) {
	o := startTLSOrigin(t, nil)
	g := startCredGateway(t, []CredentialRoute{
		credRouteTo(t, "anth", o, "", secretA, credentials.CustomCredential{InjectHeader: "x-api-key"}),
		credRouteTo(t, "oai", o, "", secretB, credentials.CustomCredential{}),
	}, nil)
	tok := string(testToken)
	resp, body := g.roundTrip(t, "GET /anth/v1/messages HTTP/1.1\r\nHost: 127.0.0.1\r\n"+
		"X-Api-Key: "+tok+"\r\nAuthorization: Bearer sk-stray-client-key\r\nPrivate-Token: stray\r\n"+
		"Connection: x-api-key, keep-alive\r\nProxy-Authorization: Basic Zm9vOmJhcg==\r\nProxy-Foo: x\r\n\r\n")
	if resp.StatusCode != 200 {
		t.Fatalf("%d %q", resp.StatusCode, body)
	}
	got := o.last(t).header
	if v := got.Values("X-Api-Key"); len(v) != 1 || v[0] != secretA {
		t.Fatalf("X-Api-Key at the upstream = %q (Connection: x-api-key must not remove the injected header)", v)
	}
	for _, h := range []string{"Authorization", "Private-Token", "Proxy-Authorization", "Proxy-Foo"} {
		if got.Get(h) != "" {
			t.Fatalf("upstream received client header %s=%q", h, got.Get(h))
		}
	}
	// The phantom in another well-known auth header is accepted (SDKs move
	// between headers), but only the route's header carries the secret.
	resp, body = g.roundTrip(t, "GET /anth/v1/messages HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer "+tok+"\r\n\r\n")
	got = o.last(t).header
	if resp.StatusCode != 200 || got.Get("X-Api-Key") != secretA || got.Get("Authorization") != "" {
		t.Fatalf("%d %q %v", resp.StatusCode, body, got)
	}
	resp, body = g.roundTrip(t, "GET /oai/v1/models HTTP/1.1\r\nHost: 127.0.0.1\r\n"+
		"Authorization: Bearer "+tok+"\r\nConnection: Authorization\r\nX-Api-Key: sk-stray\r\n\r\n")
	if resp.StatusCode != 200 {
		t.Fatalf("%d %q", resp.StatusCode, body)
	}
	got = o.last(t).header
	if v := got.Values("Authorization"); len(v) != 1 || v[0] != "Bearer "+secretB || got.Get("X-Api-Key") != "" {
		t.Fatalf("upstream headers %v", got)
	}
}

func TestReverseBasePathCannotBeEscaped(t *testing.T) {
	o := startTLSOrigin(t, nil)
	g := startCredGateway(t, []CredentialRoute{credRouteTo(t, "base", o, "/v1", secretA, credentials.CustomCredential{})}, nil)
	for _, p := range []string{
		"/base/../x", "/base/%2e%2e/x", "/base/%2E%2E/x", "/base/.%2e/x", "/base/v1/../../x",
		"/base/%2e%2e%2fx", "/base/..%2fx", "/base/%252e%252e/x", "/base/..", "/base/.", "/base/x/..",
		"/base/%c0%ae%c0%ae/x", "/base/\uff0e\uff0e/x", "/base/..\\x", "/base/%5c..%5cx",
	} {
		resp, body := g.roundTrip(t, "GET "+p+" HTTP/1.1\r\nHost: 127.0.0.1\r\n"+phantomHeader+"\r\n\r\n")
		if resp.StatusCode < 400 || resp.StatusCode >= 500 {
			t.Errorf("%s: %d %q", p, resp.StatusCode, body)
		}
	}
	if n := o.count(); n != 0 {
		t.Fatalf("escape attempts reached the upstream %d times: %v", n, o.all())
	}
	for p, want := range map[string]string{"/base/models": "/v1/models", "/base": "/v1/", "/base//a//b/": "/v1/a/b/", "/base/%7euser/%41": "/v1/~user/A"} {
		resp, body := g.roundTrip(t, "GET "+p+" HTTP/1.1\r\nHost: 127.0.0.1\r\n"+phantomHeader+"\r\n\r\n")
		if resp.StatusCode != 200 || o.last(t).path != want {
			t.Errorf("%s: %d %q upstream path %q, want %q", p, resp.StatusCode, body, o.last(t).path, want)
		}
	}
}

func TestReverseUnknownServiceIs404AndAudited(t *testing.T) {
	o := startTLSOrigin(t, nil)
	g := startCredGateway(t, []CredentialRoute{credRouteTo(t, "svc", o, "", secretA, credentials.CustomCredential{})}, nil)
	for _, p := range []string{"/nope/x", "/", "/SVC/x", "/svc%2fx", "/%73vc/x"} {
		resp, body := g.roundTrip(t, "GET "+p+" HTTP/1.1\r\nHost: 127.0.0.1\r\n"+phantomHeader+"\r\n\r\n")
		if resp.StatusCode != 404 || strings.Count(body, "\n") != 1 || resp.Header.Get("X-Nono-Reason") != ReasonNoRoute {
			t.Errorf("%s: %d %q", p, resp.StatusCode, body)
		}
		ev := g.audit.next(t, func(e Event) bool { return e.Mode == ModeReverse })
		if ev.Status != 404 || ev.Reason != ReasonNoRoute || ev.Decision != DecisionDeny {
			t.Errorf("%s: audit %+v", p, ev)
		}
	}
	if o.count() != 0 {
		t.Fatal("upstream contacted")
	}
}

func TestReverseTraceAndTrackRefused(t *testing.T) {
	o := startTLSOrigin(t, nil)
	g := startCredGateway(t, []CredentialRoute{credRouteTo(t, "svc", o, "", secretA, credentials.CustomCredential{})}, nil)
	for _, m := range []string{"TRACE", "TRACK", "trace"} {
		resp, body := g.roundTrip(t, m+" /svc/x HTTP/1.1\r\nHost: 127.0.0.1\r\n"+phantomHeader+"\r\n\r\n")
		if resp.StatusCode != 405 || strings.Contains(body, secretA) {
			t.Errorf("%s: %d %q", m, resp.StatusCode, body)
		}
	}
	if o.count() != 0 {
		t.Fatal("TRACE reached the upstream")
	}
}

// echoHeaders copies every request header into the response: in a 103
// informational head, in the final head and in trailers.
func echoHeaders(w http.ResponseWriter, r *http.Request) {
	for k, vs := range r.Header {
		w.Header()["Echo-"+k] = vs
	}
	w.Header().Set("Link", "</x>; rel=preload; auth="+r.Header.Get("Authorization"))
	w.WriteHeader(http.StatusEarlyHints)
	for k := range w.Header() {
		delete(w.Header(), k)
	}
	for k, vs := range r.Header {
		w.Header()["Echo-"+k] = vs
		w.Header()[http.TrailerPrefix+"Trailer-"+k] = vs
	}
	w.Header().Set("Location", "https://example.com/next?key="+r.URL.Query().Get("key"))
	w.Header().Set("X-Safe", "kept")
	w.WriteHeader(200)
	_, _ = io.WriteString(w, "body")
}

func TestReverseScrubsSecretEchoedInHeaders(t *testing.T) {
	o := startTLSOrigin(t, echoHeaders)
	g := startCredGateway(t, []CredentialRoute{
		credRouteTo(t, "hdr", o, "", secretA, credentials.CustomCredential{}),
		credRouteTo(t, "basic", o, "", "user:"+secretB, credentials.CustomCredential{InjectMode: credentials.InjectBasicAuth}),
		credRouteTo(t, "query", o, "", secretA+"/+&", credentials.CustomCredential{InjectMode: credentials.InjectQueryParam, QueryParamName: "key"}),
	}, nil)
	forms := []string{secretA, secretB, base64.StdEncoding.EncodeToString([]byte("user:" + secretB)), "sk-real-secret"}
	for _, c := range []struct{ path, auth string }{
		{"/hdr/echo", bearerToken()},
		{"/basic/echo", "Basic " + base64.StdEncoding.EncodeToString([]byte("nono:"+string(testToken)))},
		{"/query/echo?key=" + string(testToken), ""},
	} {
		var early []string
		trace := &httptrace.ClientTrace{Got1xxResponse: func(code int, h textproto.MIMEHeader) error {
			early = append(early, fmt.Sprint(h))
			return nil
		}}
		req, _ := http.NewRequest("GET", g.url(c.path), nil)
		req = req.WithContext(httptrace.WithClientTrace(req.Context(), trace))
		if c.auth != "" {
			req.Header.Set("Authorization", c.auth)
		}
		resp, err := reverseClient().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || string(body) != "body" || resp.Header.Get("X-Safe") != "kept" {
			t.Fatalf("%s: %d %q %v", c.path, resp.StatusCode, body, resp.Header)
		}
		if len(early) == 0 {
			t.Fatalf("%s: the 103 head was not relayed (the test would prove nothing)", c.path)
		}
		seen := fmt.Sprint(resp.Header, resp.Trailer, early)
		for _, f := range forms {
			if strings.Contains(seen, f) {
				t.Fatalf("%s: the response to the child holds a secret form %q: %s", c.path, f, seen)
			}
		}
		if !strings.Contains(seen, "Echo-User-Agent") {
			t.Fatalf("%s: harmless echoed headers were dropped too: %s", c.path, seen)
		}
	}
}

func TestEchoBodyEndpointBlockedByRule(t *testing.T) {
	// An upstream endpoint that echoes the request into the body: the
	// scrubber masks the secret (even when the child asks for gzip), and an
	// endpoint rule keeps the child off the endpoint altogether.
	o := startTLSOrigin(t, func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, "you sent: "+r.Header.Get("Authorization"))
	})
	open := credRouteTo(t, "open", o, "", secretA, credentials.CustomCredential{})
	ruled := credRouteTo(t, "ruled", o, "", secretB, credentials.CustomCredential{})
	ruled.Endpoints = mkRules(t, "GET /v1/models", "POST /v1/chat/completions")
	g := startCredGateway(t, []CredentialRoute{open, ruled}, nil)

	resp, body := g.roundTrip(t, "GET /open/debug/echo HTTP/1.1\r\nHost: x\r\nAccept-Encoding: gzip\r\n"+phantomHeader+"\r\n\r\n")
	if resp.StatusCode != 200 || strings.Contains(body, secretA) || !strings.Contains(body, "you sent: Bearer ****") {
		t.Fatalf("the echoed secret was not masked: %d %q", resp.StatusCode, body)
	}
	before := o.count()
	resp, body = g.roundTrip(t, "GET /ruled/debug/echo HTTP/1.1\r\nHost: x\r\n"+phantomHeader+"\r\n\r\n")
	if resp.StatusCode != 403 || strings.Contains(body, secretB) || !strings.Contains(body, "GET /debug/echo") ||
		resp.Header.Get("Content-Type") != "application/json" {
		t.Fatalf("rule did not block the echo endpoint: %d %q", resp.StatusCode, body)
	}
	if o.count() != before {
		t.Fatal("a denied request reached the upstream")
	}
}

func TestReverseStreamsSSEIncrementally(t *testing.T) {
	release := make(chan struct{})
	o := startTLSOrigin(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		_, _ = io.WriteString(w, "data: one\n\n")
		http.NewResponseController(w).Flush()
		<-release
		_, _ = io.WriteString(w, "data: two\n\n")
	})
	g := startCredGateway(t, []CredentialRoute{credRouteTo(t, "svc", o, "", secretA, credentials.CustomCredential{})}, nil)
	req, _ := http.NewRequest("POST", g.url("/svc/v1/stream"), strings.NewReader(`{"stream":true}`))
	req.Header.Set("Authorization", bearerToken())
	resp, err := reverseClient().Do(req)
	if err != nil {
		close(release)
		t.Fatal(err)
	}
	defer resp.Body.Close()
	br := bufio.NewReader(resp.Body)
	// If the gateway buffered, this read would block forever (the upstream
	// only sends the second event after we saw the first).
	line, err := br.ReadString('\n')
	close(release)
	if err != nil || line != "data: one\n" {
		t.Fatalf("first event: %q %v", line, err)
	}
	rest, _ := io.ReadAll(br)
	if string(rest) != "\ndata: two\n\n" {
		t.Fatalf("rest %q", rest)
	}
}

func TestReverseChunkedRequestBody(t *testing.T) {
	o := startTLSOrigin(t, func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		sum := sha256.Sum256(b)
		fmt.Fprintf(w, "%d %d %s", r.ContentLength, len(b), hex.EncodeToString(sum[:]))
	})
	g := startCredGateway(t, []CredentialRoute{credRouteTo(t, "svc", o, "", secretA, credentials.CustomCredential{})}, nil)
	pr, pw := io.Pipe()
	var want []byte
	chunks := [][]byte{[]byte("first chunk;"), []byte(strings.Repeat("x", 100000)), []byte("last")}
	for _, c := range chunks {
		want = append(want, c...)
	}
	go func() {
		for _, c := range chunks {
			pw.Write(c)
		}
		pw.Close()
	}()
	req, _ := http.NewRequest("POST", g.url("/svc/upload"), pr)
	req.Header.Set("Authorization", bearerToken())
	resp, err := reverseClient().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	sum := sha256.Sum256(want)
	if exp := fmt.Sprintf("-1 %d %s", len(want), hex.EncodeToString(sum[:])); string(body) != exp {
		t.Fatalf("upstream saw %q, want %q (streamed, unknown length)", body, exp)
	}
	// A raw chunked request with a smuggling-style trailer still arrives intact.
	resp2, body2 := g.roundTrip(t, "POST /svc/upload HTTP/1.1\r\nHost: x\r\n"+phantomHeader+"\r\nTransfer-Encoding: chunked\r\n\r\n"+
		"5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n")
	if resp2.StatusCode != 200 || !strings.HasPrefix(body2, "-1 11 ") {
		t.Fatalf("raw chunked: %d %q", resp2.StatusCode, body2)
	}
}

func TestReverseWebSocketEcho(t *testing.T) {
	ws := websocket.Server{Handler: func(c *websocket.Conn) { io.Copy(c, c) }}
	o := startTLSOrigin(t, func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer "+secretA {
			http.Error(w, "no credential", http.StatusForbidden)
			return
		}
		ws.ServeHTTP(w, r)
	})
	g := startCredGateway(t, []CredentialRoute{credRouteTo(t, "svc", o, "", secretA, credentials.CustomCredential{})}, nil)
	conn := g.dialWS(t, "/svc/v1/realtime")
	for _, msg := range []string{"hello", strings.Repeat("z", 70000)} {
		if err := websocket.Message.Send(conn, msg); err != nil {
			t.Fatal(err)
		}
		// The echo handler copies in chunks, so one message may come back
		// as several frames.
		var got string
		for len(got) < len(msg) {
			var part string
			if err := websocket.Message.Receive(conn, &part); err != nil {
				t.Fatal(err)
			}
			got += part
		}
		if got != msg {
			t.Fatalf("echo: %d bytes differ", len(got))
		}
	}
	if o.last(t).proto != 1 {
		t.Fatal("upgrade must use HTTP/1.1 to the upstream")
	}
	conn.Close()
	ev := g.audit.next(t, func(e Event) bool { return e.Mode == ModeReverse })
	if ev.Status != http.StatusSwitchingProtocols || ev.Decision != DecisionAllow {
		t.Fatalf("audit %+v", ev)
	}
	// Both messages went each way after the 101, outside the ResponseWriter.
	if ev.BytesUp < 70005 || ev.BytesDown < 70005 {
		t.Fatalf("audit counts %d bytes up and %d down after the upgrade, want ≥ 70005 each", ev.BytesUp, ev.BytesDown)
	}
}

func TestReverseHostPolicyStillApplies(t *testing.T) {
	o := startTLSOrigin(t, nil)
	cr := credRouteTo(t, "svc", o, "", secretA, credentials.CustomCredential{})
	g := startCredGateway(t, []CredentialRoute{cr}, func(pc *PolicyConfig, _ *Config) {
		pc.Deny = append(pc.Deny, "example.com")
	})
	for i := 0; i < 2; i++ { // the second answer comes from the route's cached precheck
		resp, body := g.roundTrip(t, "GET /svc/x HTTP/1.1\r\nHost: x\r\n"+phantomHeader+"\r\n\r\n")
		if resp.StatusCode != 403 || resp.Header.Get("X-Nono-Reason") != ReasonHostDenied {
			t.Fatalf("request %d: %d %q", i, resp.StatusCode, body)
		}
	}
	// Resolution to a forbidden address is caught when dialling.
	o2 := startTLSOrigin(t, nil)
	cr2 := credRouteTo(t, "meta", o2, "", secretA, credentials.CustomCredential{})
	cr2.Route = mkRoute(t, "meta", "https://api.example.com:"+fmt.Sprint(o2.port), credentials.CustomCredential{})
	g2 := startCredGateway(t, []CredentialRoute{cr2}, func(pc *PolicyConfig, _ *Config) {
		pc.Resolver.(*fakeResolver).addrs["api.example.com"] = []netip.Addr{netip.MustParseAddr("169.254.169.254")}
	})
	resp, body := g2.roundTrip(t, "GET /meta/x HTTP/1.1\r\nHost: x\r\n"+phantomHeader+"\r\n\r\n")
	if resp.StatusCode != 403 || resp.Header.Get("X-Nono-Reason") != ReasonMetadata || strings.Contains(body, secretA) {
		t.Fatalf("%d %q", resp.StatusCode, body)
	}
	if o.count()+o2.count() != 0 {
		t.Fatal("denied upstream contacted")
	}
}

func TestReverseThroughUpstreamProxy(t *testing.T) {
	up := startUpstream(t, 0)
	o := startTLSOrigin(t, nil)
	g := startCredGateway(t, []CredentialRoute{credRouteTo(t, "svc", o, "", secretA, credentials.CustomCredential{})}, func(_ *PolicyConfig, c *Config) {
		c.Upstream = &Upstream{Host: "127.0.0.1", Port: up.port, User: "alice", Password: []byte("pw")}
	})
	resp, body := g.roundTrip(t, "GET /svc/v1/x HTTP/1.1\r\nHost: x\r\n"+phantomHeader+"\r\n\r\n")
	if resp.StatusCode != 200 || o.last(t).header.Get("Authorization") != "Bearer "+secretA {
		t.Fatalf("%d %q", resp.StatusCode, body)
	}
	reqs := up.requests()
	if len(reqs) != 1 || reqs[0] != "CONNECT "+hostPort("example.com", o.port)+" "+basicAuth("alice", []byte("pw")) {
		t.Fatalf("upstream proxy saw %q", reqs)
	}
	ev := g.audit.next(t, func(e Event) bool { return e.Mode == ModeReverse })
	if ev.Upstream != up2addr(up) {
		t.Fatalf("audit upstream %q", ev.Upstream)
	}
}

func up2addr(up *fakeUpstream) string { return hostPort("127.0.0.1", up.port) }

func TestAuditNeverHoldsTokenOrSecret(t *testing.T) {
	o := startTLSOrigin(t, func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "fine") })
	tok := string(testToken)
	path := credRouteTo(t, "bot", o, "", secretB, credentials.CustomCredential{InjectMode: credentials.InjectURLPath, PathPattern: "/bot{}/"})
	ruled := credRouteTo(t, "ruled", o, "", secretA, credentials.CustomCredential{})
	ruled.Endpoints = mkRules(t, "GET /ok")
	g := startCredGateway(t, []CredentialRoute{credRouteTo(t, "svc", o, "", secretA, credentials.CustomCredential{}), path, ruled}, nil)
	reqs := []string{
		"GET /svc/ok HTTP/1.1\r\nHost: x\r\n" + phantomHeader + "\r\n\r\n",
		"GET /svc/ok HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + secretA + "\r\n\r\n",
		"GET /bot/bot" + tok + "/sendMessage?x=" + tok + " HTTP/1.1\r\nHost: x\r\n\r\n",
		"GET /bot/botWRONG/sendMessage HTTP/1.1\r\nHost: x\r\n\r\n",
		"GET /ruled/" + tok + " HTTP/1.1\r\nHost: x\r\n" + phantomHeader + "\r\n\r\n",
		"GET /ruled/%2e%2e/" + tok + " HTTP/1.1\r\nHost: x\r\n" + phantomHeader + "\r\n\r\n",
		"GET /nope/" + tok + " HTTP/1.1\r\nHost: x\r\n" + phantomHeader + "\r\n\r\n",
		"TRACE /svc/" + tok + " HTTP/1.1\r\nHost: x\r\n" + phantomHeader + "\r\n\r\n",
	}
	wantStatus := []int{200, 401, 200, 401, 403, 400, 404, 405}
	for i, raw := range reqs {
		resp, body := g.roundTrip(t, raw)
		if resp.StatusCode != wantStatus[i] {
			t.Fatalf("request %d: %d %q", i, resp.StatusCode, body)
		}
		if strings.Contains(body, secretA) || strings.Contains(body, secretB) {
			t.Fatalf("request %d: response body holds a secret: %q", i, body)
		}
		g.audit.next(t, func(e Event) bool { return e.Mode == ModeReverse })
	}
	if got := o.last(t); !strings.HasPrefix(got.path, "/bot"+secretB+"/") {
		t.Fatalf("url_path route forwarded %q", got.path)
	}
	evs := g.audit.all()
	if len(evs) != len(reqs) {
		t.Fatalf("%d events for %d requests", len(evs), len(reqs))
	}
	for _, e := range evs {
		s := fmt.Sprintf("%+v %#v", e, e)
		for _, bad := range []string{tok, secretA, secretB} {
			if strings.Contains(s, bad) {
				t.Fatalf("audit event holds a token or secret: %s", s)
			}
		}
	}
	if evs[2].Path != "/bot[phantom]/sendMessage" {
		t.Fatalf("url_path event path %q", evs[2].Path)
	}
}

// handleReverse joins the canonical base and path itself instead of
// calling endpoints.BaseJoin; the result must be the same.
func TestReverseJoinMatchesBaseJoin(t *testing.T) {
	bases := []string{"", "/", "/v1", "/v1/", "/a/b%2Fc", "/caf%C3%A9/x"}
	paths := []string{"", "/", "/v1/models", "//a///b/", "/a%2fb", "/%7Euser/x%20y", "/a/./b", "/a/../b", "/x;y", "/caf\xc3\xa9"}
	for _, b := range bases {
		canon, err := endpoints.BaseJoin(b, "/")
		if err != nil {
			t.Fatal(err)
		}
		base := strings.TrimSuffix(canon, "/") // as newCredRoute stores it
		for _, p := range paths {
			for _, strict := range []bool{false, true} {
				np, err := normalizeFor(p, strict)
				if err != nil {
					continue
				}
				want, err := endpoints.BaseJoin(base, np)
				if err != nil || want != base+np {
					t.Errorf("base %q path %q strict %v: BaseJoin %q, %v; joined %q", b, p, strict, want, err, base+np)
				}
			}
		}
	}
}
