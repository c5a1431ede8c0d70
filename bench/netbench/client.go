package main

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"
)

// ClientResult is what `netbench client` prints as JSON on stdout.
type ClientResult struct {
	Proxy     string       `json:"proxy"` // proxy host:port, "" when direct
	Bulk      *BulkResult  `json:"bulk,omitempty"`
	BulkTLS   *BulkResult  `json:"bulk_tls,omitempty"` // the same download as HTTPS through the tunnel
	KeepAlive *LatResult   `json:"keepalive,omitempty"`
	NewConn   *LatResult   `json:"newconn,omitempty"`
	Dial      *LatResult   `json:"dial,omitempty"` // TCP connect+close to the first hop only
	Errors    []string     `json:"errors,omitempty"`
	Env       *ClientHints `json:"env,omitempty"`
}

// ClientHints records what the client saw of its environment.
type ClientHints struct {
	NoProxy string `json:"no_proxy,omitempty"`
}

// BulkResult is one download through a CONNECT tunnel (or direct).
type BulkResult struct {
	Bytes   int64   `json:"bytes"`
	Seconds float64 `json:"seconds"`
	GBps    float64 `json:"gb_per_s"` // 1e9 bytes per second
	Connect float64 `json:"connect_ms"`
}

// LatResult summarises sequential small HTTPS requests.
type LatResult struct {
	Requests  int     `json:"requests"`
	Truncated bool    `json:"truncated,omitempty"` // the phase hit its time bound
	P50us     float64 `json:"p50_us"`
	P99us     float64 `json:"p99_us"`
	MeanUs    float64 `json:"mean_us"`
	MaxUs     float64 `json:"max_us"`
	RPS       float64 `json:"req_per_s"`
}

func clientMain(args []string) error {
	fs := flag.NewFlagSet("client", flag.ContinueOnError)
	proxyURL := fs.String("proxy", "", "proxy URL (http://[user:pass@]host:port); empty = direct")
	proxyEnv := fs.String("proxy-env", "", "read the proxy URL from this environment variable (e.g. HTTPS_PROXY); NO_PROXY is ignored on purpose")
	bulkAddr := fs.String("bulk", "", "bulk origin host:port (empty skips the bulk phase)")
	size := fs.Int64("bytes", 1<<30, "bytes to download in the bulk phase")
	httpsAddr := fs.String("https", "", "HTTPS origin host:port (empty skips the latency phases)")
	caFile := fs.String("ca", "", "PEM CA for the HTTPS origin")
	n := fs.Int("n", 10000, "requests per latency phase")
	warm := fs.Int("warmup", 200, "unmeasured requests before each latency phase")
	limit := fs.Duration("phase-timeout", 3*time.Minute, "upper bound on each phase")
	phases := fs.String("phases", "bulk,keepalive,newconn", "phases to run (bulk, bulktls, keepalive, newconn, dial)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	var proxy *url.URL
	raw := *proxyURL
	if *proxyEnv != "" {
		raw = os.Getenv(*proxyEnv)
		if raw == "" {
			return fmt.Errorf("client: $%s is empty; is the client running under the proxying sandbox?", *proxyEnv)
		}
	}
	if raw != "" {
		u, err := url.Parse(raw)
		if err != nil || u.Host == "" {
			return fmt.Errorf("client: bad proxy URL (host %q): %v", safeHost(raw), err)
		}
		proxy = u
	}
	res := ClientResult{Env: &ClientHints{NoProxy: os.Getenv("NO_PROXY")}}
	if proxy != nil {
		res.Proxy = proxy.Host
	}
	want := func(p string) bool { return slices.Contains(strings.Split(*phases, ","), p) }
	if *bulkAddr != "" && want("bulk") {
		b, err := bulk(proxy, *bulkAddr, *size, *limit)
		if err != nil {
			res.Errors = append(res.Errors, "bulk: "+err.Error())
		}
		res.Bulk = b
	}
	if want("dial") {
		first := *httpsAddr
		if proxy != nil {
			first = proxy.Host
		}
		l, err := dialOnly(first, *warm, *n, *limit)
		if err != nil {
			res.Errors = append(res.Errors, "dial: "+err.Error())
		}
		res.Dial = l
	}
	if *httpsAddr != "" {
		pool, err := loadCA(*caFile)
		if err != nil {
			return fmt.Errorf("client: %w", err)
		}
		if want("bulktls") {
			b, err := bulkTLS(proxy, pool, *httpsAddr, *size, *limit)
			if err != nil {
				res.Errors = append(res.Errors, "bulktls: "+err.Error())
			}
			res.BulkTLS = b
		}
		for _, p := range []struct {
			name string
			keep bool
			dst  **LatResult
		}{{"keepalive", true, &res.KeepAlive}, {"newconn", false, &res.NewConn}} {
			if !want(p.name) {
				continue
			}
			l, err := latency(proxy, pool, *httpsAddr, p.keep, *warm, *n, *limit)
			if err != nil {
				res.Errors = append(res.Errors, p.name+": "+err.Error())
			}
			*p.dst = l
		}
	}
	return json.NewEncoder(os.Stdout).Encode(res)
}

// safeHost keeps a token out of error text.
func safeHost(raw string) string {
	if i := strings.LastIndex(raw, "@"); i >= 0 {
		return raw[i+1:]
	}
	return raw
}

// dialThrough opens a TCP stream to target, through a CONNECT tunnel when
// proxy is set. The returned reader holds any bytes read past the 200.
func dialThrough(proxy *url.URL, target string, deadline time.Time) (net.Conn, io.Reader, error) {
	if proxy == nil {
		c, err := net.DialTimeout("tcp", target, 10*time.Second)
		return c, c, err
	}
	c, err := net.DialTimeout("tcp", proxy.Host, 10*time.Second)
	if err != nil {
		return nil, nil, fmt.Errorf("dialing proxy: %w", err)
	}
	_ = c.SetDeadline(deadline)
	req := "CONNECT " + target + " HTTP/1.1\r\nHost: " + target + "\r\n"
	if proxy.User != nil {
		pw, _ := proxy.User.Password()
		req += "Proxy-Authorization: Basic " + base64.StdEncoding.EncodeToString([]byte(proxy.User.Username()+":"+pw)) + "\r\n"
	}
	if _, err := io.WriteString(c, req+"\r\n"); err != nil {
		c.Close()
		return nil, nil, fmt.Errorf("writing CONNECT: %w", err)
	}
	br := bufio.NewReaderSize(c, 64<<10)
	resp, err := http.ReadResponse(br, &http.Request{Method: http.MethodConnect})
	if err != nil {
		c.Close()
		return nil, nil, fmt.Errorf("reading CONNECT answer: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		c.Close()
		return nil, nil, fmt.Errorf("CONNECT %s: %s (%s)", target, resp.Status, resp.Header.Get("X-Nono-Reason"))
	}
	if br.Buffered() == 0 {
		return c, c, nil
	}
	return c, io.MultiReader(io.LimitReader(br, int64(br.Buffered())), c), nil
}

func bulk(proxy *url.URL, target string, size int64, limit time.Duration) (*BulkResult, error) {
	deadline := time.Now().Add(limit)
	t0 := time.Now()
	c, r, err := dialThrough(proxy, target, deadline)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	_ = c.SetDeadline(deadline)
	connectMs := float64(time.Since(t0).Microseconds()) / 1000
	var hdr [8]byte
	binary.BigEndian.PutUint64(hdr[:], uint64(size))
	start := time.Now()
	if _, err := c.Write(hdr[:]); err != nil {
		return nil, fmt.Errorf("asking for %d bytes: %w", size, err)
	}
	buf := make([]byte, 1<<20)
	var got int64
	for got < size {
		m, err := r.Read(buf)
		got += int64(m)
		if err != nil {
			if got < size {
				return nil, fmt.Errorf("after %d of %d bytes: %w", got, size, err)
			}
		}
	}
	sec := time.Since(start).Seconds()
	return &BulkResult{Bytes: got, Seconds: sec, GBps: float64(got) / sec / 1e9, Connect: connectMs}, nil
}

// bulkTLS downloads size bytes with one HTTPS GET through the proxy (or
// direct): the way a real client uses a CONNECT tunnel. The proxy relays
// TLS records it cannot read, so this is the figure users see; bulk (plain
// TCP) isolates the relay itself.
func bulkTLS(proxy *url.URL, pool *x509.CertPool, target string, size int64, limit time.Duration) (*BulkResult, error) {
	tr := &http.Transport{
		TLSClientConfig:     &tls.Config{RootCAs: pool},
		DisableCompression:  true,
		TLSHandshakeTimeout: 10 * time.Second,
	}
	if proxy != nil {
		tr.Proxy = http.ProxyURL(proxy)
	}
	defer tr.CloseIdleConnections()
	ctx, cancel := context.WithTimeout(context.Background(), limit)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "https://"+target+"/bulk?bytes="+strconv.FormatInt(size, 10), nil)
	if err != nil {
		return nil, err
	}
	start := time.Now()
	resp, err := tr.RoundTrip(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("status %s", resp.Status)
	}
	buf := make([]byte, 1<<20)
	var got int64
	for got < size {
		m, err := resp.Body.Read(buf)
		got += int64(m)
		if err != nil {
			if got < size {
				return nil, fmt.Errorf("after %d of %d bytes: %w", got, size, err)
			}
			break
		}
	}
	sec := time.Since(start).Seconds()
	return &BulkResult{Bytes: got, Seconds: sec, GBps: float64(got) / sec / 1e9}, nil
}

func latency(proxy *url.URL, pool *x509.CertPool, target string, keep bool, warm, n int, limit time.Duration) (*LatResult, error) {
	tr := &http.Transport{
		TLSClientConfig:     &tls.Config{RootCAs: pool},
		DisableKeepAlives:   !keep,
		MaxIdleConnsPerHost: 1,
		DisableCompression:  true,
		TLSHandshakeTimeout: 10 * time.Second,
	}
	if proxy != nil {
		tr.Proxy = http.ProxyURL(proxy)
	}
	defer tr.CloseIdleConnections()
	cl := &http.Client{Transport: tr, Timeout: 10 * time.Second}
	u := "https://" + target + "/small"
	get := func() error {
		req, err := http.NewRequest(http.MethodGet, u, nil)
		if err != nil {
			return err
		}
		return getOK(cl, req)
	}
	return measure(get, warm, n, limit)
}

// dialOnly times connect(2)+close to the first hop: in a nono sandbox that
// is the seccomp-notified connect the supervisor performs for the child.
func dialOnly(addr string, warm, n int, limit time.Duration) (*LatResult, error) {
	return measure(func() error {
		c, err := net.DialTimeout("tcp", addr, 10*time.Second)
		if err != nil {
			return err
		}
		return c.Close()
	}, warm, n, limit)
}

// measure runs op warm times unmeasured, then n times (bounded by limit).
func measure(op func() error, warm, n int, limit time.Duration) (*LatResult, error) {
	deadline := time.Now().Add(limit)
	for i := 0; i < warm && time.Now().Before(deadline); i++ {
		if err := op(); err != nil {
			return nil, fmt.Errorf("warm-up %d: %w", i, err)
		}
	}
	lat := make([]time.Duration, 0, n)
	start := time.Now()
	deadline = start.Add(limit)
	var err error
	for len(lat) < n {
		if time.Now().After(deadline) {
			err = errors.New("phase time bound reached")
			break
		}
		t := time.Now()
		if e := op(); e != nil {
			err = fmt.Errorf("request %d: %w", len(lat), e)
			break
		}
		lat = append(lat, time.Since(t))
	}
	total := time.Since(start)
	if len(lat) == 0 {
		return nil, err
	}
	slices.Sort(lat)
	var sum time.Duration
	for _, d := range lat {
		sum += d
	}
	us := func(d time.Duration) float64 { return float64(d.Nanoseconds()) / 1000 }
	return &LatResult{
		Requests:  len(lat),
		Truncated: len(lat) < n,
		P50us:     us(lat[len(lat)*50/100]),
		P99us:     us(lat[min(len(lat)-1, len(lat)*99/100)]),
		MeanUs:    us(sum / time.Duration(len(lat))),
		MaxUs:     us(lat[len(lat)-1]),
		RPS:       float64(len(lat)) / total.Seconds(),
	}, err
}

// loadCA reads a PEM CA file into a pool.
func loadCA(file string) (*x509.CertPool, error) {
	pool := x509.NewCertPool()
	pem, err := os.ReadFile(file)
	if err != nil || !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("reading CA %s: %v", file, err)
	}
	return pool, nil
}

// getOK sends req, reads the whole body and wants 200 OK.
func getOK(cl *http.Client, req *http.Request) error {
	resp, err := cl.Do(req)
	if err != nil {
		return err
	}
	_, err = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if err == nil && resp.StatusCode != http.StatusOK {
		err = fmt.Errorf("status %s", resp.Status)
	}
	return err
}
