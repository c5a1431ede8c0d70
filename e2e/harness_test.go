package e2e

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

var nonoBin string

func TestMain(m *testing.M) {
	nonoBin = os.Getenv("NONO_BIN")
	if nonoBin == "" {
		dir, err := os.MkdirTemp("/var/tmp", "nono-e2e-bin-")
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		nonoBin = filepath.Join(dir, "nono")
		// nono-op, the 1Password SDK helper, goes next to nono, where nono
		// looks for it first.
		for _, name := range []string{"nono", "nono-op"} {
			b := exec.Command("go", "build", "-o", filepath.Join(dir, name), "../cmd/"+name)
			b.Env = append(os.Environ(), "CGO_ENABLED=0")
			b.Stdout, b.Stderr = os.Stderr, os.Stderr
			if err := b.Run(); err != nil {
				fmt.Fprintf(os.Stderr, "building %s: %v\n", name, err)
				os.Exit(1)
			}
		}
		code := m.Run()
		os.RemoveAll(dir)
		os.Exit(finish(code))
	}
	os.Exit(finish(m.Run()))
}

// transcript keeps everything nono and its children printed in this run,
// so finish can prove no test secret ever appeared in any of it.
var (
	transcriptMu sync.Mutex
	transcript   strings.Builder
)

func record(r result) {
	transcriptMu.Lock()
	transcript.WriteString(r.stdout)
	transcript.WriteString(r.stderr)
	transcriptMu.Unlock()
}

// finish fails the run if a real test credential shows up anywhere in the
// captured output of the whole suite.
func finish(code int) int {
	transcriptMu.Lock()
	all := transcript.String()
	transcriptMu.Unlock()
	for _, s := range []string{openaiSecret, anthropicSecret} {
		if n := strings.Count(all, s); n > 0 {
			fmt.Fprintf(os.Stderr, "FAIL: a test secret appeared %d times in captured output\n", n)
			return 1
		}
	}
	return code
}

// env is a hermetic test world: a fake HOME with secrets in the usual
// places and a workspace, under /var/tmp (the default profile grants /tmp).
type env struct {
	t    *testing.T
	root string
	home string
	work string
}

func newEnv(t *testing.T) *env {
	t.Helper()
	d, err := os.MkdirTemp("/var/tmp", "nono-e2e-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(d) })
	d, _ = filepath.EvalSymlinks(d)
	os.Chmod(d, 0o755)
	e := &env{t: t, root: d, home: filepath.Join(d, "home"), work: filepath.Join(d, "work")}
	for _, p := range []string{e.home, e.work, filepath.Join(e.home, ".ssh")} {
		if err := os.MkdirAll(p, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	e.write(".ssh/id_ed25519", "SECRET-SSH-KEY")
	e.write(".bashrc", "# rc")
	return e
}

// write creates a file under HOME.
func (e *env) write(rel, content string) string {
	p := filepath.Join(e.home, rel)
	os.MkdirAll(filepath.Dir(p), 0o755)
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		e.t.Fatal(err)
	}
	return p
}

type result struct {
	stdout, stderr string
	code           int
}

func (r result) String() string {
	return fmt.Sprintf("exit %d\nstdout: %s\nstderr: %s", r.code, r.stdout, r.stderr)
}

// nono runs the binary with HOME set to the fake home, in the workspace.
func (e *env) nono(args ...string) result {
	return e.nonoEnv(nil, args...)
}

func (e *env) nonoEnv(extra []string, args ...string) result {
	e.t.Helper()
	return e.runBin(nonoBin, extra, args...)
}

// runBin runs bin (a nono binary) like nonoEnv runs the one under test.
func (e *env) runBin(bin string, extra []string, args ...string) result {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Dir = e.work
	cmd.Env = append(baseEnv(e.home), extra...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	if err != nil {
		ee, ok := err.(*exec.ExitError)
		if !ok {
			e.t.Fatalf("running nono: %v", err)
		}
		code = ee.ExitCode()
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			code = 128 + int(ws.Signal())
		}
	}
	r := result{out.String(), errb.String(), code}
	record(r)
	return r
}

func baseEnv(home string) []string {
	return []string{
		"HOME=" + home,
		"PATH=/usr/local/bin:/usr/bin:/bin",
		"TMPDIR=/tmp",
		"LANG=C",
	}
}

// mustContain fails unless s contains every want.
func mustContain(t *testing.T, r result, s string, wants ...string) {
	t.Helper()
	for _, w := range wants {
		if !strings.Contains(s, w) {
			t.Fatalf("missing %q in output\n%s", w, r)
		}
	}
}

// testCtx bounds a nono started directly by a test, so a hang fails that
// test instead of stalling the whole suite.
func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	t.Cleanup(cancel)
	return ctx
}
