package e2e

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// gatewayGone asserts nothing listens on port any more.
func gatewayGone(t *testing.T, port int) {
	t.Helper()
	if c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", port), time.Second); err == nil {
		c.Close()
		t.Fatalf("the gateway on port %d is still listening", port)
	}
}

func TestFaultUpstreamResetsAndHangs(t *testing.T) {
	g := newGW(t)
	port := freePort(t)
	r := g.run("run", "--allow", g.work, "--allow-domain", "origin.nono.test", "--proxy-port", fmt.Sprint(port), "--no-diagnostics", "--",
		"sh", "-c", fmt.Sprintf(`curl -sS -m 10 --cacert %[1]s -o /dev/null %[2]s; echo "reset=$?"; curl -sS -m 2 --cacert %[1]s %[3]s; echo "hang=$?"; curl -sS -m 5 --cacert %[1]s %[4]s; echo; echo "after=$?"`,
			g.origin.caFile, g.origin.url("origin.nono.test", "/reset"), g.origin.url("origin.nono.test", "/hang"), g.origin.url("origin.nono.test", "/")))
	if r.code != 0 {
		t.Fatalf("nono: %s", r)
	}
	mustContain(t, r, r.stdout, "hang=28", "hello from origin", "after=0")
	if strings.Contains(r.stdout, "reset=0") {
		t.Fatalf("a reset mid-stream looked like success: %s", r)
	}
	gatewayGone(t, port)
}

func TestFaultUpstreamProxyDies(t *testing.T) {
	g := newGW(t)
	sq := startSquid(t, g.env, fmt.Sprintf("%s origin.nono.test\n", originIP))
	go1 := filepath.Join(g.work, "go1")
	cmd := exec.CommandContext(testCtx(t), nonoBin, "run", "--allow", g.work, "--allow-domain", "origin.nono.test", "--upstream-proxy", sq.addr(), "--no-diagnostics", "--",
		"sh", "-c", fmt.Sprintf(`curl -sS -m 10 --cacert %[1]s %[2]s; echo; touch %[3]s.ready; while [ ! -e %[3]s ]; do sleep 0.05; done; curl -sS -v -m 10 --cacert %[1]s %[2]s 2>&1; echo "second=$?"`,
			g.origin.caFile, g.origin.url("origin.nono.test", "/"), go1))
	cmd.Dir, cmd.Env = g.work, append(baseEnv(g.home), "NONO_DNS_SERVER="+g.dns.addr)
	out := &strings.Builder{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 400; i++ {
		if _, err := os.Stat(go1 + ".ready"); err == nil {
			break
		}
		time.Sleep(25 * time.Millisecond)
	}
	// Kill squid between the two requests.
	exec.Command("pkill", "-KILL", "-f", "nonoe2e"+fmt.Sprint(sq.port)).Run()
	time.Sleep(200 * time.Millisecond)
	os.WriteFile(go1, nil, 0o644)
	if err := cmd.Wait(); err != nil {
		t.Fatalf("nono: %v\n%s", err, out)
	}
	s := out.String()
	if !strings.Contains(s, "hello from origin") || !strings.Contains(s, "502") || strings.Contains(s, "second=0") {
		t.Fatalf("want the first request through squid and a 502 once it died:\n%s", s)
	}
}

func TestFaultChildKilledStopsGateway(t *testing.T) {
	g := newGW(t)
	port := freePort(t)
	r := g.run("run", "--allow", g.work, "--allow-domain", "origin.nono.test", "--proxy-port", fmt.Sprint(port), "--no-diagnostics", "--", "sh", "-c", "kill -KILL $$")
	if r.code != 137 {
		t.Fatalf("want 137 for a SIGKILLed child: %s", r)
	}
	gatewayGone(t, port)
}

func TestFaultNonoSIGTERMStopsEverything(t *testing.T) {
	g := newGW(t)
	port := freePort(t)
	pidFile := filepath.Join(g.work, "pid")
	cmd := exec.CommandContext(testCtx(t), nonoBin, "run", "--allow", g.work, "--allow-domain", "origin.nono.test", "--proxy-port", fmt.Sprint(port), "--no-diagnostics", "--",
		"sh", "-c", "echo $$ > "+pidFile+"; exec sleep 60")
	cmd.Dir, cmd.Env = g.work, append(baseEnv(g.home), "NONO_DNS_SERVER="+g.dns.addr)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var pid int
	for i := 0; i < 400 && pid == 0; i++ {
		b, _ := os.ReadFile(pidFile)
		fmt.Sscanf(string(b), "%d", &pid)
		time.Sleep(25 * time.Millisecond)
	}
	if pid == 0 {
		t.Fatal("child did not start")
	}
	cmd.Process.Signal(syscall.SIGTERM)
	err := cmd.Wait()
	ee, ok := err.(*exec.ExitError)
	if !ok || ee.ExitCode() != 128+15 {
		t.Fatalf("want exit 143 after SIGTERM, got %v", err)
	}
	if syscall.Kill(pid, 0) == nil {
		if b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid)); !strings.Contains(string(b), ") Z ") {
			t.Fatalf("child %d survived", pid)
		}
	}
	gatewayGone(t, port)
}

func TestFaultStateDirUnwritable(t *testing.T) {
	e := newEnv(t)
	marker := filepath.Join(e.work, "ran")
	// No space for nono's session files: a file-size limit of zero makes
	// every write fail the way a full disk does.
	cmd := exec.Command("sh", "-c", `ulimit -f 0; exec "$0" run --allow "$1" --allow-domain x.test -- touch "$2"`, nonoBin, e.work, marker)
	cmd.Dir, cmd.Env = e.work, baseEnv(e.home)
	out, err := cmd.CombinedOutput()
	ee, ok := err.(*exec.ExitError)
	if !ok || ee.ExitCode() != 1 {
		t.Fatalf("want exit 1 when nono cannot write its files, got %v:\n%s", err, out)
	}
	if !strings.HasPrefix(string(out), "nono: ") || strings.Contains(string(out), "goroutine") {
		t.Fatalf("want one clear error:\n%s", out)
	}
	if _, err := os.Stat(marker); err == nil {
		t.Fatal("the command ran although nono could not set up its session")
	}
	if os.Getuid() != 0 {
		return
	}
	// As root, also a genuinely full filesystem as TMPDIR.
	full := filepath.Join(e.root, "full")
	os.MkdirAll(full, 0o755)
	if err := exec.Command("mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", full).Run(); err != nil {
		t.Logf("cannot mount a small tmpfs (%v); the file-size limit case above stands", err)
		return
	}
	defer exec.Command("umount", full).Run()
	exec.Command("dd", "if=/dev/zero", "of="+filepath.Join(full, "fill"), "bs=4k", "count=100").Run()
	r := e.nonoEnv([]string{"TMPDIR=" + full}, "run", "--allow", e.work, "--", "touch", marker)
	if r.code != 1 || !strings.Contains(r.stderr, "nono: ") {
		t.Fatalf("want a clear error with a full TMPDIR: %s", r)
	}
	if _, err := os.Stat(marker); err == nil {
		t.Fatal("the command ran although nono could not write its session files")
	}
}
