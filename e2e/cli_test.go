package e2e

import (
	"bytes"
	"errors"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// oneClearError asserts exit 1, a "nono: " error and no Go panic or trace.
func oneClearError(t *testing.T, r result, want string) {
	t.Helper()
	if r.code != 1 {
		t.Fatalf("want exit 1: %s", r)
	}
	if strings.Contains(r.stderr, "panic") || strings.Contains(r.stderr, "goroutine ") {
		t.Fatalf("stack trace on bad input: %s", r)
	}
	if !strings.HasPrefix(r.stderr, "nono: ") || !strings.Contains(r.stderr, want) {
		t.Fatalf("want a 'nono: ...%s' error: %s", want, r)
	}
	if n := strings.Count(strings.TrimSpace(r.stderr), "\n"); n > 6 {
		t.Fatalf("error is not short (%d lines): %s", n, r)
	}
}

func TestBadInput(t *testing.T) {
	e := newEnv(t)
	oneClearError(t, e.nono("run", "--no-such-flag", "--", "true"), "unknown flag: --no-such-flag")
	oneClearError(t, e.nono("run", "--read", filepath.Join(e.root, "missing"), "--", "true"), "missing")
	oneClearError(t, e.nonoEnv([]string{"NONO_BLOCK_NET=maybe"}, "run", "--allow", e.work, "--", "true"), "NONO_BLOCK_NET")
	oneClearError(t, e.nono("run", "--block-net", "--allow-net", "--", "true"), "conflict")
	oneClearError(t, e.nonoEnv([]string{"NONO_BLOCK_NET=yes", "NONO_ALLOW_NET=1"}, "run", "--", "true"), "conflict")
	oneClearError(t, e.nono("run", "--allow", e.work), "no command given: use 'nono run [OPTIONS] -- COMMAND [ARGS...]'")
	oneClearError(t, e.nono("wrap"), "no command given: use 'nono wrap [OPTIONS] -- COMMAND [ARGS...]'")
	oneClearError(t, e.nono("frobnicate"), "unknown command")
	oneClearError(t, e.nono("shell", "--allow", e.work, "make", "test"), "shell takes no command; to run one in the sandbox, use 'nono run [OPTIONS] -- make test'")
	oneClearError(t, e.nono("profile", "show"), "accepts 1 arg(s), received 0 (usage: nono profile show PROFILE [--json])")

	prof := filepath.Join(e.root, "bad.json")
	os.WriteFile(prof, []byte(`{"meta": {"name": "bad"}, "filesytem": {"allow": ["/tmp"]}}`), 0o644)
	oneClearError(t, e.nono("run", "--profile", prof, "--", "true"), "filesytem")
}

func TestEnvEquivalents(t *testing.T) {
	needPython(t)
	e := newEnv(t)
	r := e.nonoEnv([]string{"NONO_ALLOW=" + e.work, "NONO_BLOCK_NET=true"}, "run", "--", python, "-c", `
import socket
try:
    socket.socket(socket.AF_INET, socket.SOCK_STREAM); print("net-open")
except OSError: print("net-blocked")
open("f", "w").write("x"); print("wrote")`)
	mustContain(t, r, r.stdout, "net-blocked", "wrote")
	// Flags win over the environment.
	r = e.nonoEnv([]string{"NONO_BLOCK_NET=true"}, "run", "--allow", e.work, "--block-net=false", "--", python, "-c",
		"import socket; socket.socket(socket.AF_INET, socket.SOCK_STREAM); print('net-open')")
	mustContain(t, r, r.stdout, "net-open")
}

func TestChildEnvironment(t *testing.T) {
	e := newEnv(t)
	r := e.nonoEnv([]string{"LD_PRELOAD=/evil.so", "BASH_ENV=/evil", "NODE_OPTIONS=--require /evil", "OP_SERVICE_ACCOUNT_TOKEN=ops_x", "KEEP_ME=1"},
		"run", "--allow", e.work, "--", "env")
	if r.code != 0 {
		t.Fatal(r)
	}
	for _, bad := range []string{"LD_PRELOAD", "BASH_ENV", "NODE_OPTIONS", "OP_SERVICE_ACCOUNT_TOKEN"} {
		if strings.Contains(r.stdout, bad+"=") {
			t.Errorf("%s reached the child", bad)
		}
	}
	mustContain(t, r, r.stdout, "KEEP_ME=1", "NONO_SANDBOX=1", "NONO_CAP_FILE=")
}

func TestSetupCheckOnly(t *testing.T) {
	e := newEnv(t)
	r := e.nono("setup", "--check-only")
	if r.code != 0 {
		t.Fatal(r)
	}
	mustContain(t, r, r.stdout, "Landlock: ABI", "seccomp user notification", "Which layer enforces each rule here", "filesystem read/write grants", "proxy mode (gateway)", "developer")
}

func TestFooterExplainsDenial(t *testing.T) {
	e := newEnv(t)
	key := filepath.Join(e.home, ".ssh/id_ed25519")
	r := e.nono("run", "--allow", e.work, "--", "cat", key)
	mustContain(t, r, r.stderr, "Command exited with code 1", ".ssh/id_ed25519", "Sandbox policy:",
		"protected by nono's deny_credentials group", "--bypass-protection lifts a protection")
	// A deny rule is not lifted by --read: the footer suggests the grant
	// plus the bypass of the rule, and following it verbatim works.
	fix := ""
	for _, l := range strings.Split(r.stderr, "\n") {
		if l = strings.TrimSpace(l); strings.HasPrefix(l, "--read-file ") && strings.Contains(l, "--bypass-protection") {
			fix = l
		}
	}
	if want := "--read-file " + key + " --bypass-protection " + filepath.Join(e.home, ".ssh"); fix != want {
		t.Fatalf("footer fix %q, want %q:\n%s", fix, want, r)
	}
	args := append([]string{"run", "--allow", e.work}, strings.Fields(fix)...)
	if r2 := e.nono(append(args, "--", "cat", key)...); r2.code != 0 || r2.stdout == "" {
		t.Fatalf("following the footer's suggestion: %s", r2)
	}
	r = e.nono("run", "--no-diagnostics", "--allow", e.work, "--", "cat", filepath.Join(e.home, ".ssh/id_ed25519"))
	if strings.Contains(r.stderr, "Sandbox policy:") {
		t.Fatalf("--no-diagnostics still printed the footer: %s", r)
	}
	outside := filepath.Join(e.root, "data")
	os.MkdirAll(outside, 0o755)
	os.WriteFile(filepath.Join(outside, "x"), []byte("x"), 0o644)
	r = e.nono("run", "--allow", e.work, "--", "cat", filepath.Join(outside, "x"))
	mustContain(t, r, r.stderr, "--read")
	r = e.nono("-s", "run", "--allow", e.work, "--", "cat", filepath.Join(outside, "x"))
	if strings.Contains(r.stderr, "[nono]") {
		t.Fatalf("--silent printed nono output: %s", r)
	}
}

// TestFooterNetworkFailure: when all the command reported was a network
// failure under --block-net, the footer points at the network flag and at
// `why --host`, not at path grants that cannot help.
func TestFooterNetworkFailure(t *testing.T) {
	e := newEnv(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	r := e.nono("run", "--allow", e.work, "--block-net", "--", "curl", "-sS", "http://"+ln.Addr().String()+"/")
	if r.code == 0 {
		t.Fatalf("curl reached a loopback listener under --block-net: %s", r)
	}
	mustContain(t, r, r.stderr, "Network access is blocked (--block-net); the command printed: curl:",
		"--allow-net        unrestricted network for this session", "Explain a host with: nono why --host")
	if strings.Contains(r.stderr, "--read <path>") || strings.Contains(r.stderr, "Explain any path") {
		t.Fatalf("path hints for a network failure: %s", r)
	}
}

// TestFooterWriteOnlyTemp: /tmp is granted write-only, so mkstemp (which
// opens for reading and writing) fails although "write" is granted. The
// footer must say so, not blame something outside nono, and its recipe (a
// temporary directory of the command's own) must work when followed.
func TestFooterWriteOnlyTemp(t *testing.T) {
	e := newEnv(t)
	script := `f=$(mktemp) && echo temp-ok > "$f" && cat "$f"`
	r := e.nono("run", "--allow", e.work, "--", "sh", "-c", script)
	if r.code == 0 {
		t.Fatalf("mktemp in write-only /tmp succeeded: %s", r)
	}
	mustContain(t, r, r.stderr, "/tmp is granted write-only, so a file there cannot be opened for reading",
		"TMPDIR=~/.cache/nono-tmp nono run --allow ~/.cache/nono-tmp")
	if strings.Contains(r.stderr, "but the policy grants it") || strings.Contains(r.stderr, "--read-file /tmp/") {
		t.Fatalf("misleading advice for a write-only temp dir: %s", r)
	}
	tmp := filepath.Join(e.home, ".cache/nono-tmp")
	if err := os.MkdirAll(tmp, 0o700); err != nil {
		t.Fatal(err)
	}
	r = e.nonoEnv([]string{"TMPDIR=" + tmp}, "run", "--allow", e.work, "--allow", tmp, "--", "sh", "-c", script)
	if r.code != 0 || !strings.Contains(r.stdout, "temp-ok") {
		t.Fatalf("following the footer's temp-dir recipe: %s", r)
	}
	// The user's own write-only grant gets the flag that adds reading, not the temp recipe.
	out := filepath.Join(e.root, "out")
	os.MkdirAll(out, 0o755)
	r = e.nono("run", "--allow", e.work, "--write", out, "--", "sh", "-c", "echo x > "+out+"/f; cat "+out+"/f")
	mustContain(t, r, r.stderr, out+" is granted write-only", "--allow "+out+"     (read and write, instead of --write)")
	if strings.Contains(r.stderr, "nono-tmp") {
		t.Fatalf("temp recipe for a --write grant: %s", r)
	}
}

// TestBackgroundWriterDoesNotHoldNono: a process the command leaves running
// keeps the stderr pipe nono tees for the footer. nono must still exit with
// the command's code at once (not when that process ends), and what the
// process writes to stderr afterwards must still arrive (not EPIPE).
func TestBackgroundWriterDoesNotHoldNono(t *testing.T) {
	e := newEnv(t)
	fifo := filepath.Join(e.work, "release")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	errPath := filepath.Join(e.root, "stderr")
	errf, err := os.Create(errPath)
	if err != nil {
		t.Fatal(err)
	}
	defer errf.Close()
	cmd := exec.Command(nonoBin, "run", "--allow", e.work, "--",
		"sh", "-c", `(read x < release; echo late-line >&2) & echo early-line >&2; exit 3`)
	cmd.Dir, cmd.Env, cmd.Stderr = e.work, baseEnv(e.home), errf // a file: nono's stderr is not a terminal
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.ExitCode() != 3 {
			t.Fatalf("nono: %v, want exit 3", err)
		}
	case <-time.After(30 * time.Second):
		cmd.Process.Kill()
		os.WriteFile(fifo, []byte("x\n"), 0)
		t.Fatal("nono did not exit while a background process held the command's stderr")
	}
	// Only now does the background process write.
	if err := os.WriteFile(fifo, []byte("x\n"), 0); err != nil {
		t.Fatal(err)
	}
	var got []byte
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if got, _ = os.ReadFile(errPath); bytes.Contains(got, []byte("late-line")) {
			break
		}
	}
	for _, want := range []string{"early-line", "Command exited with code 3", "late-line"} {
		if !bytes.Contains(got, []byte(want)) {
			t.Fatalf("stderr lacks %q:\n%s", want, got)
		}
	}
}

func TestCapabilityElevationIsRefusedNotIgnored(t *testing.T) {
	e := newEnv(t)
	oneClearError(t, e.nonoEnv([]string{"NONO_CAPABILITY_ELEVATION=true"}, "run", "--allow", e.work, "--", "true"), "not implement")
	if r := e.nonoEnv([]string{"NONO_CAPABILITY_ELEVATION=0"}, "run", "--allow", e.work, "--", "true"); r.code != 0 {
		t.Fatalf("elevation off must run: %s", r)
	}
}

// TestCwdSharing: the seed's --allow-cwd rules. Outside a terminal nono never
// hangs: it skips the prompt with the reference's line, says where the
// command starts and starts it in /; --silent refuses instead; --allow-cwd
// shares the cwd (read-only without a profile); on a terminal it asks, and
// the answer decides.
func TestCwdSharing(t *testing.T) {
	e := newEnv(t)
	other := filepath.Join(e.root, "other")
	if err := os.MkdirAll(other, 0o755); err != nil {
		t.Fatal(err)
	}
	r := e.nono("run", "--allow", other, "--", "pwd")
	if r.code != 0 || strings.TrimSpace(r.stdout) != "/" {
		t.Fatalf("non-interactive run without --allow-cwd: want the command in /: %s", r)
	}
	mustContain(t, r, r.stderr, "Skipping CWD prompt (non-interactive). Use --allow-cwd to include working directory.",
		"Starting the command in / because "+e.work+" is not shared with the sandbox (--allow-cwd shares it).")

	oneClearError(t, e.nono("-s", "run", "--allow", other, "--", "pwd"), "CWD access requires --allow-cwd in non-interactive mode")

	r = e.nono("run", "--allow", other, "--allow-cwd", "--", "sh", "-c", "pwd; ls >/dev/null && echo listed; touch x 2>/dev/null && echo wrote || echo read-only")
	if r.code != 0 || r.stdout != e.work+"\nlisted\nread-only\n" || strings.Contains(r.stderr, "Skipping") {
		t.Fatalf("--allow-cwd without a profile: want the cwd shared read-only: %s", r)
	}

	// On a terminal: a pty from python3, answering the prompt.
	driver := `import os, pty, sys
pid, fd = pty.fork()
if pid == 0:
    os.execv(sys.argv[1], sys.argv[1:])
out, answered = b"", False
while True:
    try:
        data = os.read(fd, 4096)
    except OSError:
        break
    if not data:
        break
    out += data
    if not answered and b"[y/N]" in out:
        os.write(fd, os.environ["ANSWER"].encode() + b"\n")
        answered = True
_, status = os.waitpid(pid, 0)
sys.stdout.write(out.decode(errors="replace"))
sys.exit(os.waitstatus_to_exitcode(status))
`
	for answer, want := range map[string]string{"y": e.work, "n": "/"} {
		ctx := testCtx(t)
		cmd := exec.CommandContext(ctx, "python3", "-c", driver, nonoBin, "run", "--allow", other, "--", "pwd")
		cmd.Dir = e.work
		cmd.Env = append(baseEnv(e.home), "ANSWER="+answer)
		out, err := cmd.CombinedOutput()
		text := strings.ReplaceAll(string(out), "\r\n", "\n")
		if err != nil || !strings.Contains(text, "Share "+e.work+" with read access?") || !strings.HasSuffix(strings.TrimRight(text, "\n"), "\n"+want) {
			t.Fatalf("answering %q on a terminal: want the prompt, then the command in %s (err %v):\n%s", answer, want, err, text)
		}
	}
}
