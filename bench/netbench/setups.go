package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"
)

// env is what every setup may use.
type env struct {
	work   string // scratch directory
	bin    string // this program, copied into work/bin
	nono   string
	srt    string
	phases string // the client phases asked for, comma-separated
	origin *origin
	// originH2 lets the HTTPS origin offer HTTP/2 (netbench reverse -h2),
	// as real APIs do; clients that ask only for HTTP/1.1 still get it.
	originH2 bool
}

// setup prepares one way of reaching the origin. start returns the command
// prefix the client runs under (nil: run it bare), extra client arguments,
// extra environment, and a stop function.
type setup struct {
	name  string
	what  string
	start func(e *env) (prefix, args, environ []string, stop func(), err error)
}

func setups() []setup {
	return []setup{
		{"direct", "no proxy: client dials the origin", func(e *env) ([]string, []string, []string, func(), error) {
			return nil, nil, nil, func() {}, nil
		}},
		{"go-relay", "bare Go CONNECT relay in its own process (io.Copy/splice, no auth or policy): the floor for any Go proxy", startRelay},
		{"nono", "client inside `nono run --allow-domain 127.0.0.2` (seccomp-notified connect + gateway)", func(e *env) ([]string, []string, []string, func(), error) {
			if e.nono == "" {
				return nil, nil, nil, nil, errors.New("no nono binary (-nono)")
			}
			prefix := []string{e.nono, "run", "-s", "--allow", e.work, "--allow-domain", originIP, "--"}
			if !strings.HasPrefix(e.bin, e.work+"/") {
				// nono refuses a --read inside an --allow (it could not stay read-only).
				prefix = []string{e.nono, "run", "-s", "--allow", e.work, "--read", filepath.Dir(e.bin), "--allow-domain", originIP, "--"}
			}
			return prefix, []string{"-proxy-env", "HTTPS_PROXY"}, nil, func() {}, nil
		}},
		{"nono-host", "client outside the sandbox, through the gateway of a `nono run` session (gateway cost alone)", startNonoHost},
		{"tinyproxy", "tinyproxy 1.11, logging off", startTinyproxy},
		{"haproxy-tcp", "HAProxy 2.6 as a plain TCP forwarder, 1 MiB buffers: no CONNECT, no auth, no policy; a ceiling reference (bulk phase only)", startHAProxyTCP},
		{"socat-tcp", "socat as a plain TCP forwarder, 4 MiB buffer: no CONNECT, no auth, no policy; a ceiling reference (bulk phase only)", startSocatTCP},
		{"squid", "squid 5, cache and access log off", startSquid},
		{"srt", "client inside Anthropic sandbox-runtime (its HTTP proxy, reached through socat)", func(e *env) ([]string, []string, []string, func(), error) {
			if e.srt == "" {
				return nil, nil, nil, nil, errors.New("no srt binary (-srt; npm install @anthropic-ai/sandbox-runtime@0.0.83)")
			}
			settings := filepath.Join(e.work, "srt.json")
			js := fmt.Sprintf(`{"network":{"allowedDomains":[%q],"deniedDomains":[]},
 "filesystem":{"denyRead":[],"allowWrite":[%q],"denyWrite":[]}}`, originIP, e.work)
			if err := os.WriteFile(settings, []byte(js), 0o644); err != nil {
				return nil, nil, nil, nil, err
			}
			return []string{e.srt, "-s", settings, "--"}, []string{"-proxy-env", "HTTPS_PROXY"}, nil, func() {}, nil
		}},
	}
}

// startNonoHost starts a `nono run` session whose child only reports the
// gateway URL and sleeps; the client then uses that gateway from outside.
func startNonoHost(e *env) ([]string, []string, []string, func(), error) {
	if e.nono == "" {
		return nil, nil, nil, nil, errors.New("no nono binary (-nono)")
	}
	urlFile := filepath.Join(e.work, "nono-proxy-url")
	os.Remove(urlFile)
	script := `umask 077; printf %s "$HTTPS_PROXY" > "$1.tmp" && mv "$1.tmp" "$1" && exec sleep 3600`
	cmd := exec.Command(e.nono, "run", "-s", "--allow", e.work, "--allow-domain", originIP, "--", "sh", "-c", script, "sh", urlFile)
	cmd.Dir = e.work // nono asks before sharing a cwd it was not given
	logf, _ := os.Create(filepath.Join(e.work, "nono-host.log"))
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		return nil, nil, nil, nil, fmt.Errorf("starting nono run: %w", err)
	}
	stop := func() { stopProcess(cmd, 5*time.Second); logf.Close() }
	for deadline := time.Now().Add(15 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if b, err := os.ReadFile(urlFile); err == nil && len(b) > 0 {
			os.Remove(urlFile)
			return nil, []string{"-proxy-env", "NETBENCH_PROXY"}, []string{"NETBENCH_PROXY=" + string(b)}, stop, nil
		}
	}
	stop()
	return nil, nil, nil, nil, fmt.Errorf("nono run did not report its gateway within 15 s (see %s)", logf.Name())
}

func startTinyproxy(e *env) ([]string, []string, []string, func(), error) {
	bin, err := exec.LookPath("tinyproxy")
	if err != nil {
		return nil, nil, nil, nil, errors.New("tinyproxy not installed (apt-get install tinyproxy)")
	}
	dir, port, err := daemonDir(e, "tinyproxy")
	if err != nil {
		return nil, nil, nil, nil, err
	}
	user := ""
	if os.Getuid() == 0 {
		user = "User nobody\nGroup nogroup\n"
	}
	conf := fmt.Sprintf(`%sPort %d
Listen 127.0.0.1
Allow 127.0.0.1
ConnectPort %s
ConnectPort %s
LogFile "%s/tinyproxy.log"
LogLevel Error
PidFile "%s/tinyproxy.pid"
MaxClients 100
Timeout 600
`, user, port, portOf(e.origin.bulkAddr), portOf(e.origin.httpsAddr), dir, dir)
	cf := filepath.Join(dir, "tinyproxy.conf")
	if err := os.WriteFile(cf, []byte(conf), 0o644); err != nil {
		return nil, nil, nil, nil, err
	}
	return startDaemon(dir, port, bin, "-d", "-c", cf)
}

// forwarderArgs points the client at a plain port forwarder instead of the
// origin, for the bulk phase only. A forwarder has no CONNECT, so it is a
// ceiling reference, not a peer proxy: it does less than any proxy must.
func forwarderArgs(e *env, name string, port int) ([]string, error) {
	if !slices.Contains(strings.Split(e.phases, ","), "bulk") {
		return nil, fmt.Errorf("%s only measures the bulk phase; add bulk to -phases", name)
	}
	return []string{"-bulk", fmt.Sprintf("127.0.0.1:%d", port), "-https", "", "-phases", "bulk"}, nil
}

// startHAProxyTCP forwards a port to the bulk origin with HAProxy. Its best
// figure here came from 1 MiB buffers without splice: splice-auto with the
// default 16 KiB buffers moved 0.33x direct, forced splice with 1 MiB pipes
// about the same.
func startHAProxyTCP(e *env) ([]string, []string, []string, func(), error) {
	bin, err := exec.LookPath("haproxy")
	if err != nil {
		return nil, nil, nil, nil, errors.New("haproxy not installed (apt-get install haproxy)")
	}
	dir, port, err := daemonDir(e, "haproxy")
	if err != nil {
		return nil, nil, nil, nil, err
	}
	conf := fmt.Sprintf(`global
  maxconn 100
  tune.bufsize 1048576
defaults
  mode tcp
  timeout connect 5s
  timeout client 10m
  timeout server 10m
frontend bulk
  bind 127.0.0.1:%d
  default_backend origin
backend origin
  server o %s
`, port, e.origin.bulkAddr)
	cf := filepath.Join(dir, "haproxy.cfg")
	if err := os.WriteFile(cf, []byte(conf), 0o644); err != nil {
		return nil, nil, nil, nil, err
	}
	extra, err := forwarderArgs(e, "haproxy-tcp", port)
	if err != nil {
		return nil, nil, nil, nil, err
	}
	prefix, _, environ, stop, err := startDaemon(dir, port, bin, "-db", "-f", cf)
	if err != nil {
		return nil, nil, nil, nil, err
	}
	return prefix, extra, environ, stop, nil
}

// startSocatTCP forwards a port to the bulk origin with socat, whose plain
// read/write loop through a 4 MiB buffer is the same copy strategy as
// nono's tunnels after their first megabyte.
func startSocatTCP(e *env) ([]string, []string, []string, func(), error) {
	bin, err := exec.LookPath("socat")
	if err != nil {
		return nil, nil, nil, nil, errors.New("socat not installed (apt-get install socat)")
	}
	dir, port, err := daemonDir(e, "socat")
	if err != nil {
		return nil, nil, nil, nil, err
	}
	extra, err := forwarderArgs(e, "socat-tcp", port)
	if err != nil {
		return nil, nil, nil, nil, err
	}
	prefix, _, environ, stop, err := startDaemon(dir, port, bin, "-b", "4194304",
		fmt.Sprintf("TCP-LISTEN:%d,bind=127.0.0.1,reuseaddr,fork", port), "TCP:"+e.origin.bulkAddr)
	if err != nil {
		return nil, nil, nil, nil, err
	}
	return prefix, extra, environ, stop, nil
}

func startSquid(e *env) ([]string, []string, []string, func(), error) {
	bin, err := exec.LookPath("squid")
	if err != nil {
		return nil, nil, nil, nil, errors.New("squid not installed (apt-get install squid)")
	}
	dir, port, err := daemonDir(e, "squid")
	if err != nil {
		return nil, nil, nil, nil, err
	}
	conf := fmt.Sprintf(`http_port 127.0.0.1:%d
acl localnet src 127.0.0.0/8
http_access allow localnet
http_access deny all
access_log none
cache_log %s/cache.log
pid_filename %s/squid.pid
coredump_dir %s
cache deny all
shutdown_lifetime 1 seconds
`, port, dir, dir, dir)
	cf := filepath.Join(dir, "squid.conf")
	if err := os.WriteFile(cf, []byte(conf), 0o644); err != nil {
		return nil, nil, nil, nil, err
	}
	if os.Getuid() == 0 {
		if out, err := exec.Command("chown", "-R", "proxy:proxy", dir).CombinedOutput(); err != nil {
			return nil, nil, nil, nil, fmt.Errorf("chown proxy:proxy %s: %v %s", dir, err, out)
		}
	}
	// A service name of our own keeps shared memory (/dev/shm/<name>-*)
	// apart from other squids'; random, so a segment left by another
	// user's squid cannot collide.
	name := fmt.Sprintf("netbench%d%08x", port, rand.Uint32())
	prefix, args, environ, stop, err := startDaemon(dir, port, bin, "-N", "-n", name, "-f", cf)
	cleanShm := func() {
		shm, _ := filepath.Glob("/dev/shm/" + name + "-*")
		for _, f := range shm {
			os.Remove(f)
		}
	}
	if err != nil {
		cleanShm()
		return nil, nil, nil, nil, err
	}
	return prefix, args, environ, func() { stop(); cleanShm() }, nil
}

func daemonDir(e *env, name string) (string, int, error) {
	dir := filepath.Join(e.work, name)
	if err := os.MkdirAll(dir, 0o777); err != nil {
		return "", 0, err
	}
	os.Chmod(dir, 0o777) // the daemon drops privileges to its own user
	l, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		return "", 0, err
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	return dir, port, nil
}

// startDaemon runs a proxy in the foreground and waits for its port.
func startDaemon(dir string, port int, bin string, args ...string) ([]string, []string, []string, func(), error) {
	cmd := exec.Command(bin, args...)
	logf, _ := os.Create(filepath.Join(dir, filepath.Base(bin)+".out"))
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		return nil, nil, nil, nil, fmt.Errorf("starting %s: %w", bin, err)
	}
	stop := func() { stopProcess(cmd, 5*time.Second); logf.Close() }
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	for deadline := time.Now().Add(15 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if c, err := net.DialTimeout("tcp", addr, 100*time.Millisecond); err == nil {
			c.Close()
			return nil, []string{"-proxy", "http://" + addr}, nil, stop, nil
		}
	}
	stop()
	b, _ := os.ReadFile(logf.Name())
	return nil, nil, nil, nil, fmt.Errorf("%s did not listen on %s within 15 s:\n%s", bin, addr, b)
}

// stopProcess sends SIGTERM, then SIGKILL after grace.
func stopProcess(cmd *exec.Cmd, grace time.Duration) {
	_ = cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(grace):
		_ = cmd.Process.Kill()
		<-done
	}
}

func portOf(addr string) string {
	_, p, _ := net.SplitHostPort(addr)
	return p
}

// tail returns the last n lines of s.
func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// startRelay runs `netbench relay` and reads its URL from the first line.
func startRelay(e *env) ([]string, []string, []string, func(), error) {
	cmd := exec.Command(e.bin, "relay", "-for", "30m")
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, nil, nil, nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, nil, nil, nil, err
	}
	stop := func() { stopProcess(cmd, 5*time.Second) }
	line := make(chan string, 1)
	go func() {
		s := bufio.NewScanner(out)
		s.Scan()
		line <- s.Text()
		io.Copy(io.Discard, out)
	}()
	select {
	case u := <-line:
		if strings.HasPrefix(u, "http://") {
			return nil, []string{"-proxy", u}, nil, stop, nil
		}
	case <-time.After(10 * time.Second):
	}
	stop()
	return nil, nil, nil, nil, errors.New("netbench relay did not report its address")
}
