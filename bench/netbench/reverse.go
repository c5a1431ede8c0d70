package main

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/net/dns/dnsmessage"
)

// The reverse benchmark measures the credential gateway the way an SDK
// uses it: many concurrent keep-alive HTTP/1.1 requests to a base URL on
// loopback, with the real key injected on the way to a TLS upstream. Every
// setup is its own process, so (unlike proxy.BenchmarkReverseInject) the
// client, the gateway and the upstream are scheduled as they are in use.
//
//	netbench reverse [flags]    orchestrate every setup and print a table
//	netbench rclient [flags]    one measurement, JSON on stdout
//	netbench rproxy [flags]     a bare httputil.ReverseProxy (the Go floor)
//	netbench rlean [flags]      the leanest Go HTTP/1.1 pipeline (a reference)

// reverseKey stands in for a real API key (the length of an Anthropic key).
const reverseKey = "sk-ant-api03-" + "AbCd3fGh1jK-AbCd3fGh1jK-AbCd3fGh1jK-AbCd3fGh1jK-AbCd3fGh1jK-AbCd3fGh1jK-AbCd3fGh1jK-" + "xYz_0123456"

// RevResult is what rclient prints.
type RevResult struct {
	Requests int     `json:"requests"`
	Seconds  float64 `json:"seconds"`
	RPS      float64 `json:"rps"`
	P50us    int64   `json:"p50_us"`
	P99us    int64   `json:"p99_us"`
	Error    string  `json:"error,omitempty"`
}

// revTarget is how a setup is reached: the URL to GET and the
// Authorization header the client sends.
type revTarget struct {
	url, auth string
	stop      func()
}

type revSetup struct {
	name, what string
	start      func(e *env) (*revTarget, error)
}

func revSetups() []revSetup {
	return []revSetup{
		{"direct", "the client straight to the TLS upstream with the real key", func(e *env) (*revTarget, error) {
			return &revTarget{url: "https://" + e.origin.httpsAddr + "/v1/models", auth: "Bearer " + reverseKey, stop: func() {}}, nil
		}},
		{"go-reverse", "a bare httputil.ReverseProxy in its own process that sets the key (no phantom check, no policy): the floor for a Go gateway", startGoReverse},
		{"go-lean", "the leanest Go HTTP/1.1 reverse proxy: one goroutine per client connection, net/http's parsers without its server and transport (a measurement, not a product path)", startGoLean},
		{"go-lean-transport", "go-lean's server loop with net/http's client transport for the upstream leg (a measurement)", startGoLeanTransport},
		{"nginx", "nginx 1.22 reverse proxy (worker_processes auto, upstream keep-alive pool of 64, access log off) that sets the key", startNginxReverse},
		{"nono", "the reverse path of a `nono run --credential` session, used from outside (phantom check, injection, endpoint and response checks)", startNonoReverse},
	}
}

func reverseMain(args []string) error {
	fs := flag.NewFlagSet("reverse", flag.ContinueOnError)
	nono := fs.String("nono", "", "nono binary (default: bin/nono, then $PATH)")
	n := fs.Int("n", 20000, "measured requests per setup and round")
	c := fs.Int("c", 64, "concurrent keep-alive clients")
	rounds := fs.Int("rounds", 3, "rounds over all setups (medians are reported)")
	only := fs.String("setups", "direct,go-reverse,go-lean,nginx,nono", "setups to run, in order")
	out := fs.String("out", "bench/out", "directory for reverse.json and reverse.md")
	h2 := fs.Bool("h2", false, "let the upstream offer HTTP/2, as real APIs do (clients still speak HTTP/1.1; nono's transport then takes h2 upstream)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *rounds < 1 || *rounds > 10 || *n < 100 || *n > 1_000_000 || *c < 1 || *c > 1024 {
		return errors.New("out of range: -rounds 1..10, -n 100..1e6, -c 1..1024")
	}
	e := &env{nono: findNono(*nono), originH2: *h2}
	cleanup, err := e.prepare("nono-revbench-")
	if err != nil {
		return err
	}
	defer cleanup()
	byName := map[string]revSetup{}
	for _, s := range revSetups() {
		byName[s.name] = s
	}
	order := strings.Split(*only, ",")
	for _, name := range order {
		if _, ok := byName[name]; !ok {
			return fmt.Errorf("unknown setup %q", name)
		}
	}
	results := map[string][]RevResult{}
	for round := 1; round <= *rounds; round++ {
		for _, name := range order {
			r := runRevSetup(e, byName[name], *n, *c)
			results[name] = append(results[name], r)
			if r.Error != "" {
				fmt.Fprintf(os.Stderr, "round %d %-10s error: %s\n", round, name, r.Error)
				continue
			}
			fmt.Fprintf(os.Stderr, "round %d %-10s %.0f req/s, p50 %d µs, p99 %d µs\n", round, name, r.RPS, r.P50us, r.P99us)
		}
	}
	if err := os.MkdirAll(*out, 0o755); err != nil {
		return err
	}
	js, _ := json.MarshalIndent(map[string]any{"date": time.Now().UTC().Format(time.RFC3339), "host": hostInfo(),
		"requests": *n, "concurrency": *c, "rounds": results, "order": order}, "", "  ")
	if err := os.WriteFile(filepath.Join(*out, "reverse.json"), js, 0o644); err != nil {
		return err
	}
	md := revReport(order, byName, results, *n, *c, *h2)
	fmt.Print(md)
	return os.WriteFile(filepath.Join(*out, "reverse.md"), []byte(md), 0o644)
}

func runRevSetup(e *env, s revSetup, n, c int) RevResult {
	t, err := s.start(e)
	if err != nil {
		return RevResult{Error: err.Error()}
	}
	defer t.stop()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, e.bin, "rclient", "-url", t.url, "-ca", e.origin.caFile, "-n", fmt.Sprint(n), "-c", fmt.Sprint(c))
	cmd.Env = append(os.Environ(), "NETBENCH_AUTH="+t.auth)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	outb, err := cmd.Output()
	var r RevResult
	if jerr := json.Unmarshal(lastLine(outb), &r); jerr != nil {
		return RevResult{Error: fmt.Sprintf("no result (%v): %s", err, tail(stderr.String(), 6))}
	}
	return r
}

func revReport(order []string, byName map[string]revSetup, res map[string][]RevResult, n, c int, h2 bool) string {
	var b strings.Builder
	up := "an HTTP/1.1-only upstream"
	if h2 {
		up = "an upstream that offers HTTP/2 (only Go transports take it)"
	}
	fmt.Fprintf(&b, "\nnetbench reverse %s: %d requests per round, %d concurrent keep-alive HTTP/1.1 clients, %s, median of %d rounds; %s\n\n",
		time.Now().UTC().Format(time.RFC3339), n, c, up, len(res[order[0]]), hostInfo())
	b.WriteString("| setup | req/s | × direct | p50 µs | × direct | p99 µs |\n|---|---|---|---|---|---|\n")
	med := func(name string, f func(RevResult) float64) float64 {
		var v []float64
		for _, r := range res[name] {
			if r.Error == "" {
				v = append(v, f(r))
			}
		}
		if len(v) == 0 {
			return 0
		}
		slices.Sort(v)
		return v[len(v)/2]
	}
	// Ratios are medians of same-round ratios, as in the CONNECT table.
	ratio := func(name string, f func(RevResult) float64) float64 {
		var v []float64
		for i, r := range res[name] {
			if i < len(res["direct"]) && r.Error == "" && res["direct"][i].Error == "" && f(res["direct"][i]) > 0 {
				v = append(v, f(r)/f(res["direct"][i]))
			}
		}
		if len(v) == 0 {
			return 0
		}
		slices.Sort(v)
		return v[len(v)/2]
	}
	rps := func(r RevResult) float64 { return r.RPS }
	p50 := func(r RevResult) float64 { return float64(r.P50us) }
	p99 := func(r RevResult) float64 { return float64(r.P99us) }
	for _, name := range order {
		if med(name, rps) == 0 {
			fmt.Fprintf(&b, "| %s | failed | | | | |\n", name)
			continue
		}
		fmt.Fprintf(&b, "| %s | %.0f | %.2f× | %.0f | %.2f× | %.0f |\n", name, med(name, rps), ratio(name, rps), med(name, p50), ratio(name, p50), med(name, p99))
	}
	b.WriteString("\n")
	for _, name := range order {
		fmt.Fprintf(&b, "- %s: %s\n", name, byName[name].what)
	}
	if r := ratio("nono", rps); r > 0 {
		fmt.Fprintf(&b, "\n- nono throughput ≥ 0.7× direct: %.2f× → %s\n", r, verdictWord(r >= 0.7))
		p := ratio("nono", p50)
		fmt.Fprintf(&b, "- nono p50 ≤ 1.3× direct: %.2f× → %s\n", p, verdictWord(p <= 1.3))
	}
	for _, ref := range []string{"nginx", "go-lean", "go-reverse"} {
		if r := ratio(ref, rps); r > 0 {
			fmt.Fprintf(&b, "- %s (reference) throughput: %.2f× direct, p50 %.2f× direct\n", ref, r, ratio(ref, p50))
		}
	}
	return b.String()
}

func verdictWord(ok bool) string {
	if ok {
		return "met"
	}
	return "MISSED"
}

// rclientMain runs c keep-alive clients until n requests (after a warm-up
// of one request per client) and prints one RevResult.
func rclientMain(args []string) error {
	fs := flag.NewFlagSet("rclient", flag.ContinueOnError)
	target := fs.String("url", "", "URL to GET")
	caFile := fs.String("ca", "", "PEM CA for an https URL")
	n := fs.Int("n", 20000, "measured requests")
	c := fs.Int("c", 64, "concurrent clients")
	limit := fs.Duration("limit", 3*time.Minute, "upper bound on the run")
	if err := fs.Parse(args); err != nil {
		return err
	}
	auth := os.Getenv("NETBENCH_AUTH")
	tr := &http.Transport{MaxIdleConnsPerHost: *c, MaxConnsPerHost: *c, DisableCompression: true, ForceAttemptHTTP2: false,
		TLSNextProto: map[string]func(string, *tls.Conn) http.RoundTripper{}}
	if *caFile != "" {
		pool, err := loadCA(*caFile)
		if err != nil {
			return fmt.Errorf("rclient: %w", err)
		}
		tr.TLSClientConfig = &tls.Config{RootCAs: pool}
	}
	cl := &http.Client{Transport: tr, Timeout: 10 * time.Second}
	get := func() error {
		req, err := http.NewRequest(http.MethodGet, *target, nil)
		if err != nil {
			return err
		}
		req.Header.Set("Authorization", auth)
		return getOK(cl, req)
	}
	var wg sync.WaitGroup
	errc := make(chan error, *c)
	for i := 0; i < *c; i++ { // warm-up: one connection per client
		wg.Add(1)
		go func() { defer wg.Done(); errc <- get() }()
	}
	wg.Wait()
	close(errc)
	for err := range errc {
		if err != nil {
			return fmt.Errorf("rclient: warm-up: %w", err)
		}
	}
	var next atomic.Int64
	lat := make([]time.Duration, *n)
	var firstErr atomic.Value
	deadline := time.Now().Add(*limit)
	start := time.Now()
	for i := 0; i < *c; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				k := next.Add(1) - 1
				if k >= int64(*n) || time.Now().After(deadline) {
					return
				}
				t := time.Now()
				if err := get(); err != nil {
					firstErr.CompareAndSwap(nil, err.Error())
					return
				}
				lat[k] = time.Since(t)
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	done := min(int(next.Load()), *n)
	var got []time.Duration
	for _, d := range lat[:done] {
		if d > 0 {
			got = append(got, d)
		}
	}
	res := RevResult{Requests: len(got), Seconds: elapsed.Seconds()}
	if e, ok := firstErr.Load().(string); ok {
		res.Error = e
	}
	if len(got) > 0 {
		slices.Sort(got)
		res.RPS = float64(len(got)) / elapsed.Seconds()
		res.P50us = got[len(got)/2].Microseconds()
		res.P99us = got[len(got)*99/100].Microseconds()
	}
	return json.NewEncoder(os.Stdout).Encode(res)
}

// rproxyMain is the Go floor: httputil.ReverseProxy to -upstream that
// replaces the Authorization header, nothing else.
func rproxyMain(args []string) error {
	fs := flag.NewFlagSet("rproxy", flag.ContinueOnError)
	upstream := fs.String("upstream", "", "https://host:port")
	caFile := fs.String("ca", "", "PEM CA for the upstream")
	d := fs.Duration("for", 30*time.Minute, "serve this long, then exit")
	if err := fs.Parse(args); err != nil {
		return err
	}
	u, err := url.Parse(*upstream)
	if err != nil || u.Host == "" {
		return fmt.Errorf("rproxy: bad -upstream %q", *upstream)
	}
	pool, err := loadCA(*caFile)
	if err != nil {
		return fmt.Errorf("rproxy: %w", err)
	}
	rp := &httputil.ReverseProxy{
		Rewrite: func(r *httputil.ProxyRequest) {
			r.SetURL(u)
			r.Out.Header.Set("Authorization", "Bearer "+reverseKey)
		},
		Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}, MaxIdleConnsPerHost: 256, ForceAttemptHTTP2: true},
		ErrorLog:  log.New(io.Discard, "", 0),
	}
	l, err := serveHere(*d)
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: rp, ReadHeaderTimeout: 10 * time.Second, ErrorLog: log.New(io.Discard, "", 0)}
	if err := srv.Serve(l); !errors.Is(err, net.ErrClosed) {
		return err
	}
	return nil
}

func startGoReverse(e *env) (*revTarget, error) {
	cmd := exec.Command(e.bin, "rproxy", "-upstream", "https://"+e.origin.httpsAddr, "-ca", e.origin.caFile)
	addr, stop, err := startPrinting(cmd)
	if err != nil {
		return nil, err
	}
	return &revTarget{url: addr + "/v1/models", auth: "Bearer phantom-unchecked", stop: stop}, nil
}

// startPrinting starts cmd and reads the first line it prints (its URL).
func startPrinting(cmd *exec.Cmd) (string, func(), error) {
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return "", nil, err
	}
	if err := cmd.Start(); err != nil {
		return "", nil, err
	}
	stop := func() { stopProcess(cmd, 5*time.Second) }
	line := make(chan string, 1)
	go func() {
		var b [256]byte
		k, _ := io.ReadAtLeast(stdout, b[:], 1)
		line <- strings.TrimSpace(string(b[:k]))
		io.Copy(io.Discard, stdout)
	}()
	select {
	case l := <-line:
		if !strings.HasPrefix(l, "http://") {
			stop()
			return "", nil, fmt.Errorf("%s printed %q, not its URL", cmd.Path, l)
		}
		return l, stop, nil
	case <-time.After(15 * time.Second):
		stop()
		return "", nil, fmt.Errorf("%s did not print its URL within 15 s", cmd.Path)
	}
}

func startNginxReverse(e *env) (*revTarget, error) {
	bin, err := exec.LookPath("nginx")
	if err != nil {
		return nil, errors.New("nginx not installed (apt-get install nginx-light)")
	}
	dir, port, err := daemonDir(e, "nginx")
	if err != nil {
		return nil, err
	}
	user := ""
	if os.Getuid() == 0 {
		user = "user nobody nogroup;\n"
	}
	conf := fmt.Sprintf(`%sworker_processes auto;
daemon off;
pid %[2]s/nginx.pid;
error_log %[2]s/error.log error;
events { worker_connections 1024; }
http {
  access_log off;
  client_body_temp_path %[2]s/body;
  proxy_temp_path %[2]s/proxy;
  fastcgi_temp_path %[2]s/fastcgi;
  uwsgi_temp_path %[2]s/uwsgi;
  scgi_temp_path %[2]s/scgi;
  upstream origin { server %[3]s; keepalive 64; }
  server {
    listen 127.0.0.1:%[4]d;
    location / {
      proxy_pass https://origin;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header Authorization "Bearer %[5]s";
      proxy_ssl_trusted_certificate %[6]s;
      proxy_ssl_verify on;
      proxy_ssl_name %[7]s;
      proxy_ssl_session_reuse on;
      proxy_buffering off;
    }
  }
}
`, user, dir, e.origin.httpsAddr, port, reverseKey, e.origin.caFile, originName)
	cf := filepath.Join(dir, "nginx.conf")
	if err := os.WriteFile(cf, []byte(conf), 0o644); err != nil {
		return nil, err
	}
	_, _, _, stop, err := startDaemon(dir, port, bin, "-e", filepath.Join(dir, "error.log"), "-p", dir, "-c", cf)
	if err != nil {
		return nil, err
	}
	return &revTarget{url: fmt.Sprintf("http://127.0.0.1:%d/v1/models", port), auth: "Bearer phantom-unchecked", stop: stop}, nil
}

// startNonoReverse starts a `nono run --credential bench` session whose
// custom credential points at the TLS origin; the child reports the base
// URL and the phantom and sleeps, and the client uses both from outside.
func startNonoReverse(e *env) (*revTarget, error) {
	if e.nono == "" {
		return nil, errors.New("no nono binary (-nono)")
	}
	prof := map[string]any{
		"meta": map[string]any{"name": "netbench-reverse"},
		"network": map[string]any{"custom_credentials": map[string]any{"bench": map[string]any{
			"upstream":       "https://" + originName + ":" + portOf(e.origin.httpsAddr),
			"credential_key": "env://NETBENCH_KEY",
			"env_var":        "BENCH_API_KEY",
			"tls_ca":         e.origin.caFile,
		}}},
	}
	pb, _ := json.Marshal(prof)
	pf := filepath.Join(e.work, "reverse-profile.json")
	if err := os.WriteFile(pf, pb, 0o644); err != nil {
		return nil, err
	}
	info := filepath.Join(e.work, "nono-reverse")
	os.Remove(info)
	script := `umask 077; printf '%s\n%s\n' "$BENCH_BASE_URL" "$BENCH_API_KEY" > "$1.tmp" && mv "$1.tmp" "$1" && exec sleep 3600`
	dns, stopDNS, err := startDNS()
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(e.nono, "run", "-s", "--profile", pf, "--allow", e.work, "--credential", "bench", "--", "sh", "-c", script, "sh", info)
	cmd.Dir = e.work
	cmd.Env = append(os.Environ(), "NETBENCH_KEY="+reverseKey, "NONO_DNS_SERVER="+dns)
	logf, _ := os.Create(filepath.Join(e.work, "nono-reverse.log"))
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		stopDNS()
		return nil, fmt.Errorf("starting nono run: %w", err)
	}
	stop := func() { stopProcess(cmd, 5*time.Second); logf.Close(); stopDNS() }
	for deadline := time.Now().Add(15 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		b, err := os.ReadFile(info)
		if err != nil || len(b) == 0 {
			continue
		}
		base, phantom, _ := strings.Cut(strings.TrimSpace(string(b)), "\n")
		if !strings.HasPrefix(base, "http://127.0.0.1:") || phantom == "" || phantom == reverseKey {
			stop()
			return nil, fmt.Errorf("nono reported base URL %q and a phantom of %d bytes", base, len(phantom))
		}
		return &revTarget{url: base + "/v1/models", auth: "Bearer " + phantom, stop: stop}, nil
	}
	stop()
	b, _ := os.ReadFile(logf.Name())
	return nil, fmt.Errorf("nono run did not report its base URL within 15 s:\n%s", tail(string(b), 8))
}

// startDNS answers A queries for originName with originIP and refuses every
// other name, on a UDP port of loopback; nono's gateway asks it through
// NONO_DNS_SERVER. It stops when the returned function is called.
func startDNS() (string, func(), error) {
	pc, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		return "", nil, err
	}
	go func() {
		buf := make([]byte, 1500)
		for {
			n, from, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			if resp, ok := dnsAnswer(buf[:n]); ok {
				pc.WriteTo(resp, from)
			}
		}
	}()
	return pc.LocalAddr().String(), func() { pc.Close() }, nil
}

func dnsAnswer(q []byte) ([]byte, bool) {
	var p dnsmessage.Parser
	h, err := p.Start(q)
	if err != nil {
		return nil, false
	}
	qs, err := p.AllQuestions()
	if err != nil || len(qs) != 1 {
		return nil, false
	}
	h.Response, h.Authoritative, h.RecursionAvailable = true, true, false
	known := strings.EqualFold(strings.TrimSuffix(qs[0].Name.String(), "."), originName)
	if !known {
		h.RCode = dnsmessage.RCodeNameError
	}
	b := dnsmessage.NewBuilder(nil, h)
	b.EnableCompression()
	if b.StartQuestions() != nil || b.Question(qs[0]) != nil || b.StartAnswers() != nil {
		return nil, false
	}
	if known && qs[0].Type == dnsmessage.TypeA {
		ip := net.ParseIP(originIP).To4()
		a := dnsmessage.AResource{A: [4]byte{ip[0], ip[1], ip[2], ip[3]}}
		if b.AResource(dnsmessage.ResourceHeader{Name: qs[0].Name, Class: dnsmessage.ClassINET, TTL: 60}, a) != nil {
			return nil, false
		}
	}
	out, err := b.Finish()
	return out, err == nil
}

// rleanMain is a measurement, not a product path: the leanest Go reverse
// proxy for HTTP/1.1 upstreams. One goroutine per client connection reads a
// request (http.ReadRequest), writes it to a pooled upstream connection
// (Request.Write) and copies the answer back (http.ReadResponse,
// Response.Write): net/http's parsers without its server and transport
// goroutines. It shows how much of the reverse path's cost is net/http's
// pipeline rather than the work itself.
func rleanMain(args []string) error {
	fs := flag.NewFlagSet("rlean", flag.ContinueOnError)
	upstream := fs.String("upstream", "", "host:port of the TLS upstream")
	name := fs.String("name", originName, "TLS server name of the upstream")
	caFile := fs.String("ca", "", "PEM CA for the upstream")
	d := fs.Duration("for", 30*time.Minute, "serve this long, then exit")
	useTransport := fs.Bool("transport", false, "send upstream through an http.Transport instead of the lean connection pool")
	if err := fs.Parse(args); err != nil {
		return err
	}
	pool, err := loadCA(*caFile)
	if err != nil {
		return fmt.Errorf("rlean: %w", err)
	}
	tc := &tls.Config{RootCAs: pool, ServerName: *name, ClientSessionCache: tls.NewLRUClientSessionCache(256)}
	if *useTransport {
		var dialer net.Dialer
		leanTransport = &http.Transport{TLSClientConfig: tc, MaxIdleConnsPerHost: 256, ForceAttemptHTTP2: true, DisableCompression: true,
			DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
				return dialer.DialContext(ctx, network, *upstream)
			}}
	}
	idle := make(chan *leanConn, 256)
	l, err := serveHere(*d)
	if err != nil {
		return err
	}
	for {
		c, err := l.Accept()
		if err != nil {
			return nil
		}
		go leanServe(c, *upstream, tc, idle)
	}
}

type leanConn struct {
	c  net.Conn
	br *bufio.Reader
	bw *bufio.Writer
}

func leanServe(c net.Conn, upstream string, tc *tls.Config, idle chan *leanConn) {
	defer c.Close()
	br, bw := bufio.NewReaderSize(c, 16<<10), bufio.NewWriterSize(c, 16<<10)
	for {
		req, err := http.ReadRequest(br)
		if err != nil {
			return
		}
		req.Header.Del("Connection")
		req.Header.Del("Proxy-Authorization")
		req.Header.Set("Authorization", "Bearer "+reverseKey)
		req.Host = originName
		if leanTransport != nil {
			if !leanRoundTrip(req, bw) {
				return
			}
			continue
		}
		var up *leanConn
		select {
		case up = <-idle:
		default:
			uc, err := tls.Dial("tcp", upstream, tc)
			if err != nil {
				io.WriteString(c, "HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n")
				return
			}
			up = &leanConn{c: uc, br: bufio.NewReaderSize(uc, 16<<10), bw: bufio.NewWriterSize(uc, 16<<10)}
		}
		if err := req.Write(up.bw); err != nil || up.bw.Flush() != nil {
			up.c.Close()
			return
		}
		resp, err := http.ReadResponse(up.br, req)
		if err != nil {
			up.c.Close()
			return
		}
		err = resp.Write(bw)
		if err == nil {
			err = bw.Flush()
		}
		if resp.Close || err != nil {
			up.c.Close()
		} else {
			select {
			case idle <- up:
			default:
				up.c.Close()
			}
		}
		if err != nil || req.Close {
			return
		}
	}
}

// leanTransport, when set (-transport), carries the upstream leg.
var leanTransport *http.Transport

func leanRoundTrip(req *http.Request, bw *bufio.Writer) bool {
	req.URL.Scheme, req.URL.Host, req.RequestURI = "https", originName, ""
	resp, err := leanTransport.RoundTrip(req)
	if err != nil {
		bw.WriteString("HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n")
		bw.Flush()
		return false
	}
	resp.Proto, resp.ProtoMajor, resp.ProtoMinor = "HTTP/1.1", 1, 1
	err = resp.Write(bw)
	resp.Body.Close()
	return err == nil && bw.Flush() == nil && !req.Close
}

func startGoLeanTransport(e *env) (*revTarget, error) {
	cmd := exec.Command(e.bin, "rlean", "-transport", "-upstream", e.origin.httpsAddr, "-ca", e.origin.caFile)
	addr, stop, err := startPrinting(cmd)
	if err != nil {
		return nil, err
	}
	return &revTarget{url: addr + "/v1/models", auth: "Bearer phantom-unchecked", stop: stop}, nil
}

func startGoLean(e *env) (*revTarget, error) {
	cmd := exec.Command(e.bin, "rlean", "-upstream", e.origin.httpsAddr, "-ca", e.origin.caFile)
	addr, stop, err := startPrinting(cmd)
	if err != nil {
		return nil, err
	}
	return &revTarget{url: addr + "/v1/models", auth: "Bearer phantom-unchecked", stop: stop}, nil
}
