package main

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/golden")

// hermetic points HOME at a scratch directory with one user profile and
// moves into $HOME/work, so every path in the output is stable once the
// scratch prefix is replaced by $HOME.
func hermetic(t *testing.T) string {
	t.Helper()
	root, err := os.MkdirTemp("/var/tmp", "nono-golden-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(root) })
	root, _ = filepath.EvalSymlinks(root)
	home := filepath.Join(root, "home")
	prof := filepath.Join(home, ".config", "nono", "profiles")
	if err := os.MkdirAll(prof, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(home, "work"), 0o755); err != nil {
		t.Fatal(err)
	}
	user := `// a user profile
{
  "meta": {"name": "team", "description": "Team agent"},
  "extends": "node-dev",
  "groups": {"include": ["git_config"], "exclude": ["user_tools"]},
  "filesystem": {"allow": ["$HOME/.team", "build"], "read_file": ["~/.gitconfig"], "deny": ["$WORKDIR/secrets"]},
  "network": {"allow_domain": ["api.team.dev", "github"], "deny_domain": ["uploads.team.dev"],
              "custom_credentials": {"team": {"upstream": "https://api.team.dev/v1", "credential_key": "team_key"}}},
  "environment": {"deny_vars": ["AWS_*"], "set_vars": {"TEAM_HOME": "$HOME/.team"}},
  "env_credentials": {"op://Dev/Team/key": "TEAM_KEY"},
  "workdir": {"access": "read"}
}`
	if err := os.WriteFile(filepath.Join(prof, "team.json"), []byte(user), 0o644); err != nil {
		t.Fatal(err)
	}
	for k, v := range map[string]string{"HOME": home, "TMPDIR": "/tmp", "XDG_CONFIG_HOME": "", "XDG_STATE_HOME": "",
		"XDG_CACHE_HOME": "", "XDG_DATA_HOME": "", "NONO_THEME": "", "NONO_PROFILE": "", "NO_COLOR": "1"} {
		t.Setenv(k, v)
	}
	t.Chdir(filepath.Join(home, "work"))
	return home
}

// runCLI runs nono in-process and returns stdout, stderr and the exit code.
func runCLI(t *testing.T, args ...string) (string, string, int) {
	t.Helper()
	root := newRootFor(args)
	var out, errb bytes.Buffer
	root.SetOut(&out)
	root.SetErr(&errb)
	root.SetArgs(args)
	code := 0
	if err := root.Execute(); err != nil {
		code = 1
		errb.WriteString(err.Error())
	}
	return out.String(), errb.String(), code
}

func TestGoldenProfileJSON(t *testing.T) {
	pkgDir, err := os.Getwd() // before hermetic moves into $HOME/work
	if err != nil {
		t.Fatal(err)
	}
	home := hermetic(t)
	for _, c := range []struct {
		golden string
		args   []string
	}{
		{"profile_list.json", []string{"profile", "list", "--json"}},
		{"profile_show_default.json", []string{"profile", "show", "default", "--json"}},
		{"profile_show_claude-code.json", []string{"profile", "show", "claude-code", "--json"}},
		{"profile_show_team.json", []string{"profile", "show", "team", "--json"}},
		{"profile_diff_default_python-dev.json", []string{"profile", "diff", "default", "python-dev", "--json"}},
		{"profile_diff_node-dev_team.json", []string{"profile", "diff", "node-dev", "team", "--json"}},
		{"profile_groups.json", []string{"profile", "groups", "--json"}},
		{"profile_groups_deny_credentials.json", []string{"profile", "groups", "deny_credentials", "--json"}},
		{"profile_groups_system_write_linux.json", []string{"profile", "groups", "system_write_linux", "--json"}},
	} {
		t.Run(c.golden, func(t *testing.T) {
			out, errOut, code := runCLI(t, c.args...)
			if code != 0 {
				t.Fatalf("exit %d: %s", code, errOut)
			}
			got := strings.ReplaceAll(out, home, "$HOME")
			path := filepath.Join(pkgDir, "testdata", "golden", c.golden)
			if *update {
				if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run 'go test ./cmd/nono -run TestGoldenProfileJSON -update' to create it)", err)
			}
			if got != string(want) {
				t.Errorf("%s differs from the golden file %s (rerun with -update if the change is intended)\n--- got ---\n%s", strings.Join(c.args, " "), path, got)
			}
		})
	}
}
