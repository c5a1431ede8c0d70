package credentials

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestMain turns this test binary into a fake nono-op when it is run under
// that name (tests symlink it as <dir>/nono-op). The token, which nono
// passes in OP_SERVICE_ACCOUNT_TOKEN, selects the behaviour; the well-behaved
// one serves the fake SDK through ServeOPHelper, the function nono-op uses.
func TestMain(m *testing.M) {
	if filepath.Base(os.Args[0]) == OPHelperName {
		os.Exit(fakeOPHelper(os.Getenv(OPServiceAccountTokenVar)))
	}
	os.Exit(m.Run())
}

func fakeOPHelper(token string) int {
	ctx := context.Background()
	in := newOPRequestReader(os.Stdin)
	greetAndRead := func() {
		_ = writeOPFrame(os.Stdout, true, []byte(opGreeting))
		_, _ = readOPRequest(in)
	}
	switch {
	case strings.HasPrefix(token, "fake-ok"):
		if err := ServeOPHelper(ctx, os.Stdin, os.Stdout, token, newFakeOPResolver); err != nil {
			fmt.Fprintln(os.Stderr, "fake nono-op:", err)
			return 1
		}
		return 0
	case strings.HasPrefix(token, "fake-init-fail"):
		err := ServeOPHelper(ctx, os.Stdin, os.Stdout, token, func(_ context.Context, tok string) (OPSecretResolver, error) {
			return nil, errors.New("error initializing client: invalid service account token " + tok)
		})
		fmt.Fprintln(os.Stderr, "fake nono-op:", err)
		return 1
	case token == "fake-slow-start":
		time.Sleep(fakeHang)
	case token == "fake-exit":
		fmt.Fprintln(os.Stderr, "\x1b[31mboom: cannot start\x1b[0m with "+token)
		return 1
	case token == "fake-die":
		greetAndRead()
		os.Stdout.WriteString("OK 00000010\nabc")
		fmt.Fprintln(os.Stderr, "fake nono-op crashed")
		return 3
	case token == "fake-oversize":
		greetAndRead()
		fmt.Fprintf(os.Stdout, "OK %08d\n", MaxSecretSize+1)
		time.Sleep(fakeHang)
	case token == "fake-garbage":
		os.Stdout.WriteString("sk-leaky-value-42\n")
		time.Sleep(fakeHang)
	case token == "fake-old-protocol":
		_ = writeOPFrame(os.Stdout, true, []byte("nono-op/0"))
		time.Sleep(fakeHang)
	}
	fmt.Fprintln(os.Stderr, "fake nono-op: unknown mode")
	return 2
}

// fakeOPDir returns a directory holding a nono executable (an empty file)
// and a nono-op that is this test binary.
func fakeOPDir(t *testing.T) string {
	t.Helper()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "nono"), nil)
	if err := os.Symlink(self, filepath.Join(dir, OPHelperName)); err != nil {
		t.Fatal(err)
	}
	return dir
}

// newFakeOP returns a OnePassword with the token set whose nono-op is the
// fake, found next to the executable; PATH is never consulted.
func newFakeOP(t *testing.T, token string) *OnePassword {
	t.Helper()
	dir := fakeOPDir(t)
	o := &OnePassword{
		Token:      func() string { return token },
		Executable: func() (string, error) { return filepath.Join(dir, "nono"), nil },
		LookPath: func(f string) (string, error) {
			t.Errorf("LookPath(%q) although nono-op is next to the executable", f)
			return "", errors.New("not found")
		},
	}
	t.Cleanup(func() { _ = o.Close() })
	return o
}

// bounded loads ref with a timeout, failing the test if it took longer than
// the timeout plus the helper's kill delay.
func bounded(t *testing.T, o *OnePassword, ref string, timeout time.Duration) (*Secret, error) {
	t.Helper()
	r := &Resolver{Backends: map[Scheme]Loader{SchemeOnePassword: o}, Timeout: timeout}
	start := time.Now()
	s, err := r.Load(context.Background(), MustParseRef(ref))
	if d := time.Since(start); d > timeout+opWaitDelay+time.Second {
		t.Fatalf("%s took %v", ref, d)
	}
	return s, err
}

func helperPid(t *testing.T, o *OnePassword) int {
	t.Helper()
	s, err := bounded(t, o, "op://V/Pid/f", 20*time.Second)
	if err != nil {
		t.Fatalf("pid: %v", err)
	}
	pid, err := strconv.Atoi(string(s.Bytes()))
	if err != nil {
		t.Fatal(err)
	}
	return pid
}

func processGone(pid int) bool {
	return errors.Is(syscall.Kill(pid, 0), syscall.ESRCH)
}

func TestOnePasswordSDKHelper(t *testing.T) {
	const token = "fake-ok-token"
	t.Setenv("NONO_TEST_NOT_FOR_HELPER", "1")
	t.Setenv("HTTPS_PROXY", "http://127.0.0.1:9")
	o := newFakeOP(t, token)
	ctx := context.Background()

	for range 2 {
		s, err := o.Load(ctx, MustParseRef("op://V/I/f"))
		if err != nil || string(s.Bytes()) != "sdk-secret" {
			t.Fatalf("load: %v, %v", s, err)
		}
	}
	pid := helperPid(t, o)

	_, err := o.Load(ctx, MustParseRef("op://V/Missing/f"))
	if err == nil || !strings.Contains(err.Error(), "op://V/Missing/f") || !strings.Contains(err.Error(), "secret reference not found") {
		t.Fatalf("missing: err = %v", err)
	}
	if _, err := o.Load(ctx, MustParseRef("op://V/Bad/f")); !errors.Is(err, ErrUnsafeSecret) || strings.Contains(err.Error(), "Injected") {
		t.Fatalf("CRLF: err = %v", err)
	}
	if s, err := o.Load(ctx, MustParseRef("op://V/Max/f")); err != nil || s.Len() != MaxSecretSize {
		t.Fatalf("MaxSecretSize value: %d bytes, %v", s.Len(), err)
	}
	if _, err := o.Load(ctx, MustParseRef("op://V/Big/f")); err == nil || !strings.Contains(err.Error(), "larger than") {
		t.Fatalf("oversized value: err = %v", err)
	}
	_, err = o.Load(ctx, MustParseRef("op://V/Leak/f"))
	if err == nil || !strings.Contains(err.Error(), "denied") || strings.ContainsAny(err.Error(), "\x1b\n") ||
		strings.Contains(err.Error(), token) || strings.Contains(err.Error(), "leaked-value") {
		t.Fatalf("SDK error not scrubbed: %q", err)
	}

	s, err := o.Load(ctx, MustParseRef("op://V/Env/f"))
	if err != nil {
		t.Fatal(err)
	}
	env := " " + string(s.Bytes()) + " "
	for _, want := range []string{" " + OPServiceAccountTokenVar + "=" + token + " ", " HOME=", " PATH=", " HTTPS_PROXY=http://127.0.0.1:9 "} {
		if !strings.Contains(env, want) {
			t.Errorf("helper environment lacks %q: %s", want, env)
		}
	}
	if strings.Contains(env, "NONO_TEST_NOT_FOR_HELPER") {
		t.Errorf("helper got nono's whole environment: %s", env)
	}

	if again := helperPid(t, o); again != pid {
		t.Fatalf("a second helper (pid %d, first %d) for one OnePassword; refusals must not end it", again, pid)
	}
	if err := o.Close(); err != nil {
		t.Fatalf("close: %v", err)
	}
	if !processGone(pid) {
		t.Fatalf("helper %d still exists after Close", pid)
	}
	if next := helperPid(t, o); next == pid {
		t.Fatal("Load after Close reused the ended helper")
	}
}

func TestOnePasswordSDKHelperInitFailure(t *testing.T) {
	o := newFakeOP(t, "fake-init-fail-S3CR3T")
	_, err := bounded(t, o, "op://V/I/f", 20*time.Second)
	if err == nil || !strings.Contains(err.Error(), OPServiceAccountTokenVar) ||
		!strings.Contains(err.Error(), "invalid service account token") || strings.Contains(err.Error(), "S3CR3T") {
		t.Fatalf("err = %v", err)
	}
}

func TestOnePasswordSDKHelperBroken(t *testing.T) {
	for _, tc := range []struct {
		token string
		want  []string
	}{
		{"fake-exit", []string{"closed its output", "exit status 1", "boom: cannot start with " + redacted}},
		{"fake-die", []string{"resolving op://V/I/f", "truncated frame (3 of 10", "exit status 3", "fake nono-op crashed"}},
		{"fake-oversize", []string{"more than the 65536-byte limit"}},
		{"fake-garbage", []string{"malformed frame header"}},
		{"fake-old-protocol", []string{"does not speak protocol nono-op/1"}},
	} {
		t.Run(tc.token, func(t *testing.T) {
			o := newFakeOP(t, tc.token)
			_, err := bounded(t, o, "op://V/I/f", 20*time.Second)
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error lacks %q: %v", w, err)
				}
			}
			if strings.Contains(err.Error(), "leaky") || strings.Contains(err.Error(), "\x1b") {
				t.Errorf("error echoes the helper's output: %q", err)
			}
			if o.helper != nil {
				t.Error("the broken helper was kept")
			}
		})
	}
}

func TestOnePasswordSDKHelperTimeout(t *testing.T) {
	o := newFakeOP(t, "fake-ok-token")
	pid := helperPid(t, o)
	_, err := bounded(t, o, "op://V/Hang/f", 300*time.Millisecond)
	if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "op://V/Hang/f") {
		t.Fatalf("hanging resolve: err = %v", err)
	}
	if !processGone(pid) {
		t.Fatalf("the hanging helper %d was not killed and reaped", pid)
	}
	if next := helperPid(t, o); next == pid {
		t.Fatal("the killed helper was reused")
	}

	slow := newFakeOP(t, "fake-slow-start")
	if _, err := bounded(t, slow, "op://V/I/f", 300*time.Millisecond); !errors.Is(err, context.DeadlineExceeded) ||
		!strings.Contains(err.Error(), "starting") {
		t.Fatalf("hanging start: err = %v", err)
	}
}

// TestOnePasswordSDKHelperLocation: nono-op next to the executable, with
// symlinks resolved, wins over PATH; PATH is the fallback.
func TestOnePasswordSDKHelperLocation(t *testing.T) {
	real := fakeOPDir(t)
	links := t.TempDir()
	if err := os.Symlink(filepath.Join(real, "nono"), filepath.Join(links, "nono")); err != nil {
		t.Fatal(err)
	}
	decoy := t.TempDir()
	writeFile(t, filepath.Join(decoy, OPHelperName), nil)
	if err := os.Chmod(filepath.Join(decoy, OPHelperName), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", decoy)
	o := &OnePassword{
		Token:      func() string { return "fake-ok-token" },
		Executable: func() (string, error) { return filepath.Join(links, "nono"), nil },
	}
	defer o.Close()
	if s, err := bounded(t, o, "op://V/I/f", 20*time.Second); err != nil || string(s.Bytes()) != "sdk-secret" {
		t.Fatalf("next to the resolved executable: %v, %v", s, err)
	}

	t.Setenv("PATH", real)
	onPath := &OnePassword{
		Token:      func() string { return "fake-ok-token" },
		Executable: func() (string, error) { return filepath.Join(decoy, "nono"), nil }, // no such file
	}
	defer onPath.Close()
	if s, err := bounded(t, onPath, "op://V/I/f", 20*time.Second); err != nil || string(s.Bytes()) != "sdk-secret" {
		t.Fatalf("from PATH: %v, %v", s, err)
	}
}

// TestOnePasswordSDKHelperNotFound: without nono-op the load fails and says
// how to get it; it never falls back to the op CLI.
func TestOnePasswordSDKHelperNotFound(t *testing.T) {
	installStubOP(t)
	t.Setenv("PATH", filepath.SplitList(os.Getenv("PATH"))[0]) // only the stub op
	t.Setenv(OPServiceAccountTokenVar, "ops_sometoken")
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "nono"), nil)
	o := &OnePassword{Executable: func() (string, error) { return filepath.Join(dir, "nono"), nil }}
	s, err := o.Load(context.Background(), MustParseRef("op://Development/OpenAI/credential"))
	if err == nil {
		t.Fatalf("loaded %v without nono-op (fell back to the op CLI?)", s)
	}
	for _, w := range []string{OPServiceAccountTokenVar + " is set, which selects the 1Password SDK", "nono-op",
		"next to nono (in " + dir + ")", "go tool task build", "go install github.com/nono-sandbox/nono/cmd/nono-op@latest",
		"unset " + OPServiceAccountTokenVar, "`op` CLI"} {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error lacks %q: %v", w, err)
		}
	}
	if strings.Contains(err.Error(), "ops_sometoken") {
		t.Errorf("error shows the token: %v", err)
	}
}
