package proxy

import (
	"bufio"
	"context"
	"encoding/base64"
	"errors"
	"io"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"
)

var testToken = []byte(strings.Repeat("0123456789abcdef", 4))

func basicAuth(user string, tok []byte) string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+string(tok)))
}

// fakeResolver answers from a map and counts every lookup by name.
type fakeResolver struct {
	mu    sync.Mutex
	addrs map[string][]netip.Addr
	calls map[string]int
}

func newFakeResolver(m map[string]string) *fakeResolver {
	r := &fakeResolver{addrs: map[string][]netip.Addr{}, calls: map[string]int{}}
	for name, list := range m {
		for _, a := range strings.Split(list, ",") {
			r.addrs[name] = append(r.addrs[name], netip.MustParseAddr(a))
		}
	}
	return r
}

func (r *fakeResolver) LookupNetIP(_ context.Context, network, host string) ([]netip.Addr, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.calls[host]++
	if a, ok := r.addrs[host]; ok {
		return a, nil
	}
	return nil, &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
}

func (r *fakeResolver) total() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, c := range r.calls {
		n += c
	}
	return n
}

func (r *fakeResolver) count(host string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.calls[host]
}

// memSink collects audit events.
type memSink struct {
	mu     sync.Mutex
	events []Event
	ch     chan Event
}

func newMemSink() *memSink { return &memSink{ch: make(chan Event, 1024)} }

func (m *memSink) Record(e Event) {
	m.mu.Lock()
	m.events = append(m.events, e)
	m.mu.Unlock()
	select {
	case m.ch <- e:
	default:
	}
}

func (m *memSink) all() []Event {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]Event(nil), m.events...)
}

// next waits for the next event matching pred.
func (m *memSink) next(t *testing.T, pred func(Event) bool) Event {
	t.Helper()
	timeout := time.After(10 * time.Second)
	for {
		select {
		case e := <-m.ch:
			if pred(e) {
				return e
			}
		case <-timeout:
			t.Fatal("no matching audit event")
		}
	}
}

type testGW struct {
	*Server
	res   *fakeResolver
	audit *memSink
}

// startGateway starts a Server on an ephemeral loopback port. The policy
// allows "allowed.test" (→ 127.0.0.1, exact, so loopback is fine) and
// "*.wild.test"; it denies "secret.corp.test", "bücher.corp.test" and
// the 127.0.0.1 literal is not listed.
func startGateway(t testing.TB, mutate func(*PolicyConfig, *Config)) *testGW {
	t.Helper()
	res := newFakeResolver(map[string]string{
		"allowed.test":        "127.0.0.1",
		"other.allowed2.test": "127.0.0.1",
		"a.wild.test":         "127.0.0.1",
		"b.wild.test":         "169.254.169.254",
		"c.wild.test":         "93.184.216.34,fe80::1",
		"d.wild.test":         "10.1.2.3",
		"e.wild.test":         "::ffff:169.254.169.254",
		"f.wild.test":         "64:ff9b::a9fe:a9fe",
		"g.wild.test":         "100.100.100.200",
		"h.wild.test":         "fd00:ec2::254",
		"ip6.allowed.test":    "::1",
	})
	pc := PolicyConfig{
		Allow:    []string{"allowed.test", "ip6.allowed.test", "*.wild.test", "*.corp.test", "localhost", "allowed2.test"},
		Deny:     []string{"secret.corp.test", "bücher.corp.test"},
		Resolver: res,
	}
	sink := newMemSink()
	cfg := Config{Token: testToken, Audit: sink, HeaderTimeout: 5 * time.Second}
	if mutate != nil {
		mutate(&pc, &cfg)
	}
	pol, err := NewHostPolicy(pc)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Policy = pol
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = s.Shutdown(ctx)
	})
	return &testGW{Server: s, res: res, audit: sink}
}

// dial opens a raw client connection to the gateway.
func (g *testGW) dial(t testing.TB) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", g.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	_ = c.SetDeadline(time.Now().Add(20 * time.Second))
	return c
}

// roundTrip writes raw bytes and reads one response.
func (g *testGW) roundTrip(t testing.TB, raw string) (*http.Response, string) {
	t.Helper()
	c := g.dial(t)
	return sendRaw(t, c, bufio.NewReader(c), raw)
}

func sendRaw(t testing.TB, c net.Conn, br *bufio.Reader, raw string) (*http.Response, string) {
	t.Helper()
	if _, err := io.WriteString(c, raw); err != nil {
		t.Fatal(err)
	}
	method := strings.SplitN(raw, " ", 2)[0]
	resp, err := http.ReadResponse(br, &http.Request{Method: method})
	if err != nil {
		t.Fatalf("reading response to %q: %v", firstLine(raw), err)
	}
	var body []byte
	if !(method == http.MethodConnect && resp.StatusCode == 200) {
		body, _ = io.ReadAll(resp.Body)
		resp.Body.Close()
	}
	return resp, string(body)
}

func firstLine(s string) string {
	if i := strings.Index(s, "\r\n"); i >= 0 {
		return s[:i]
	}
	return s
}

func connectReq(target string, auth bool) string {
	s := "CONNECT " + target + " HTTP/1.1\r\nHost: " + target + "\r\n"
	if auth {
		s += "Proxy-Authorization: " + basicAuth("nono", testToken) + "\r\n"
	}
	return s + "\r\n"
}

func getReq(url string, auth bool, extra ...string) string {
	host := strings.TrimPrefix(url, "http://")
	if i := strings.IndexByte(host, '/'); i >= 0 {
		host = host[:i]
	}
	s := "GET " + url + " HTTP/1.1\r\nHost: " + host + "\r\n"
	if auth {
		s += "Proxy-Authorization: " + basicAuth("nono", testToken) + "\r\n"
	}
	for _, h := range extra {
		s += h + "\r\n"
	}
	return s + "\r\n"
}

// startOrigin runs a plain HTTP origin on 127.0.0.1 and returns its port.
func startOrigin(t testing.TB, h http.Handler) uint16 {
	t.Helper()
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { srv.Close() })
	return ln.Addr().(*net.TCPAddr).AddrPort().Port()
}

func isClosed(err error) bool {
	return errors.Is(err, io.EOF) || errors.Is(err, net.ErrClosed) || strings.Contains(err.Error(), "reset by peer")
}
