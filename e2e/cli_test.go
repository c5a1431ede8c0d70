package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
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
	oneClearError(t, e.nono("run", "--allow", e.work), "requires at least 1 arg")
	oneClearError(t, e.nono("frobnicate"), "unknown command")

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
	r := e.nono("run", "--allow", e.work, "--", "cat", filepath.Join(e.home, ".ssh/id_ed25519"))
	mustContain(t, r, r.stderr, "Command exited with code 1", ".ssh/id_ed25519", "Sandbox policy:")
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

func TestCapabilityElevationIsRefusedNotIgnored(t *testing.T) {
	e := newEnv(t)
	oneClearError(t, e.nonoEnv([]string{"NONO_CAPABILITY_ELEVATION=true"}, "run", "--allow", e.work, "--", "true"), "not implement")
	if r := e.nonoEnv([]string{"NONO_CAPABILITY_ELEVATION=0"}, "run", "--allow", e.work, "--", "true"); r.code != 0 {
		t.Fatalf("elevation off must run: %s", r)
	}
}
