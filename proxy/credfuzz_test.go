package proxy

import (
	"bufio"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/nono-sandbox/nono/credentials"
)

// FuzzReversePath sends arbitrary request targets through the reverse
// handler. Whatever the path, the upstream must only ever see paths under
// the route's base path /v1 with no dot segment in any decoding, the
// rules-restricted route only paths its rules allow, and nothing panics.
func FuzzReversePath(f *testing.F) {
	for _, s := range []string{
		"/x", "/../x", "/%2e%2e/x", "/..%2fx", "/%252e%252e/", "//x", "/./x", "/x;y", "/x\\y", "/%5c",
		"/ok/a", "/ok/../admin", "/ok%2f..%2fadmin", "/%c0%ae%c0%ae", "/\uff0e\uff0e/x", "?x=/../", "/x?y=%2e%2e",
		"/%", "/%zz", "/a/b/c/../../../..", "", "/ok", "/ok/", "/OK/a", "/%6fk/a",
	} {
		f.Add(s)
	}
	var mu sync.Mutex
	var bad []string
	o := startTLSOrigin(f, func(w http.ResponseWriter, r *http.Request) {
		p := r.URL.EscapedPath()
		ok := p == "/v1" || strings.HasPrefix(p, "/v1/")
		dec, err := url.PathUnescape(p)
		for _, seg := range strings.Split(dec, "/") {
			if seg == "." || seg == ".." {
				ok = false
			}
		}
		if r.Header.Get("Authorization") == "Bearer "+secretB && !(p == "/v1/ok" || strings.HasPrefix(p, "/v1/ok/")) {
			ok = false
		}
		if err != nil || !ok {
			mu.Lock()
			bad = append(bad, r.RequestURI)
			mu.Unlock()
		}
	})
	ruled := credRouteTo(f, "r", o, "/v1", secretB, credentials.CustomCredential{})
	ruled.Endpoints = mkRules(f, "* /ok/**")
	g := startCredGateway(f, []CredentialRoute{credRouteTo(f, "f", o, "/v1", secretA, credentials.CustomCredential{}), ruled}, nil)

	f.Fuzz(func(t *testing.T, path string) {
		for _, svc := range []string{"/f", "/r"} {
			raw := "GET " + svc + path + " HTTP/1.1\r\nHost: x\r\n" + phantomHeader + "\r\n\r\n"
			req, err := http.ReadRequest(bufio.NewReader(strings.NewReader(raw)))
			if err != nil {
				return // net/http refuses it before any handler runs
			}
			rec := httptest.NewRecorder()
			g.Server.ServeHTTP(rec, req)
			if rec.Code == http.StatusOK && o.count() == 0 {
				t.Fatalf("%q: 200 without reaching the upstream", path)
			}
			mu.Lock()
			b := append([]string(nil), bad...)
			mu.Unlock()
			if len(b) > 0 {
				t.Fatalf("%q reached the upstream outside its base or rules: %q", path, b)
			}
		}
	})
}
