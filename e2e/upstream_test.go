package e2e

import (
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// upstreamProxy is a real squid or tinyproxy on a loopback port.
type upstreamProxy struct {
	port int
	dir  string
	log  string
}

func (u *upstreamProxy) addr() string { return fmt.Sprintf("127.0.0.1:%d", u.port) }

func (u *upstreamProxy) logText() string {
	b, _ := os.ReadFile(u.log)
	return string(b)
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func render(t *testing.T, tmpl string, vars map[string]string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", tmpl))
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	for k, v := range vars {
		s = strings.ReplaceAll(s, "{{"+k+"}}", v)
	}
	return s
}

// startDaemon runs a proxy in the foreground and waits for its port.
func startDaemon(t *testing.T, u *upstreamProxy, name string, args ...string) {
	t.Helper()
	cmd := exec.Command(name, args...)
	outPath := filepath.Join(u.dir, filepath.Base(name)+".out")
	out, err := os.Create(outPath)
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting %s: %v", name, err)
	}
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		done := make(chan struct{})
		go func() { cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			cmd.Process.Kill()
			<-done
		}
		out.Close()
	})
	for i := 0; i < 200; i++ {
		if c, err := net.DialTimeout("tcp", u.addr(), 100*time.Millisecond); err == nil {
			c.Close()
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	b, _ := os.ReadFile(outPath)
	logs, _ := os.ReadFile(filepath.Join(u.dir, "cache.log")) // squid's own log
	t.Fatalf("%s did not start listening on %s:\n%s\n%s", name, u.addr(), b, logs)
}

func scratchDir(t *testing.T, e *env, name string) string {
	d := filepath.Join(e.root, name)
	if err := os.MkdirAll(d, 0o777); err != nil {
		t.Fatal(err)
	}
	os.Chmod(d, 0o777) // the proxy may drop privileges to its own user
	return d
}

func startSquid(t *testing.T, e *env, hosts string) *upstreamProxy {
	t.Helper()
	if _, err := exec.LookPath("squid"); err != nil {
		if _, err := os.Stat("/usr/sbin/squid"); err != nil {
			t.Skip("needs squid (apt-get install squid)")
		}
	}
	u := &upstreamProxy{port: freePort(t), dir: scratchDir(t, e, "squid")}
	u.log = filepath.Join(u.dir, "access.log")
	os.WriteFile(filepath.Join(u.dir, "hosts"), []byte(hosts), 0o644)
	conf := filepath.Join(u.dir, "squid.conf")
	os.WriteFile(conf, []byte(render(t, "squid.conf.tmpl", map[string]string{"PORT": fmt.Sprint(u.port), "DIR": u.dir})), 0o644)
	if os.Getuid() == 0 {
		exec.Command("chown", "-R", "proxy:proxy", u.dir).Run()
	}
	// A service name of our own keeps this squid's shared-memory segments
	// (/dev/shm/<name>-cf__*.shm) apart from any other squid's. It is
	// random, not the port alone: segments another user's squid left
	// behind (the unprivileged e2e pass runs squid as nonotest, the root
	// pass as proxy) cannot be replaced, and a squid that meets one dies.
	name := fmt.Sprintf("nonoe2e%d%08x", u.port, rand.Uint32())
	t.Cleanup(func() {
		shm, _ := filepath.Glob("/dev/shm/" + name + "-*")
		for _, f := range shm {
			os.Remove(f)
		}
	})
	startDaemon(t, u, "/usr/sbin/squid", "-N", "-n", name, "-f", conf)
	return u
}

func startTinyproxy(t *testing.T, e *env, connectPort int) *upstreamProxy {
	t.Helper()
	if _, err := os.Stat("/usr/bin/tinyproxy"); err != nil {
		t.Skip("needs tinyproxy (apt-get install tinyproxy)")
	}
	u := &upstreamProxy{port: freePort(t), dir: scratchDir(t, e, "tinyproxy")}
	u.log = filepath.Join(u.dir, "tinyproxy.log")
	user := ""
	if os.Getuid() == 0 {
		user = "User nobody\nGroup nogroup"
	}
	conf := filepath.Join(u.dir, "tinyproxy.conf")
	os.WriteFile(conf, []byte(render(t, "tinyproxy.conf.tmpl", map[string]string{
		"PORT": fmt.Sprint(u.port), "DIR": u.dir, "USER": user, "CONNECTPORT": fmt.Sprint(connectPort),
	})), 0o644)
	startDaemon(t, u, "/usr/bin/tinyproxy", "-d", "-c", conf)
	return u
}

func TestUpstreamSquidChainingAndBypass(t *testing.T) {
	g := newGW(t)
	sq := startSquid(t, g.env, fmt.Sprintf("%s origin.nono.test bypass.nono.test refused.nono.test\n", originIP))
	base := []string{"run", "--allow", g.work, "--allow-domain", "origin.nono.test", "--allow-domain", "bypass.nono.test",
		"--allow-domain", "refused.nono.test", "--upstream-proxy", sq.addr(), "--upstream-bypass", "bypass.nono.test", "--"}
	curl := func(url string) result {
		return g.run(append(base, "curl", "-sS", "-m", "10", "--cacert", g.origin.caFile, url)...)
	}
	r := curl(g.origin.url("origin.nono.test", "/chained"))
	mustContain(t, r, r.stdout, "hello from origin")
	r = curl(fmt.Sprintf("http://origin.nono.test:%d/plain", g.origin.httpPort))
	mustContain(t, r, r.stdout, "hello from origin")
	r = curl(g.origin.url("bypass.nono.test", "/direct"))
	mustContain(t, r, r.stdout, "hello from origin")
	time.Sleep(300 * time.Millisecond) // squid writes its log line after closing the tunnel
	log := sq.logText()
	if !strings.Contains(log, fmt.Sprintf("CONNECT origin.nono.test:%d", g.origin.port)) {
		t.Errorf("chained CONNECT missing from squid's access log:\n%s", log)
	}
	if !strings.Contains(log, fmt.Sprintf("http://origin.nono.test:%d/plain", g.origin.httpPort)) {
		t.Errorf("chained http request missing from squid's access log:\n%s", log)
	}
	if strings.Contains(log, "bypass.nono.test") {
		t.Errorf("a bypassed host went through squid:\n%s", log)
	}
	r = curl(g.origin.url("refused.nono.test", "/"))
	if r.code == 0 {
		t.Fatalf("squid refused the host but the request succeeded: %s", r)
	}
	mustContain(t, r, r.stderr, "502")
	// The host policy still applies before anything is chained.
	r = curl(g.origin.url("other.nono.test", "/"))
	mustContain(t, r, r.stderr, "403")
	if strings.Contains(sq.logText(), "other.nono.test") {
		t.Error("a denied host reached the upstream proxy")
	}
	r = curl("https://169.254.169.254/latest/meta-data/")
	mustContain(t, r, r.stderr, "403")
	if strings.Contains(sq.logText(), "169.254") {
		t.Error("metadata reached the upstream proxy")
	}
}

func TestUpstreamTinyproxy(t *testing.T) {
	g := newGW(t)
	tp := startTinyproxy(t, g.env, g.origin.port)
	r := g.run("run", "--allow", g.work, "--allow-domain", originIP, "--upstream-proxy", tp.addr(), "--",
		"curl", "-sS", "-m", "10", "--cacert", g.origin.caFile, fmt.Sprintf("https://%s:%d/via-tinyproxy", originIP, g.origin.port))
	mustContain(t, r, r.stdout, "hello from origin")
	time.Sleep(200 * time.Millisecond)
	if !strings.Contains(tp.logText(), fmt.Sprintf("CONNECT %s:%d", originIP, g.origin.port)) {
		t.Errorf("chained CONNECT missing from tinyproxy's log:\n%s", tp.logText())
	}
}

func TestUpstreamUnreachableIs502(t *testing.T) {
	g := newGW(t)
	r := g.run("run", "--allow", g.work, "--allow-domain", "origin.nono.test", "--upstream-proxy", fmt.Sprintf("127.0.0.1:%d", freePort(t)), "--",
		"curl", "-sS", "-m", "10", "--cacert", g.origin.caFile, g.origin.url("origin.nono.test", "/"))
	if r.code == 0 {
		t.Fatalf("request succeeded with a dead upstream: %s", r)
	}
	mustContain(t, r, r.stderr, "502")
}

// TestUpstreamOnlyChainsEveryPublicHost: the seed chains everything through
// a corporate proxy with only --upstream-proxy (and --upstream-bypass). The
// gateway then passes every public host to squid, which filters and resolves
// (app.corp.test is known only to squid, as internal names are), but the
// floor still holds before anything is chained: names the gateway resolves
// to loopback, loopback literals and metadata are refused with 403 and never
// reach squid. The run says which mode it is in.
func TestUpstreamOnlyChainsEveryPublicHost(t *testing.T) {
	e := newEnv(t)
	d := startDNS(t, map[string]string{"loop.corp.test": "127.0.0.1", "meta.corp.test": "169.254.169.254"})
	o := startOrigin(t, e, "app.corp.test")
	sq := startSquid(t, e, fmt.Sprintf("%s app.corp.test\n", originIP))
	dnsEnv := []string{"NONO_DNS_SERVER=" + d.addr}
	curl := func(url string) result {
		// --noproxy '': the loopback literal goes to the gateway too, not
		// straight to the (refused) direct connect NO_PROXY would pick.
		return e.nonoEnv(dnsEnv, "run", "--allow", e.work, "--upstream-proxy", sq.addr(), "--",
			"curl", "-sS", "-m", "10", "--noproxy", "", "--cacert", o.caFile, url)
	}
	r := curl(o.url("app.corp.test", "/chained"))
	mustContain(t, r, r.stdout, "hello from origin")
	mustContain(t, r, r.stderr, "Network: every public host goes through nono's gateway to the upstream proxy "+sq.addr())
	time.Sleep(300 * time.Millisecond) // squid logs a tunnel when it closes
	if log := sq.logText(); !strings.Contains(log, fmt.Sprintf("CONNECT app.corp.test:%d", o.port)) {
		t.Fatalf("the chained CONNECT is missing from squid's access log:\n%s", log)
	}
	for _, u := range []string{
		o.url("loop.corp.test", "/"),                 // resolves to loopback: no exact entry names it
		fmt.Sprintf("https://127.0.0.1:%d/", o.port), // loopback literal
		"https://meta.corp.test/",                    // resolves to metadata
		"https://169.254.169.254/latest/meta-data/",
	} {
		r := curl(u)
		if r.code == 0 {
			t.Fatalf("%s was reached in upstream-only mode: %s", u, r)
		}
		mustContain(t, r, r.stderr, "403")
	}
	time.Sleep(300 * time.Millisecond)
	if log := sq.logText(); strings.Contains(log, "loop.corp.test") || strings.Contains(log, "CONNECT 127.0.0.1") || strings.Contains(log, "169.254") || strings.Contains(log, "meta.corp.test") {
		t.Fatalf("a refused destination reached the upstream proxy:\n%s", log)
	}
	r = e.nonoEnv(dnsEnv, "run", "--allow", e.work, "--dry-run", "--upstream-proxy", sq.addr(), "--upstream-bypass", "*.dev.local", "--", "my-agent")
	mustContain(t, r, r.stdout, "Gateway allowlist: every public host, chained to the upstream proxy "+sq.addr()+", which filters")
	oneClearError(t, e.nono("run", "--allow", e.work, "--proxy-port", "19999", "--", "true"), "--proxy-port needs proxy mode")
}
