package e2e

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

const keyringSecret = "sk-e2e-REAL-from-keyring-9d1e"

func needKeyringTools(t *testing.T) {
	t.Helper()
	for _, bin := range []string{"dbus-run-session", "dbus-daemon", "gnome-keyring-daemon", "secret-tool"} {
		if _, err := exec.LookPath(bin); err != nil {
			t.Skipf("needs %s (apt-get install gnome-keyring dbus libsecret-tools)", bin)
		}
	}
}

// keyringProfile redirects the openai credential to the local fake API,
// with the key taken from the Secret Service account openai_api_key (what
// `--credential openai` uses by default).
func keyringProfile(t *testing.T, c *credWorld) string {
	caFile := filepath.Join(c.secretDir, "origin-ca.pem")
	prof := map[string]any{
		"meta": map[string]any{"name": "e2e-keyring"},
		"network": map[string]any{"custom_credentials": map[string]any{
			"openai": map[string]any{
				"upstream":       fmt.Sprintf("https://api.openai.nono.test:%d/v1", c.openai.port),
				"credential_key": "openai_api_key",
				"env_var":        "OPENAI_API_KEY",
				"tls_ca":         caFile,
			},
		}},
	}
	b, _ := json.Marshal(prof)
	p := filepath.Join(c.root, "keyring-profile.json")
	os.WriteFile(p, b, 0o644)
	return p
}

// underSecretService runs script in a private D-Bus session with a real
// gnome-keyring Secret Service; unlock says whether the login keyring is
// unlocked first.
func (c *credWorld) underSecretService(t *testing.T, unlock bool, script string) result {
	t.Helper()
	start := `gnome-keyring-daemon --components=secrets >/dev/null 2>&1;`
	if unlock {
		start = `printf pw | gnome-keyring-daemon --unlock --components=secrets >/dev/null 2>&1;`
	}
	cmd := exec.CommandContext(testCtx(t), "dbus-run-session", "--", "sh", "-c", start+script)
	// gnome-keyring-daemon daemonizes and may outlive the session holding
	// our output pipes: own process group (killed afterwards), and a bound
	// on waiting for the pipes once the session itself has exited.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.WaitDelay = 10 * time.Second
	cmd.Dir = c.work
	cmd.Env = append(baseEnv(c.home), "NONO_DNS_SERVER="+c.dns.addr, "NONO="+nonoBin, "XDG_RUNTIME_DIR="+c.root)
	var out, errb strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	if cmd.Process != nil {
		syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	}
	code := 0
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		code = ee.ExitCode()
	case errors.Is(err, exec.ErrWaitDelay):
		code = cmd.ProcessState.ExitCode()
	case err != nil:
		t.Fatal(err)
	}
	r := result{out.String(), errb.String(), code}
	record(r)
	return r
}

func TestCredentialsFromRealKeyring(t *testing.T) {
	needKeyringTools(t)
	c := newCredWorld(t, "")
	prof := keyringProfile(t, c)
	r := c.underSecretService(t, true, fmt.Sprintf(`
printf %%s %q | secret-tool store --label=nono service nono username openai_api_key || exit 9
"$NONO" run --profile %s --allow %s --credential openai -- sh -c 'curl -sS -m 10 -H "Authorization: Bearer $OPENAI_API_KEY" "$OPENAI_BASE_URL/models"; echo; env'
`, keyringSecret, prof, c.work))
	if r.code != 0 {
		t.Fatalf("nono with a keyring credential failed: %s", r)
	}
	mustContain(t, r, r.stdout, "gpt-test", "OPENAI_API_KEY=")
	if !strings.Contains(c.openai.log(), "Bearer "+keyringSecret) {
		t.Fatalf("the upstream did not get the keyring secret:\n%s", c.openai.log())
	}
	if strings.Contains(r.stdout+r.stderr, keyringSecret) {
		t.Fatalf("the keyring secret reached the child or nono's output:\n%s", r)
	}
}

func TestCredentialsKeyringMissingOrAbsent(t *testing.T) {
	needKeyringTools(t)
	c := newCredWorld(t, "")
	prof := keyringProfile(t, c)
	marker := filepath.Join(c.work, "ran")
	// The account is not stored: a clear error naming it, before anything runs.
	r := c.underSecretService(t, true, fmt.Sprintf(`"$NONO" run --profile %s --allow %s --credential openai -- touch %s`, prof, c.work, marker))
	if r.code != 1 || !strings.Contains(r.stderr, "openai_api_key") || !strings.Contains(r.stderr, "secret-tool store") {
		t.Fatalf("want a clear missing-secret error: %s", r)
	}
	// No Secret Service at all.
	r = c.nonoEnv([]string{"NONO_DNS_SERVER=" + c.dns.addr, "DBUS_SESSION_BUS_ADDRESS=unix:path=" + filepath.Join(c.root, "no-bus")},
		"run", "--profile", prof, "--allow", c.work, "--credential", "openai", "--", "touch", marker)
	if r.code != 1 || !strings.HasPrefix(r.stderr, "nono: ") || !strings.Contains(r.stderr, "keyring unavailable") || !strings.Contains(r.stderr, "D-Bus") {
		t.Fatalf("want a clear no-keyring error: %s", r)
	}
	if _, err := os.Stat(marker); err == nil {
		t.Fatal("the child ran without its credential")
	}
}
