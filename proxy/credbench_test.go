package proxy

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nono-sandbox/nono/certs"
	"github.com/nono-sandbox/nono/credentials"
	"github.com/nono-sandbox/nono/endpoints"
)

// benchSecret has the length of a real API key (Anthropic keys are 108
// characters, OpenAI project keys longer): the response scrubber and the
// header checks do work per byte of each wire form of the secret.
var benchSecret = "sk-ant-api03-" + strings.Repeat("AbCd3fGh1jK-", 7) + "xYz_0123456"

// benchOrigin is a TLS upstream (h2) that answers a small JSON body and
// checks the injected key, without recording requests.
func benchOrigin(b *testing.B) (port uint16, pool *x509.CertPool) {
	want := "Bearer " + benchSecret
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if a := r.Header.Get("Authorization"); a != want && a != "" {
			http.Error(w, "bad key", http.StatusForbidden)
			return
		}
		io.WriteString(w, `{"object":"list","data":[]}`)
	}))
	srv.EnableHTTP2 = true
	srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	srv.StartTLS()
	b.Cleanup(srv.Close)
	pool = x509.NewCertPool()
	pool.AddCert(srv.Certificate())
	return srv.Listener.Addr().(*net.TCPAddr).AddrPort().Port(), pool
}

// benchParallel runs 64 concurrent keep-alive clients and reports, beside
// ns/op, requests per second, the p50/p99 latency of single requests and
// the process CPU time per request (client, gateway and upstream together;
// on a shared machine it is steadier than req/s).
func benchParallel(b *testing.B, client *http.Client, newReq func() *http.Request) {
	b.ReportAllocs()
	b.SetParallelism(max(1, 64/runtime.GOMAXPROCS(0))) // 64 client goroutines
	var mu sync.Mutex
	var lat []time.Duration
	b.ResetTimer()
	start, cpu0 := time.Now(), processCPU()
	b.RunParallel(func(pb *testing.PB) {
		var mine []time.Duration
		defer func() { mu.Lock(); lat = append(lat, mine...); mu.Unlock() }()
		for pb.Next() {
			t := time.Now()
			resp, err := client.Do(newReq())
			if err != nil {
				b.Error(err)
				return
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			mine = append(mine, time.Since(t))
			if resp.StatusCode != 200 {
				b.Errorf("status %d", resp.StatusCode)
				return
			}
		}
	})
	elapsed, cpu := time.Since(start), processCPU()-cpu0
	b.StopTimer()
	if len(lat) == 0 {
		return
	}
	slices.Sort(lat)
	b.ReportMetric(float64(len(lat))/elapsed.Seconds(), "req/s")
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds()), "p50-µs")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds()), "p99-µs")
	if cpu > 0 {
		b.ReportMetric(float64(cpu.Microseconds())/float64(len(lat)), "cpu-µs/req")
	}
}

// benchSink is bounded like the session's sink (session/gateway.go): it
// keeps the first events and counts the rest, so a long run does not turn
// into a growing slice for the garbage collector to scan.
type benchSink struct {
	mu     sync.Mutex
	events []Event
	n      int
}

func (s *benchSink) Record(e Event) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.n++
	if len(s.events) < 4096 {
		s.events = append(s.events, e)
	}
}

// benchReverse runs the reverse path with injection through client, which
// talks to the gateway at base (http://127.0.0.1:port).
func benchReverse(b *testing.B, newClient func(g *credGW) *http.Client) {
	port, pool := benchOrigin(b)
	cr := CredentialRoute{
		Route:   mkRoute(b, "svc", "https://example.com:"+strconv.Itoa(int(port)), credentials.CustomCredential{}),
		Secret:  mkSecret(b, benchSecret),
		RootCAs: pool,
	}
	sink := &benchSink{}
	g := startCredGateway(b, []CredentialRoute{cr}, func(_ *PolicyConfig, c *Config) { c.Audit = sink })
	client := newClient(g)
	target := g.url("/svc/v1/models")
	benchParallel(b, client, func() *http.Request {
		req, _ := http.NewRequest("GET", target, nil)
		req.Header.Set("Authorization", bearerToken())
		return req
	})
	sink.mu.Lock()
	defer sink.mu.Unlock()
	if sink.n == 0 || sink.events[0].Decision != DecisionAllow {
		b.Errorf("audit: %d events, first %+v", sink.n, sink.events)
	}
}

// BenchmarkReverseInject: 64 concurrent keep-alive HTTP/1.1 clients (as the
// Node SDKs are) through the reverse path (phantom check, injection,
// pooled upstream).
func BenchmarkReverseInject(b *testing.B) {
	benchReverse(b, func(*credGW) *http.Client {
		return &http.Client{Transport: &http.Transport{Proxy: nil, MaxIdleConnsPerHost: 64, MaxConnsPerHost: 64}}
	})
}

// BenchmarkBareForwarder is a reference, not a product path: the same
// HTTP/1.1 clients through a bare net/http forwarder (http.Server, one
// fixed header, http.Transport with h2 to the upstream) with none of the
// gateway's checks: no phantom, rules, policy, scrubbing or audit. It is
// the floor for any gateway built on net/http on this machine, so it
// separates the cost of the extra hop from the cost of nono's checks.
func BenchmarkBareForwarder(b *testing.B) {
	port, pool := benchOrigin(b)
	tr := &http.Transport{
		TLSClientConfig:     &tls.Config{RootCAs: pool, ServerName: "example.com"},
		ForceAttemptHTTP2:   true,
		MaxIdleConnsPerHost: 64,
		DisableCompression:  true,
	}
	b.Cleanup(tr.CloseIdleConnections)
	up := "https://127.0.0.1:" + strconv.Itoa(int(port))
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		out, _ := http.NewRequestWithContext(r.Context(), r.Method, up+r.URL.Path, nil)
		out.Header.Set("Authorization", "Bearer "+benchSecret)
		resp, err := tr.RoundTrip(out)
		if err != nil {
			w.WriteHeader(http.StatusBadGateway)
			return
		}
		defer resp.Body.Close()
		for k, v := range resp.Header {
			w.Header()[k] = v
		}
		w.WriteHeader(resp.StatusCode)
		io.Copy(w, resp.Body)
	}))
	b.Cleanup(srv.Close)
	client := &http.Client{Transport: &http.Transport{Proxy: nil, MaxIdleConnsPerHost: 64, MaxConnsPerHost: 64}}
	target := srv.URL + "/v1/models"
	benchParallel(b, client, func() *http.Request {
		req, _ := http.NewRequest("GET", target, nil)
		req.Header.Set("Authorization", bearerToken())
		return req
	})
}

// BenchmarkDirectTLS is the baseline: the same clients straight to the
// upstream over TLS (h2, 64 streams on one connection), as if no gateway
// existed.
func BenchmarkDirectTLS(b *testing.B) {
	benchDirect(b, true)
}

// BenchmarkDirectTLSHTTP1 is the second baseline: the same clients
// straight to the upstream over TLS with HTTP/1.1 and keep-alive (64
// connections), as the Node SDKs would talk to the API without nono.
func BenchmarkDirectTLSHTTP1(b *testing.B) {
	benchDirect(b, false)
}

func benchDirect(b *testing.B, h2 bool) {
	port, pool := benchOrigin(b)
	tr := &http.Transport{
		Proxy:               nil,
		TLSClientConfig:     &tls.Config{RootCAs: pool, ServerName: "example.com"},
		ForceAttemptHTTP2:   h2,
		MaxIdleConnsPerHost: 64,
	}
	if !h2 {
		tr.MaxConnsPerHost = 64
		tr.TLSClientConfig.NextProtos = []string{"http/1.1"}
	}
	client := &http.Client{Transport: tr}
	target := "https://127.0.0.1:" + strconv.Itoa(int(port)) + "/v1/models"
	benchParallel(b, client, func() *http.Request {
		req, _ := http.NewRequest("GET", target, nil)
		req.Header.Set("Authorization", "Bearer "+benchSecret)
		return req
	})
}

// BenchmarkInterceptFirstRequest: each iteration is a new host, so a new
// CONNECT, a freshly minted leaf, the inner TLS handshake and a new
// upstream connection.
func BenchmarkInterceptFirstRequest(b *testing.B) {
	port, pool := benchOrigin(b)
	hosts := make([]string, b.N)
	for i := range hosts {
		hosts[i] = fmt.Sprintf("h%d.example.com", i)
	}
	rules := map[string]*endpoints.Set{}
	all := mkRules(b, "* /**")
	for _, h := range hosts {
		rules[h] = all
	}
	ca, err := certs.NewSessionCA([]string{"*.example.com"}, time.Now())
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(ca.Close)
	g := startGateway(b, func(pc *PolicyConfig, c *Config) {
		fr := pc.Resolver.(*fakeResolver)
		for _, h := range hosts {
			fr.addrs[h] = []netip.Addr{netip.MustParseAddr("127.0.0.1")}
		}
		pc.Implicit = hosts
		c.CA = ca
		c.EndpointRules = rules
		c.InterceptRootCAs = pool
	})
	caPool := x509.NewCertPool()
	caPool.AddCert(ca.Certificate())
	pu := &url.URL{Scheme: "http", User: url.UserPassword("nono", string(testToken)), Host: g.Addr().String()}
	tr := &http.Transport{Proxy: http.ProxyURL(pu), TLSClientConfig: &tls.Config{RootCAs: caPool}, ForceAttemptHTTP2: true}
	client := &http.Client{Transport: tr}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		resp, err := client.Get("https://" + hosts[i] + ":" + strconv.Itoa(int(port)) + "/v1/models")
		if err != nil {
			b.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			b.Fatalf("status %d", resp.StatusCode)
		}
	}
	b.StopTimer()
	tr.CloseIdleConnections()
}
