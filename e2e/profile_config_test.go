package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// themeOK is the 24-bit colour escape of each theme's "ok" colour, which
// paints ALLOWED in `nono why`.
var themeOK = map[string]string{
	"mocha":       "\x1b[38;2;166;227;161m",
	"latte":       "\x1b[38;2;64;160;43m",
	"frappe":      "\x1b[38;2;166;209;137m",
	"tokyo-night": "\x1b[38;2;158;206;106m",
}

// themeOf reports which theme painted an ALLOWED answer.
func themeOf(t *testing.T, r result) string {
	t.Helper()
	if r.code != 0 {
		t.Fatal(r)
	}
	for name, esc := range themeOK {
		if strings.HasPrefix(r.stdout, esc+"ALLOWED") {
			return name
		}
	}
	if strings.HasPrefix(r.stdout, "ALLOWED") {
		return "plain"
	}
	t.Fatalf("unexpected output: %s", r)
	return ""
}

// TestConfigPrecedence checks flag > environment > config file > default for
// the theme and the profile, with the default config path and --config.
func TestConfigPrecedence(t *testing.T) {
	e := newEnv(t)
	// Profile: three user profiles each grant one directory.
	grants := map[string]string{}
	for _, name := range []string{"from-config", "from-env", "from-flag"} {
		d := filepath.Join(e.root, name)
		os.MkdirAll(d, 0o755)
		os.WriteFile(filepath.Join(d, "f"), []byte(name), 0o644)
		e.userProfile(name, `{"extends": "default", "filesystem": {"read": ["`+d+`"]}}`)
		grants[name] = d
	}
	cfg := e.write(".config/nono/config.toml", "[ui]\ntheme = \"frappe\"\n\n[defaults]\nprofile = \"from-config\"\n\n[updates]\ncheck = false\n")
	force := []string{"CLICOLOR_FORCE=1"}
	why := []string{"why", "--path", "/etc/hosts"}

	// Theme.
	if got := themeOf(t, e.nonoEnv(force, why...)); got != "frappe" {
		t.Errorf("config theme: got %s", got)
	}
	if got := themeOf(t, e.nonoEnv(append(force, "NONO_THEME=latte"), why...)); got != "latte" {
		t.Errorf("env over config: got %s", got)
	}
	if got := themeOf(t, e.nonoEnv(append(force, "NONO_THEME=latte"), append([]string{"--theme", "tokyo-night"}, why...)...)); got != "tokyo-night" {
		t.Errorf("flag over env: got %s", got)
	}
	if got := themeOf(t, e.nonoEnv(append(force, "NO_COLOR=1"), why...)); got != "plain" {
		t.Errorf("NO_COLOR must win: got %s", got)
	}
	if got := themeOf(t, e.nono(why...)); got != "plain" {
		t.Errorf("colour without a terminal: got %s", got)
	}
	if got := themeOf(t, e.nonoEnv(force, append([]string{"--theme", "minimal"}, why...)...)); got != "plain" {
		t.Errorf("minimal theme: got %s", got)
	}
	r := e.nonoEnv(force, append([]string{"--theme", "neon"}, why...)...)
	if got := themeOf(t, r); got != "mocha" || !strings.Contains(r.stderr, `unknown theme "neon"; using mocha`) {
		t.Errorf("unknown theme: got %s\n%s", got, r)
	}

	active := func(env, args []string) string {
		t.Helper()
		found := ""
		for name, d := range grants {
			a := parseWhy(t, e.nonoEnv(env, append([]string{"why", "--json", "--path", d}, args...)...))
			if a.Status == "allowed" {
				if found != "" {
					t.Fatalf("two profiles active: %s and %s", found, name)
				}
				found = name
			}
		}
		return found
	}
	for _, c := range []struct {
		env  []string
		args []string
		want string
	}{
		{nil, nil, "from-config"},
		{[]string{"NONO_PROFILE=from-env"}, nil, "from-env"},
		{[]string{"NONO_PROFILE=from-env"}, []string{"--profile", "from-flag"}, "from-flag"},
	} {
		if got := active(c.env, c.args); got != c.want {
			t.Errorf("env %v args %v: active profile %q, want %q", c.env, c.args, got, c.want)
		}
		// `nono run` resolves the same profile.
		runArgs := append(append([]string{"run"}, c.args...), "--", "cat", filepath.Join(grants[c.want], "f"))
		if r := e.nonoEnv(c.env, runArgs...); r.code != 0 || r.stdout != c.want {
			t.Errorf("run with env %v args %v: %s", c.env, c.args, r)
		}
	}

	// --config FILE replaces the default file; a missing one is an error.
	other := filepath.Join(e.root, "other.toml")
	os.WriteFile(other, []byte("[ui]\ntheme = \"latte\"\n"), 0o644)
	if got := themeOf(t, e.nonoEnv(force, append([]string{"--config", other}, why...)...)); got != "latte" {
		t.Errorf("--config theme: got %s", got)
	}
	if got := active(nil, []string{"--config", other}); got != "" {
		t.Errorf("--config without [defaults] still used the default file's profile: %s", got)
	}
	oneClearError(t, e.nono("--config", filepath.Join(e.root, "missing.toml"), "why", "--path", "/"), "missing.toml")
	os.WriteFile(cfg, []byte("[ui]\ntheme = \"mocha\"\ncolour = true\n"), 0o644)
	oneClearError(t, e.nono(why...), `unknown key "ui.colour"`)
	os.WriteFile(cfg, []byte("[meta]\nversion = 7\n"), 0o644)
	oneClearError(t, e.nono(why...), "version 7 is not supported")
}

// TestSilentAndQuietVariables: --silent removes every nono status and
// warning line but keeps each command's answer; NONO_NO_UPDATE_CHECK is
// accepted without a word.
func TestSilentAndQuietVariables(t *testing.T) {
	e := newEnv(t)
	r := e.nonoEnv([]string{"NONO_NO_UPDATE_CHECK=1"}, "why", "--path", "/etc/hosts")
	if r.code != 0 || r.stderr != "" {
		t.Fatalf("NONO_NO_UPDATE_CHECK: %s", r)
	}
	for _, args := range [][]string{
		{"-s", "--theme", "neon", "why", "--profile", "claude-code", "--allow-cwd", "--path", "/etc/hosts"}, // warnings: theme, missing profile paths
		{"-s", "profile", "init", "quiet"},
		{"-s", "profile", "schema", "-o", filepath.Join(e.work, "schema.json")},
		{"-s", "profile", "list"},
		{"-s", "profile", "show", "claude-code"},
		{"-s", "profile", "validate", "claude-code"},
		{"-s", "profile", "groups"},
		{"-s", "profile", "diff", "default", "claude-code"},
		{"-s", "completion", "bash"},
		{"-s", "run", "--allow-cwd", "--", "true"},
	} {
		r := e.nono(args...)
		if r.code != 0 || r.stderr != "" {
			t.Errorf("%v: %s", args, r)
		}
	}
	// The answers themselves are not silenced.
	r = e.nono("-s", "why", "--path", "/etc/hosts")
	mustContain(t, r, r.stdout, "ALLOWED")
	// Without -s the same commands do talk.
	r = e.nono("profile", "init", "loud")
	mustContain(t, r, r.stderr, "Created profile at")
}

func TestCompletionAndVersion(t *testing.T) {
	e := newEnv(t)
	for shell, want := range map[string]string{"bash": "__start_nono", "zsh": "#compdef nono", "fish": "complete -c nono"} {
		r := e.nono("completion", shell)
		if r.code != 0 {
			t.Fatal(r)
		}
		mustContain(t, r, r.stdout, want)
	}
	oneClearError(t, e.nono("completion", "tcsh"), `invalid argument "tcsh"`)
	// The scripts call back into nono for dynamic values.
	r := e.nono("__complete", "profile", "show", "")
	mustContain(t, r, r.stdout, "claude-code\t", "python-dev\t")
	r = e.nono("__complete", "why", "--network-profile", "")
	mustContain(t, r, r.stdout, "developer", "minimal")
	r = e.nono("__complete", "profile", "groups", "deny_c")
	mustContain(t, r, r.stdout, "deny_credentials")
	r = e.nono("--version")
	if r.code != 0 || !strings.HasPrefix(r.stdout, "nono ") || !strings.Contains(r.stdout, "(commit ") {
		t.Fatal(r)
	}
}
