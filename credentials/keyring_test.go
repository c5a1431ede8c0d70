package credentials

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/godbus/dbus/v5"
	"github.com/zalando/go-keyring"
)

// childEnv marks a re-executed test binary and says which checks to run.
const childEnv = "NONO_CREDENTIALS_TEST_CHILD"

// childPassed is printed by a child that ran its checks, so the parent can
// tell "ran and passed" from "silently skipped".
const childPassed = "NONO-CHILD-CHECKS-PASSED"

// reexec runs this test binary again (only the named test) with extra env
// under the given wrapper command, and fails unless the child reports that
// its checks ran and passed.
func reexec(t *testing.T, test, mode string, env []string, wrapper ...string) {
	t.Helper()
	home := t.TempDir()
	runtimeDir := filepath.Join(home, "run")
	if err := os.Mkdir(runtimeDir, 0o700); err != nil {
		t.Fatal(err)
	}
	args := append(wrapper, os.Args[0], "-test.run=^"+test+"$", "-test.v", "-test.count=1")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, args[0], args[1:]...)
	// gnome-keyring-daemon daemonizes and may outlive the D-Bus session while
	// holding the output pipe: its own process group, killed afterwards, and a
	// bound on waiting for the pipe after the child exited.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.WaitDelay = 10 * time.Second
	defer func() {
		if cmd.Process != nil {
			syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		}
	}()
	cmd.Env = append(os.Environ(),
		childEnv+"="+mode,
		"HOME="+home,
		"XDG_DATA_HOME="+filepath.Join(home, "data"),
		"XDG_RUNTIME_DIR="+runtimeDir,
	)
	cmd.Env = append(cmd.Env, env...)
	out, err := cmd.CombinedOutput()
	if errors.Is(err, exec.ErrWaitDelay) {
		err = nil // the test binary finished; a lingering daemon held the pipe
	}
	if err != nil || !strings.Contains(string(out), childPassed) {
		t.Fatalf("child %s (%s) failed: %v\n%s", test, mode, err, out)
	}
	t.Logf("child output:\n%s", out)
}

func needSecretServiceTools(t *testing.T) {
	for _, bin := range []string{"dbus-run-session", "dbus-daemon", "gnome-keyring-daemon", "secret-tool"} {
		if _, err := exec.LookPath(bin); err != nil {
			t.Skipf("%s not installed: apt-get install gnome-keyring dbus libsecret-tools to run the real Secret Service test", bin)
		}
	}
}

// TestKeyringSecretService stores secrets with secret-tool in a private
// gnome-keyring on a private session bus and loads them through the real
// go-keyring path.
func TestKeyringSecretService(t *testing.T) {
	if os.Getenv(childEnv) == "secret-service" {
		secretServiceChecks(t)
		return
	}
	needSecretServiceTools(t)
	reexec(t, "TestKeyringSecretService", "secret-service", nil,
		"dbus-run-session", "--", "sh", "-c",
		`printf pw | gnome-keyring-daemon --unlock --components=secrets >/dev/null; exec "$@"`, "sh")
}

func secretStore(t *testing.T, service, account, value string) {
	t.Helper()
	cmd := exec.Command("secret-tool", "store", "--label=nono test", "service", service, "username", account)
	cmd.Stdin = strings.NewReader(value)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("secret-tool store: %v: %s", err, out)
	}
}

func secretServiceChecks(t *testing.T) {
	ctx := context.Background()
	r := NewResolver()

	secretStore(t, "nono", "openai_api_key", testValue)
	secretStore(t, "work", "alice@example.com", "work-secret")
	secretStore(t, "nono", "multiline", "line1\nline2")

	s, err := r.Load(ctx, MustParseRef("openai_api_key"))
	if err != nil || string(s.Bytes()) != testValue {
		t.Fatalf("bare account: %v, %v", s, err)
	}
	s, err = r.Load(ctx, MustParseRef("keyring://nono/openai_api_key"))
	if err != nil || string(s.Bytes()) != testValue {
		t.Fatalf("keyring://nono/...: %v, %v", s, err)
	}
	s, err = r.Load(ctx, MustParseRef("keyring://work/alice@example.com"))
	if err != nil || string(s.Bytes()) != "work-secret" {
		t.Fatalf("keyring://work/...: %v, %v", s, err)
	}

	_, err = r.Load(ctx, MustParseRef("missing_account"))
	want := "no secret stored for service nono account missing_account; store it with `secret-tool store --label nono service nono username missing_account`"
	if !errors.Is(err, ErrNotFound) || !strings.Contains(err.Error(), want) {
		t.Fatalf("missing account: err = %v", err)
	}
	// Same account, other service: not found either.
	if _, err := r.Load(ctx, MustParseRef("keyring://work/openai_api_key")); !errors.Is(err, ErrNotFound) {
		t.Fatalf("wrong service: err = %v", err)
	}
	_, err = r.Load(ctx, MustParseRef("multiline"))
	if !errors.Is(err, ErrUnsafeSecret) || strings.Contains(err.Error(), "line1") {
		t.Fatalf("multiline secret: err = %v", err)
	}

	// LoadAll across backends, as cmd does before the child starts.
	t.Setenv("NONO_TEST_ENV_KEY", "env-secret")
	all, err := LoadAll(ctx, r, []NamedRef{{"openai", MustParseRef("openai_api_key")}, {"X", MustParseRef("env://NONO_TEST_ENV_KEY")}})
	if err != nil || string(all["openai"].Bytes()) != testValue || string(all["X"].Bytes()) != "env-secret" {
		t.Fatalf("LoadAll: %v %v", all, err)
	}
	WipeAll(all)
	fmt.Println(childPassed)
}

// TestKeyringNoSecretService: a session bus exists but nothing owns
// org.freedesktop.secrets (and bus activation is disabled).
func TestKeyringNoSecretService(t *testing.T) {
	if os.Getenv(childEnv) == "no-secret-service" {
		_, err := NewResolver().Load(context.Background(), MustParseRef("openai_api_key"))
		if !errors.Is(err, ErrKeyringUnavailable) || !strings.Contains(err.Error(), "no Secret Service on the D-Bus session bus") {
			t.Fatalf("err = %v", err)
		}
		t.Log(err)
		fmt.Println(childPassed)
		return
	}
	for _, bin := range []string{"dbus-run-session", "dbus-daemon"} {
		if _, err := exec.LookPath(bin); err != nil {
			t.Skipf("%s not installed: apt-get install dbus", bin)
		}
	}
	conf := filepath.Join(t.TempDir(), "session.conf")
	// A session bus with no service directories, so nothing is activated.
	writeFile(t, conf, []byte(`<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>session</type>
  <listen>unix:tmpdir=/tmp</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow send_destination="*" eavesdrop="true"/>
    <allow eavesdrop="true"/>
    <allow own="*"/>
  </policy>
</busconfig>
`))
	reexec(t, "TestKeyringNoSecretService", "no-secret-service", nil, "dbus-run-session", "--config-file="+conf, "--")
}

// TestKeyringNoDBus points the session bus at a socket that does not exist.
// It runs in a child so the shared bus connection of this process is not
// involved.
func TestKeyringNoDBus(t *testing.T) {
	if os.Getenv(childEnv) == "no-dbus" {
		_, err := NewResolver().Load(context.Background(), MustParseRef("openai_api_key"))
		if !errors.Is(err, ErrKeyringUnavailable) || !strings.Contains(err.Error(), "cannot connect to the D-Bus session bus") {
			t.Fatalf("err = %v", err)
		}
		t.Log(err)
		fmt.Println(childPassed)
		return
	}
	sock := filepath.Join(t.TempDir(), "no-such-bus")
	reexec(t, "TestKeyringNoDBus", "no-dbus", []string{"DBUS_SESSION_BUS_ADDRESS=unix:path=" + sock}, "env")
}

func TestKeyringErrorClassification(t *testing.T) {
	ref := MustParseRef("openai_api_key")
	cases := []struct {
		err  error
		is   error
		want string
	}{
		{keyring.ErrNotFound, ErrNotFound, "secret-tool store --label nono service nono username openai_api_key"},
		{&dbusUnavailable{errors.New("dial unix /x: connect: no such file")}, ErrKeyringUnavailable, "D-Bus session bus"},
		{dbus.Error{Name: "org.freedesktop.DBus.Error.ServiceUnknown"}, ErrKeyringUnavailable, "no Secret Service"},
		{&dbus.Error{Name: "org.freedesktop.DBus.Error.NameHasNoOwner"}, ErrKeyringUnavailable, "no Secret Service"},
		{dbus.Error{Name: "org.freedesktop.Secret.Error.IsLocked"}, ErrKeyringLocked, "unlock"},
		{errors.New("failed to unlock correct collection '/org/freedesktop/secrets/aliases/default'"), ErrKeyringLocked, "unlock"},
		{errors.New("something else"), nil, "reading keyring service nono account openai_api_key"},
	}
	for _, c := range cases {
		k := &Keyring{Probe: func() error { return nil }, Get: func(string, string) (string, error) { return "", c.err }}
		if du, ok := c.err.(*dbusUnavailable); ok {
			k.Probe = func() error { return du }
		}
		_, err := k.Load(context.Background(), ref)
		if err == nil || !strings.Contains(err.Error(), c.want) || c.is != nil && !errors.Is(err, c.is) {
			t.Errorf("%v: got %v, want %q", c.err, err, c.want)
		}
	}
}

func TestKeyringHonoursContext(t *testing.T) {
	release := make(chan struct{})
	defer close(release)
	k := &Keyring{Probe: func() error { return nil }, Get: func(string, string) (string, error) {
		<-release
		return "late", nil
	}}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := k.Load(ctx, MustParseRef("x")); !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v", err)
	}
}
