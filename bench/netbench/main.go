// Command netbench measures nono's gateway side by side with direct
// loopback traffic, tinyproxy, squid and sandbox-runtime's proxy: CONNECT
// bulk throughput and small HTTPS request latency (keep-alive and one new
// connection per request). All traffic stays on loopback.
//
//	netbench [flags]          orchestrate every setup and print a table
//	netbench client [flags]   one measurement, JSON on stdout (run by the orchestrator)
//	netbench origin [-for D]  only the origins, for profiling a proxy by hand
//	netbench relay [-for D]   a bare Go CONNECT relay (the floor for any Go proxy)
//	netbench reverse [flags]  the credential reverse path against direct, nginx
//	                          and a bare Go reverse proxy (see reverse.go)
//
// It owns bench/netbench only and imports nothing from nono: nono is driven
// through its binary, exactly as a user runs it.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"time"
)

func main() {
	var err error
	switch {
	case len(os.Args) > 1 && os.Args[1] == "client":
		err = clientMain(os.Args[2:])
	case len(os.Args) > 1 && os.Args[1] == "relay":
		err = relayMain(os.Args[2:])
	case len(os.Args) > 1 && os.Args[1] == "origin":
		err = originMain(os.Args[2:])
	case len(os.Args) > 1 && os.Args[1] == "reverse":
		err = reverseMain(os.Args[2:])
	case len(os.Args) > 1 && os.Args[1] == "rclient":
		err = rclientMain(os.Args[2:])
	case len(os.Args) > 1 && os.Args[1] == "rproxy":
		err = rproxyMain(os.Args[2:])
	case len(os.Args) > 1 && os.Args[1] == "rlean":
		err = rleanMain(os.Args[2:])
	default:
		err = orchestrate(os.Args[1:])
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "netbench:", err)
		os.Exit(1)
	}
}

// Run is one client run of one setup.
type Run struct {
	Setup  string        `json:"setup"`
	Round  int           `json:"round"`
	Result *ClientResult `json:"result,omitempty"`
	Error  string        `json:"error,omitempty"`
	Wall   float64       `json:"wall_s"`
}

// Summary is bench/out/netbench.json.
type Summary struct {
	Date     string             `json:"date"`
	Host     map[string]string  `json:"host"`
	Params   map[string]any     `json:"params"`
	Runs     []Run              `json:"runs"`
	Medians  map[string]*Median `json:"medians"`
	Order    []string           `json:"order"`
	Describe map[string]string  `json:"describe"`
}

// Median holds the median over rounds of each metric (0 = not measured).
type Median struct {
	GBps, KAp50, KAp99, NCp50, NCp99 float64
	TLSGBps                          float64 // HTTPS download through the tunnel
	// GBpsRatio, TLSRatio: the median over rounds of this setup's figure
	// divided by direct's in the same round. The VM's speed drifts between
	// rounds; a same-round ratio cancels most of that drift.
	GBpsRatio, TLSRatio float64
	DialP50, DialP99    float64
	Rounds              int
	Notes               []string
}

func orchestrate(args []string) error {
	fs := flag.NewFlagSet("netbench", flag.ContinueOnError)
	nono := fs.String("nono", "", "nono binary (default: bin/nono, then $PATH)")
	srt := fs.String("srt", "/var/tmp/nono-bench-srt/node_modules/.bin/srt", "sandbox-runtime's srt (skipped if missing)")
	size := fs.Int64("bytes", 1<<30, "bulk transfer size")
	n := fs.Int("n", 10000, "requests per latency phase")
	rounds := fs.Int("rounds", 2, "rounds over all setups (medians are reported)")
	only := fs.String("setups", "direct,go-relay,haproxy-tcp,socat-tcp,nono,nono-host,tinyproxy,squid,srt", "setups to run, in order")
	out := fs.String("out", "bench/out", "directory for netbench.json and netbench.md")
	phases := fs.String("phases", "bulk,bulktls,keepalive,newconn,dial", "client phases (bulk, bulktls, keepalive, newconn, dial)")
	phaseTO := fs.Duration("phase-timeout", 3*time.Minute, "upper bound on each client phase")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *rounds < 1 || *rounds > 10 || *n < 1 || *n > 1_000_000 || *size < 1 || *size > maxBulk {
		return fmt.Errorf("out of range: -rounds 1..10, -n 1..1e6, -bytes 1..%d", int64(maxBulk))
	}
	e := &env{nono: findNono(*nono), phases: *phases}
	if st, err := os.Stat(*srt); err == nil && !st.IsDir() {
		e.srt = *srt
	}
	cleanup, err := e.prepare("nono-netbench-")
	if err != nil {
		return err
	}
	defer cleanup()

	byName := map[string]setup{}
	sum := &Summary{
		Date:     time.Now().UTC().Format(time.RFC3339),
		Host:     hostInfo(),
		Params:   map[string]any{"bytes": *size, "requests": *n, "rounds": *rounds, "nono": e.nono, "srt": e.srt},
		Medians:  map[string]*Median{},
		Describe: map[string]string{},
	}
	for _, s := range setups() {
		byName[s.name] = s
	}
	for _, name := range strings.Split(*only, ",") {
		s, ok := byName[name]
		if !ok {
			return fmt.Errorf("unknown setup %q", name)
		}
		sum.Order = append(sum.Order, name)
		sum.Describe[name] = s.what
	}
	clientArgs := []string{"client", "-bulk", e.origin.bulkAddr, "-bytes", fmt.Sprint(*size),
		"-https", e.origin.httpsAddr, "-ca", e.origin.caFile, "-n", fmt.Sprint(*n), "-phase-timeout", phaseTO.String(), "-phases", *phases}
	for round := 1; round <= *rounds; round++ {
		for _, name := range sum.Order {
			r := runSetup(e, byName[name], round, clientArgs, 3*(*phaseTO)+time.Minute)
			sum.Runs = append(sum.Runs, r)
			fmt.Fprintf(os.Stderr, "round %d %-10s %s\n", round, name, brief(r))
		}
	}
	for _, name := range sum.Order {
		sum.Medians[name] = median(sum.Runs, name)
	}
	if err := os.MkdirAll(*out, 0o755); err != nil {
		return err
	}
	js, _ := json.MarshalIndent(sum, "", "  ")
	if err := os.WriteFile(filepath.Join(*out, "netbench.json"), js, 0o644); err != nil {
		return err
	}
	md := report(sum)
	fmt.Print(md)
	return os.WriteFile(filepath.Join(*out, "netbench.md"), []byte(md), 0o644)
}

// prepare makes the scratch directory (kept with NETBENCH_KEEP=1), copies
// this program into it for sandboxed clients, and starts the origins.
func (e *env) prepare(prefix string) (cleanup func(), err error) {
	work, err := os.MkdirTemp("/var/tmp", prefix)
	if err != nil {
		return nil, err
	}
	remove := func() {
		if os.Getenv("NETBENCH_KEEP") == "" {
			os.RemoveAll(work)
		}
	}
	os.Chmod(work, 0o755)
	e.work = work
	if e.bin, err = copySelf(work); err == nil {
		e.origin, err = startOrigin(work, e.originH2)
	}
	if err != nil {
		remove()
		return nil, err
	}
	return func() { e.origin.Close(); remove() }, nil
}

// serveHere listens on an ephemeral loopback port, prints its URL as the
// first line of stdout (how the orchestrator finds it) and closes the
// listener after d.
func serveHere(d time.Duration) (net.Listener, error) {
	l, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	fmt.Printf("http://%s\n", l.Addr())
	os.Stdout.Sync()
	time.AfterFunc(d, func() { l.Close() })
	return l, nil
}

func findNono(flagVal string) string {
	for _, c := range []string{flagVal, os.Getenv("NONO_BIN"), "bin/nono"} {
		if c == "" {
			continue
		}
		if abs, err := filepath.Abs(c); err == nil {
			if st, err := os.Stat(abs); err == nil && !st.IsDir() {
				return abs
			}
		}
	}
	p, _ := exec.LookPath("nono")
	return p
}

// copySelf puts this executable in work/bin so the sandboxed client needs
// a read grant on that directory only.
func copySelf(work string) (string, error) {
	self, err := os.Executable()
	if err != nil {
		return "", err
	}
	src, err := os.Open(self)
	if err != nil {
		return "", err
	}
	defer src.Close()
	dir := filepath.Join(work, "bin")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	dst := filepath.Join(dir, "netbench")
	f, err := os.OpenFile(dst, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o755)
	if err != nil {
		return "", err
	}
	if _, err := io.Copy(f, src); err != nil {
		f.Close()
		return "", err
	}
	return dst, f.Close()
}

func runSetup(e *env, s setup, round int, clientArgs []string, limit time.Duration) (r Run) {
	r = Run{Setup: s.name, Round: round}
	start := time.Now()
	defer func() { r.Wall = time.Since(start).Seconds() }()
	prefix, extra, environ, stop, err := s.start(e)
	if err != nil {
		r.Error = err.Error()
		return r
	}
	defer stop()
	argv := append(append(append(slices.Clone(prefix), e.bin), clientArgs...), extra...)
	ctx, cancel := context.WithTimeout(context.Background(), limit)
	defer cancel()
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Dir = e.work
	cmd.Env = append(os.Environ(), environ...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	cmd.WaitDelay = 5 * time.Second
	runErr := cmd.Run()
	var res ClientResult
	if err := json.Unmarshal(lastLine(stdout.Bytes()), &res); err != nil {
		r.Error = fmt.Sprintf("no result (%v): %s", runErr, tail(stderr.String()+stdout.String(), 8))
		return r
	}
	r.Result = &res
	if runErr != nil {
		r.Error = fmt.Sprintf("%v: %s", runErr, tail(stderr.String(), 4))
	}
	return r
}

func lastLine(b []byte) []byte {
	b = bytes.TrimSpace(b)
	if i := bytes.LastIndexByte(b, '\n'); i >= 0 {
		return b[i+1:]
	}
	return b
}

func brief(r Run) string {
	if r.Result == nil {
		return "FAILED: " + r.Error
	}
	var b strings.Builder
	if x := r.Result.Bulk; x != nil {
		fmt.Fprintf(&b, "bulk %.2f GB/s  ", x.GBps)
	}
	if x := r.Result.BulkTLS; x != nil {
		fmt.Fprintf(&b, "https bulk %.2f GB/s  ", x.GBps)
	}
	if x := r.Result.KeepAlive; x != nil {
		fmt.Fprintf(&b, "keep-alive p50 %.0f µs p99 %.0f µs  ", x.P50us, x.P99us)
	}
	if x := r.Result.NewConn; x != nil {
		fmt.Fprintf(&b, "new-conn p50 %.0f µs p99 %.0f µs (%d req)  ", x.P50us, x.P99us, x.Requests)
	}
	for _, e := range r.Result.Errors {
		fmt.Fprintf(&b, "[%s] ", e)
	}
	fmt.Fprintf(&b, "(%.0f s)", r.Wall)
	return b.String()
}

func hostInfo() map[string]string {
	h := map[string]string{"goos": runtime.GOOS, "goarch": runtime.GOARCH, "nproc": fmt.Sprint(runtime.NumCPU()), "go": runtime.Version()}
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		h["kernel"] = strings.TrimSpace(string(b))
	}
	if b, err := os.ReadFile("/proc/loadavg"); err == nil {
		h["loadavg_at_start"] = strings.TrimSpace(string(b))
	}
	return h
}

// originMain serves the origins for a bounded time and prints how to reach
// them, so a proxy can be profiled by hand with `netbench client`.
func originMain(args []string) error {
	fs := flag.NewFlagSet("origin", flag.ContinueOnError)
	dir := fs.String("dir", ".", "where to write origin-ca.pem")
	d := fs.Duration("for", 5*time.Minute, "serve this long, then exit")
	if err := fs.Parse(args); err != nil {
		return err
	}
	o, err := startOrigin(*dir, false)
	if err != nil {
		return err
	}
	defer o.Close()
	fmt.Printf("-bulk %s -https %s -ca %s\n", o.bulkAddr, o.httpsAddr, o.caFile)
	time.Sleep(*d)
	return nil
}
