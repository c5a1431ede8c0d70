package e2e

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestProfileInitListValidate(t *testing.T) {
	e := newEnv(t)
	dir := filepath.Join(e.home, ".config", "nono", "profiles")

	r := e.nono("profile", "init", "my-agent", "--extends", "node-dev", "--groups", "git_config,rust_runtime", "--description", "test agent")
	if r.code != 0 {
		t.Fatal(r)
	}
	mustContain(t, r, r.stderr, "Created profile at "+filepath.Join(dir, "my-agent.json"), "nono profile validate my-agent")
	var doc map[string]any
	b, _ := os.ReadFile(filepath.Join(dir, "my-agent.json"))
	if err := json.Unmarshal(b, &doc); err != nil || doc["extends"] != "node-dev" {
		t.Fatalf("skeleton: %v %s", err, b)
	}
	r = e.nono("profile", "validate", "my-agent", "--json")
	var rep struct {
		File   string `json:"file"`
		Valid  bool   `json:"valid"`
		Errors []struct{ Path, Message string }
	}
	if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil || !rep.Valid || r.code != 0 {
		t.Fatalf("fresh skeleton does not validate: %v %s", err, r)
	}

	oneClearError(t, e.nono("profile", "init", "my-agent"), "already exists at "+filepath.Join(dir, "my-agent.json")+"; use --force")
	if r := e.nono("profile", "init", "my-agent", "--force", "--extends", "default", "--description", "test agent"); r.code != 0 {
		t.Fatal(r)
	}
	oneClearError(t, e.nono("profile", "init", "claude-code"), "built-in profile name")
	oneClearError(t, e.nono("profile", "init", "nolabs-ai/claude"), "not a profile name")
	oneClearError(t, e.nono("profile", "init", "--", "-bad-"), "invalid profile name")
	oneClearError(t, e.nono("profile", "init", "x", "--extends", "nope"), `profile "nope" not found`)
	oneClearError(t, e.nono("profile", "init", "x", "--groups", "nope"), `unknown group "nope"`)
	out := filepath.Join(e.work, "full.json")
	if r := e.nono("profile", "init", "full", "--full", "-o", out); r.code != 0 {
		t.Fatal(r)
	}
	if r := e.nono("profile", "validate", out); r.code != 0 || !strings.Contains(r.stdout, "Result: valid") {
		t.Fatalf("--full skeleton invalid: %s", r)
	}

	// A user profile shadowing a built-in, and a broken one, are listed as such.
	e.userProfile("default", `{"meta": {"description": "my default"}}`)
	e.userProfile("broken", `{"filesytem": {}}`)
	r = e.nono("profile", "list", "--json")
	var list []struct {
		Name, Source, Description, Error string
		Extends                          []string
	}
	if err := json.Unmarshal([]byte(r.stdout), &list); err != nil {
		t.Fatal(err, r)
	}
	got := map[string]string{}
	for _, p := range list {
		got[p.Name+"/"+p.Source] = p.Description + p.Error
	}
	for k, want := range map[string]string{
		"default/built-in":                  "Deny credentials",
		"default/user (overrides built-in)": "my default",
		"my-agent/user":                     "test agent",
		"broken/user":                       "filesytem",
	} {
		if !strings.Contains(got[k], want) {
			t.Errorf("list: %s = %q, want %q", k, got[k], want)
		}
	}
	r = e.nono("profile", "list")
	mustContain(t, r, r.stdout, "Built-in profiles:", "User profiles ("+dir+"):", "[overrides built-in]", "error: ")
}

func TestProfileValidateErrors(t *testing.T) {
	e := newEnv(t)
	write := func(name, body string) string {
		p := filepath.Join(e.work, name)
		os.WriteFile(p, []byte(body), 0o644)
		return p
	}
	type issue struct{ Path, Message string }
	validate := func(path string) (int, []issue, []issue) {
		t.Helper()
		r := e.nono("profile", "validate", "--json", path)
		var rep struct {
			File     string  `json:"file"`
			Valid    bool    `json:"valid"`
			Errors   []issue `json:"errors"`
			Warnings []issue `json:"warnings"`
		}
		if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil {
			t.Fatalf("%v: %s", err, r)
		}
		if rep.Valid != (r.code == 0) || rep.Valid != (len(rep.Errors) == 0) {
			t.Fatalf("valid/exit/errors disagree: %s", r)
		}
		return r.code, rep.Errors, rep.Warnings
	}
	has := func(list []issue, path, msg string) bool {
		for _, i := range list {
			if i.Path == path && strings.Contains(i.Message, msg) {
				return true
			}
		}
		return false
	}

	code, errs, _ := validate(write("many.json", `{
  // comments are fine
  "filesytem": {"allow": ["/tmp"]},
  "workdir": {"access": "rw"},
  "groups": {"include": ["nope"], "exclude": ["deny_credentials"]},
  "extends": "does-not-exist",
  "network": {"network_profile": "nosuch", "allow_domain": ["*", "ok.example.com"], "deny_domain": ["a.example.com:80"]},
  "environment": {"set_vars": {"PATH": "/x"}},
  "filesystem": {"read": ["$NOPE/x", ""]}
}`))
	if code != 1 {
		t.Fatalf("exit %d", code)
	}
	for _, want := range []issue{
		{"$.filesytem", `did you mean "filesystem"`},
		{"$.workdir.access", "expected one of none, read, write, readwrite"},
		{"$.groups.include[0]", `unknown group "nope"`},
		{"$.groups.exclude", "Cannot exclude required groups: 'deny_credentials'"},
		{"$.extends[0]", `"does-not-exist" not found`},
		{"$.network.network_profile", `unknown network profile "nosuch"`},
		{"$.network.allow_domain[0]", "wildcards"},
		{"$.network.deny_domain[0]", "ports are not supported"},
		{"$.environment.set_vars.PATH", "PATH and NONO_*"},
		{"$.filesystem.read[0]", "$NOPE is not a supported variable"},
		{"$.filesystem.read[1]", "empty path"},
	} {
		if !has(errs, want.Path, want.Message) {
			t.Errorf("missing error %s: %s\ngot %+v", want.Path, want.Message, errs)
		}
	}
	if has(errs, "$.network.allow_domain[1]", "") {
		t.Errorf("valid entry reported: %+v", errs)
	}

	code, errs, _ = validate(write("syntax.json", `{"meta": {"name": "x"`))
	if code != 1 || !has(errs, "$", "invalid JSONC") {
		t.Errorf("syntax error: %+v", errs)
	}
	write("a.json", `{"extends": "./b.json"}`)
	code, errs, _ = validate(write("b.json", `{"extends": "./a.json"}`))
	if code != 1 || !has(errs, "$.extends[0]", "cycle") {
		t.Errorf("cycle: %+v", errs)
	}
	code, errs, warns := validate(write("warn.json", `{"extends": "default", "filesystem": {"read": ["~/not-here"]}}`))
	if code != 0 || len(errs) != 0 || !has(warns, "$.filesystem.read[0]", "does not exist") {
		t.Errorf("missing path should only warn: %+v %+v", errs, warns)
	}
	code, errs, _ = validate(write("overlap.json", `{"extends": "default", "filesystem": {"allow": ["~"]}}`))
	if code != 1 || !has(errs, "$", "deny-overlap") {
		t.Errorf("a profile run would refuse must be invalid: %+v", errs)
	}
	r := e.nono("profile", "validate", write("text.json", `{"groups": {"include": ["nope"]}}`))
	mustContain(t, r, r.stdout, "[err] $.groups.include[0]: ", "Result: invalid (1 error(s))")
	if r.code != 1 {
		t.Fatal(r)
	}
	oneClearError(t, e.nono("profile", "validate"), "accepts 1 arg")
}

// TestBuiltinProfilesValidate runs every built-in through the CLI.
func TestBuiltinProfilesValidate(t *testing.T) {
	e := newEnv(t)
	r := e.nono("profile", "list", "--json")
	var list []struct{ Name, Source string }
	if err := json.Unmarshal([]byte(r.stdout), &list); err != nil {
		t.Fatal(err, r)
	}
	n := 0
	for _, p := range list {
		if p.Source != "built-in" {
			continue
		}
		n++
		if r := e.nono("profile", "validate", p.Name); r.code != 0 || !strings.Contains(r.stdout, "Result: valid") {
			t.Errorf("built-in %s: %s", p.Name, r)
		}
		if r := e.nono("profile", "show", "--json", p.Name); r.code != 0 || !json.Valid([]byte(r.stdout)) {
			t.Errorf("show %s: %s", p.Name, r)
		}
		if r := e.nono("run", "--profile", p.Name, "--allow-cwd", "--", "true"); r.code != 0 {
			t.Errorf("run --profile %s: %s", p.Name, r)
		}
	}
	if n < 10 {
		t.Fatalf("only %d built-in profiles", n)
	}
}

func TestProfileShowDiffGroupsSchemaGuide(t *testing.T) {
	e := newEnv(t)
	r := e.nono("profile", "show", "claude-code")
	mustContain(t, r, r.stdout, "Profile: claude-code (built-in)", "$HOME/.claude -> "+e.home+"/.claude", "Workdir: readwrite", "deny_credentials")
	r = e.nono("profile", "diff", "default", "python-dev")
	mustContain(t, r, r.stdout, "--- default", "+++ python-dev", "+ python_runtime", "~ network_profile: (unset) -> developer")
	r = e.nono("profile", "diff", "default", "default")
	mustContain(t, r, r.stdout, "(no differences)")
	r = e.nono("profile", "groups")
	mustContain(t, r, r.stdout, "deny_credentials (required)", "system_read_linux_core")
	if strings.Contains(r.stdout, "system_read_macos") {
		t.Errorf("macOS group listed on Linux: %s", r)
	}
	r = e.nono("profile", "groups", "--all-platforms")
	mustContain(t, r, r.stdout, "system_read_macos")
	r = e.nono("profile", "groups", "deny_credentials")
	mustContain(t, r, r.stdout, "~/.ssh -> "+e.home+"/.ssh", "Used by: ")
	oneClearError(t, e.nono("profile", "groups", "nope"), `unknown group "nope"`)
	oneClearError(t, e.nono("profile", "show", "nope"), `profile "nope" not found`)

	r = e.nono("profile", "schema")
	var schema map[string]any
	if err := json.Unmarshal([]byte(r.stdout), &schema); err != nil || schema["$id"] == nil {
		t.Fatalf("schema: %v %s", err, r)
	}
	out := filepath.Join(e.work, "s.json")
	if r := e.nono("profile", "schema", "-o", out); r.code != 0 {
		t.Fatal(r)
	}
	if b, _ := os.ReadFile(out); string(b) != r.stdout {
		t.Errorf("schema -o differs from stdout")
	}
	r = e.nono("profile", "guide")
	mustContain(t, r, r.stdout, "# Writing nono profiles", "## Extending", "## Policy groups", "never granted", "## Variables", "## Network", "## Credentials", "## Examples")
}
