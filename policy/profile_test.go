package policy

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/nono-sandbox/nono/sandbox"
)

func TestBuiltinProfilesResolve(t *testing.T) {
	h := newFakeHost(t)
	h.mkdir(".claude", ".codex", ".cache", ".local/share/claude", ".openclaw", ".ssh", ".aws", ".nvm")
	h.write(".claude.json", "{}")
	want := []string{"bun-dev", "claude-code", "codex", "default", "go-dev", "java-dev", "linux-host-compat",
		"mise-dev", "node-dev", "openclaw", "opencode", "python-dev", "rust-dev"}
	if got := BuiltinProfileNames(); !reflect.DeepEqual(got, want) {
		t.Fatalf("built-ins = %v, want %v", got, want)
	}
	for _, name := range want {
		t.Run(name, func(t *testing.T) {
			r := mustResolve(t, h.req(func(q *Request) { q.Profile = name }))
			if r.ProfileName != name {
				t.Errorf("ProfileName = %q", r.ProfileName)
			}
			// Every profile carries the required deny groups.
			for _, d := range []string{".ssh", ".aws", ".bash_history", ".zshrc", ".password-store"} {
				if !hasDeny(r, filepath.Join(h.home, d)) {
					t.Errorf("no deny for ~/%s", d)
				}
			}
			if _, ok := findGrant(r, "/usr/bin", "group:system_read_linux_core"); !ok {
				t.Errorf("no system read grant for /usr/bin")
			}
			if r.SignalMode != "isolated" {
				t.Errorf("SignalMode = %q", r.SignalMode)
			}
			if r.NetworkBlock {
				t.Errorf("network blocked")
			}
			for _, g := range r.Grants {
				if !filepath.IsAbs(g.Path) || g.Source == "" || g.Access == 0 {
					t.Errorf("bad grant %+v", g)
				}
			}
		})
	}

	r := mustResolve(t, h.req(func(q *Request) { q.Profile = "claude-code" }))
	if i, ok := findGrant(r, filepath.Join(h.home, ".claude"), SourceProfile); !ok || r.Grants[i].Access != sandbox.AccessReadWrite {
		t.Errorf("claude-code: no rw grant on ~/.claude")
	}
	if i, ok := findGrant(r, filepath.Join(h.home, ".claude.json"), SourceProfile); !ok || !r.Grants[i].File {
		t.Errorf("claude-code: no file grant on ~/.claude.json")
	}
	if _, ok := findGrant(r, filepath.Join(h.home, ".nvm"), "group:node_runtime"); !ok {
		t.Errorf("claude-code: node_runtime not applied")
	}
	if r.WorkdirAccess != sandbox.AccessReadWrite || r.CapabilityElevation {
		t.Errorf("claude-code: workdir %v elevation %v", r.WorkdirAccess, r.CapabilityElevation)
	}
	if !contains(r.RollbackExcludes, "node_modules") || !contains(r.RollbackGlobs, "*.tmp.[0-9]*.[0-9]*") {
		t.Errorf("claude-code rollback = %v %v", r.RollbackExcludes, r.RollbackGlobs)
	}
	if contains(r.ActiveGroups, "claude_code_macos") || !contains(r.ActiveGroups, "claude_code_linux") {
		t.Errorf("platform filtering wrong: %v", r.ActiveGroups)
	}

	py := mustResolve(t, h.req(func(q *Request) { q.Profile = "python-dev" }))
	if py.IPCMode != "full" || py.NetworkProfile != "developer" {
		t.Errorf("python-dev ipc %q netprofile %q", py.IPCMode, py.NetworkProfile)
	}
	oc := mustResolve(t, h.req(func(q *Request) { q.Profile = "openclaw" }))
	if oc.WorkdirAccess != sandbox.AccessRead {
		t.Errorf("openclaw workdir = %v", oc.WorkdirAccess)
	}
	// No profile: workdir read (seed); explicit default: none.
	if r := mustResolve(t, h.req()); r.WorkdirAccess != sandbox.AccessRead || r.ProfileName != "default" {
		t.Errorf("no profile: workdir %v name %q", r.WorkdirAccess, r.ProfileName)
	}
	if r := mustResolve(t, h.req(func(q *Request) { q.Profile = "default" })); r.WorkdirAccess != 0 {
		t.Errorf("default: workdir %v", r.WorkdirAccess)
	}
	// The command blocklist comes from the active groups.
	if err := mustResolve(t, h.req()).CheckCommand("/bin/rm", nil, nil); err == nil {
		t.Errorf("rm not blocked by default")
	}
}

func TestUserProfileLocationAndShadowing(t *testing.T) {
	h := newFakeHost(t)
	h.mkdir("proj-data", "shadow-data")
	// A user profile shadowing a built-in may extend the built-in of the same name.
	h.userProfile("node-dev", `{"extends": "node-dev", "filesystem": {"read": ["~/shadow-data"]}}`)
	r := mustResolve(t, h.req(func(q *Request) { q.Profile = "node-dev" }))
	if _, ok := findGrant(r, filepath.Join(h.home, "shadow-data"), SourceProfile); !ok {
		t.Errorf("user profile did not shadow built-in")
	}
	if r.NetworkProfile != "developer" {
		t.Errorf("built-in base not merged: %q", r.NetworkProfile)
	}
	// .jsonc is preferred over .json.
	h.write(".config/nono/profiles/mine.json", `{"filesystem": {"read": ["~/shadow-data"]}}`)
	h.userProfile("mine", `{"filesystem": {"read": ["~/proj-data"]}}`)
	r = mustResolve(t, h.req(func(q *Request) { q.Profile = "mine" }))
	if _, ok := findGrant(r, filepath.Join(h.home, "proj-data"), ""); !ok {
		t.Errorf(".jsonc not preferred")
	}
	// XDG_CONFIG_HOME moves the directory.
	h.vars["XDG_CONFIG_HOME"] = filepath.Join(h.root, "xdg")
	h.write(filepath.Join(h.root, "xdg/nono/profiles/xdgp.json"), `{"meta": {"name": "xdgp"}}`)
	mustResolve(t, h.req(func(q *Request) { q.Profile = "xdgp" }))
	delete(h.vars, "XDG_CONFIG_HOME")
	// Explicit path, with a sibling extends relative to the file.
	dir := filepath.Join(h.root, "profiles")
	h.write(filepath.Join(dir, "base.json"), `{"filesystem": {"read": ["~/proj-data"]}}`)
	p := h.write(filepath.Join(dir, "child.jsonc"), `// comment
	{"meta": {"name": "child"}, "extends": "./base.json",}`)
	r = mustResolve(t, h.req(func(q *Request) { q.Profile = p }))
	if r.ProfileName != "child" {
		t.Errorf("ProfileName = %q", r.ProfileName)
	}
	if _, ok := findGrant(r, filepath.Join(h.home, "proj-data"), ""); !ok {
		t.Errorf("sibling extends not applied")
	}
	// Unknown names list the available profiles; bad names are refused.
	resolveErr(t, h.req(func(q *Request) { q.Profile = "nope" }), `profile "nope" not found; available profiles:`, "claude-code", "mine")
	resolveErr(t, h.req(func(q *Request) { q.Profile = "-bad" }), "invalid profile name")
	resolveErr(t, h.req(func(q *Request) { q.Profile = "a_b" }), "invalid profile name")
	resolveErr(t, h.req(func(q *Request) { q.Profile = filepath.Join(dir, "missing.json") }), "no such file")
	for _, n := range []string{"a", "a-b", "A9", "claude-code"} {
		if !ValidProfileName(n) {
			t.Errorf("%q should be valid", n)
		}
	}
	for _, n := range []string{"", "-a", "a-", "a b", "a/b", "a.b"} {
		if ValidProfileName(n) {
			t.Errorf("%q should be invalid", n)
		}
	}
}

func TestExtendsChainsCyclesDepth(t *testing.T) {
	h := newFakeHost(t)
	h.mkdir("a", "b", "c")
	h.userProfile("pa", `{"extends": ["pb", "pc"], "filesystem": {"read": ["~/a"]}}`)
	h.userProfile("pb", `{"extends": "shared", "filesystem": {"read": ["~/b"]}, "workdir": {"access": "write"}}`)
	h.userProfile("pc", `{"extends": "shared", "filesystem": {"read": ["~/c"]}, "workdir": {"access": "read"}}`)
	h.userProfile("shared", `{"extends": "rust-dev"}`)
	r := mustResolve(t, h.req(func(q *Request) { q.Profile = "pa" }))
	for _, d := range []string{"a", "b", "c"} {
		if _, ok := findGrant(r, filepath.Join(h.home, d), SourceProfile); !ok {
			t.Errorf("missing grant from chain: %s", d)
		}
	}
	if r.WorkdirAccess != sandbox.AccessRead { // left-to-right: pc wins over pb
		t.Errorf("workdir = %v", r.WorkdirAccess)
	}
	if !contains(r.ActiveGroups, "rust_runtime") {
		t.Errorf("diamond base not applied: %v", r.ActiveGroups)
	}

	h.userProfile("cyc1", `{"extends": "cyc2"}`)
	h.userProfile("cyc2", `{"extends": "cyc3"}`)
	h.userProfile("cyc3", `{"extends": "cyc1"}`)
	resolveErr(t, h.req(func(q *Request) { q.Profile = "cyc1" }), "extends cycle", "cyc1.jsonc -> ", "cyc3.jsonc -> ")
	h.userProfile("self", `{"extends": "./self.jsonc"}`)
	resolveErr(t, h.req(func(q *Request) { q.Profile = "self" }), "extends cycle")

	// A chain of exactly MaxExtendsDepth bases is fine; one more is not.
	for i := 0; i <= 11; i++ {
		body := `{}`
		if i < 11 {
			body = fmt.Sprintf(`{"extends": "d%d"}`, i+1)
		}
		h.userProfile(fmt.Sprintf("d%d", i), body)
	}
	mustResolve(t, h.req(func(q *Request) { q.Profile = "d1" }))
	resolveErr(t, h.req(func(q *Request) { q.Profile = "d0" }), "deeper than 10")
	resolveErr(t, h.req(func(q *Request) { q.Profile = "pa" }, func(q *Request) {
		h.userProfile("pa", `{"extends": "nonexistent-base"}`)
	}), `extends "nonexistent-base"`, "not found")
}

func TestMergeSemantics(t *testing.T) {
	parse := func(s string) *Profile {
		t.Helper()
		p, err := ParseProfile("t", []byte(s))
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	base := parse(`{
		"meta": {"name": "base", "description": "base desc"},
		"groups": {"include": ["node_runtime"], "exclude": ["user_tools"]},
		"filesystem": {"read": ["/a", {"path": "/m", "when": "macos"}]},
		"network": {"block": true, "network_profile": "developer", "allow_domain": ["x.com"], "open_port": [3000],
			"custom_credentials": {"svc": {"upstream": "https://base"}, "keep": {"upstream": "https://keep"}}},
		"env_credentials": {"a": "A", "b": "B"},
		"environment": {"allow_vars": ["HOME"], "set_vars": {"X": "1", "Y": "1"}},
		"workdir": {"access": "readwrite"},
		"security": {"signal_mode": "allow_all", "ipc_mode": "full"},
		"allow_gpu": true
	}`)
	child := parse(`{
		"meta": {"name": "child"},
		"groups": {"include": ["node_runtime", "rust_runtime"]},
		"filesystem": {"read": ["/a", "/b"]},
		"network": {"block": false, "allow_domain": ["x.com", "y.com"], "open_port": [3000, 4000],
			"custom_credentials": {"svc": {"upstream": "https://child"}}},
		"env_credentials": {"b": "B2"},
		"environment": {"set_vars": {"Y": "2"}},
		"workdir": {"access": "none"},
		"security": {"signal_mode": null}
	}`)
	m := Merge(base, child)
	if m.Meta.Name != "child" || m.Meta.Description != "base desc" {
		t.Errorf("meta = %+v", m.Meta)
	}
	if !reflect.DeepEqual(m.Groups.Include, []string{"node_runtime", "rust_runtime"}) || !reflect.DeepEqual(m.Groups.Exclude, []string{"user_tools"}) {
		t.Errorf("groups = %+v", m.Groups)
	}
	if len(m.Filesystem.Read) != 3 || m.Filesystem.Read[1].Path != "/m" || m.Filesystem.Read[2].Path != "/b" {
		t.Errorf("read = %+v", m.Filesystem.Read)
	}
	if *m.Network.Block || m.Network.NetworkProfile.Value != "developer" {
		t.Errorf("network scalars = %+v", m.Network)
	}
	if !reflect.DeepEqual(m.Network.AllowDomain, []string{"x.com", "y.com"}) || !reflect.DeepEqual(m.Network.OpenPort, []uint16{3000, 4000}) {
		t.Errorf("network lists = %+v", m.Network)
	}
	if m.Network.CustomCredentials["svc"].Upstream != "https://child" || m.Network.CustomCredentials["keep"].Upstream != "https://keep" {
		t.Errorf("custom_credentials = %+v", m.Network.CustomCredentials)
	}
	if !reflect.DeepEqual(m.EnvCredentials, map[string]string{"a": "A", "b": "B2"}) {
		t.Errorf("env_credentials = %v", m.EnvCredentials)
	}
	if !reflect.DeepEqual(m.Environment.SetVars, map[string]string{"X": "1", "Y": "2"}) || !reflect.DeepEqual(m.Environment.AllowVars, []string{"HOME"}) {
		t.Errorf("environment = %+v", m.Environment)
	}
	if m.Workdir.Access != "readwrite" {
		t.Errorf("workdir none should inherit, got %q", m.Workdir.Access)
	}
	if *m.Security.SignalMode != "allow_all" || *m.Security.IPCMode != "full" || !*m.AllowGPU {
		t.Errorf("security = %+v gpu %v", m.Security, m.AllowGPU)
	}
	// Inputs are untouched.
	if len(base.Filesystem.Read) != 2 || base.Network.CustomCredentials["svc"].Upstream != "https://base" {
		t.Errorf("Merge modified its base")
	}
	// network_profile: absent inherits, null clears, string overrides.
	if p := Merge(base, parse(`{"network": {"network_profile": null}}`)); !p.Network.NetworkProfile.Null {
		t.Errorf("null did not clear: %+v", p.Network.NetworkProfile)
	}
	if p := Merge(base, parse(`{"network": {"network_profile": "minimal"}}`)); p.Network.NetworkProfile.Value != "minimal" {
		t.Errorf("override: %+v", p.Network.NetworkProfile)
	}
	// allow_vars: absent stays absent, [] stays present-and-empty.
	if p := Merge(parse(`{}`), parse(`{}`)); p.Environment.AllowVars != nil {
		t.Errorf("absent allow_vars became %v", p.Environment.AllowVars)
	}
	if p := Merge(parse(`{}`), parse(`{"environment": {"allow_vars": []}}`)); p.Environment.AllowVars == nil {
		t.Errorf("empty allow_vars lost")
	}
	// Workdir set in the child wins; absent everywhere stays absent.
	if p := Merge(base, parse(`{"workdir": {"access": "read"}}`)); p.Workdir.Access != "read" {
		t.Errorf("workdir = %q", p.Workdir.Access)
	}
	// The merged profile marshals and re-parses to the same value.
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	again := parse(string(b))
	if !reflect.DeepEqual(again, m) {
		t.Errorf("marshal round trip differs:\n%s", b)
	}
}

func TestParseErrors(t *testing.T) {
	cases := []struct{ doc, want string }{
		{`{"filesytem": {}}`, `profile my.json: unknown key "filesytem" at $.filesytem (did you mean "filesystem"?)`},
		{`{"filesystem": {"alow": []}}`, `unknown key "alow" at $.filesystem.alow (did you mean "allow"?)`},
		{`{"zzzzzz": 1}`, `unknown key "zzzzzz" at $.zzzzzz`},
		{`{"allow_gpu": "yes"}`, `wrong type at $.allow_gpu: expected boolean, got string`},
		{`{"filesystem": {"allow": [42]}}`, `wrong type at $.filesystem.allow[0]: expected string or object, got number`},
		{`{"filesystem": {"allow": [{"path": "/x", "whne": "linux"}]}}`, `unknown key "whne" at $.filesystem.allow[0].whne (did you mean "when"?)`},
		{`{"filesystem": {"allow": [{"when": "linux"}]}}`, `missing required key "path" at $.filesystem.allow[0]`},
		{`{"filesystem": {"read": [{"path": "/x", "when": "windows"}]}}`, `invalid value "windows" at $.filesystem.read[0].when`},
		{`{"filesystem": {"read": [""]}}`, `empty path at $.filesystem.read[0]`},
		{`{"network": {"open_port": [70000]}}`, `value 70000 out of range at $.network.open_port[0]: must be between 1 and 65535`},
		{`{"network": {"open_port": [0]}}`, `out of range at $.network.open_port[0]`},
		{`{"network": {"open_port": ["80"]}}`, `wrong type at $.network.open_port[0]: expected integer, got string`},
		{`{"network": {"open_port": [80.5]}}`, `wrong type at $.network.open_port[0]: expected integer, got 80.5`},
		{`{"network": {"network_profile": 3}}`, `wrong type at $.network.network_profile: expected string or null, got number`},
		{`{"network": {"custom_credentials": {"my api": {"credential_key": "k"}}}}`, `missing required key "upstream" at $.network.custom_credentials["my api"]`},
		{`{"network": {"custom_credentials": {"x": {"upstream": "u", "inject_mode": "magic"}}}}`, `invalid value "magic" at $.network.custom_credentials.x.inject_mode: expected one of header, basic_auth, url_path, query_param`},
		{`{"workdir": {"access": "all"}}`, `invalid value "all" at $.workdir.access: expected one of none, read, write, readwrite`},
		{`{"security": {"signal_mode": "loud"}}`, `invalid value "loud" at $.security.signal_mode`},
		{`{"extends": 5}`, `wrong type at $.extends: expected string or array, got number`},
		{`{"extends": [""]}`, `empty value at $.extends[0]`},
		{`{"groups": {"include": ["no_such_group"]}}`, `unknown group "no_such_group" at $.groups.include[0]`},
		{`{"groups": {"exclude": ["deny_credentials", "deny_shell_history"]}}`, `Cannot exclude required groups: 'deny_credentials', 'deny_shell_history'`},
		{`{"environment": {"set_vars": {"PATH": "/evil"}}}`, `environment.set_vars may not set "PATH"`},
		{`{"environment": {"set_vars": {"NONO_CAP_FILE": "/x"}}}`, `may not set "NONO_CAP_FILE"`},
		{`{"environment": {"deny_vars": ["A*B"]}}`, `invalid value "A*B" at $.environment.deny_vars[0]`},
		{`{"env_credentials": {"openai": "not a var"}}`, `invalid environment variable name "not a var" at $.env_credentials.openai`},
		{`{"meta": {"name": "a"}, "meta": {"name": "b"}}`, `duplicate key "meta" at $.meta`},
		{`{"meta": `, `invalid JSONC`},
		{`[]`, `wrong type at $: expected object, got array`},
		{strings.Repeat("[", 100) + strings.Repeat("]", 100), `nesting deeper than 64 levels`},
		{`{"$schema": "x", "meta": {"name": "n"}} trailing`, `invalid JSONC`},
	}
	for _, c := range cases {
		_, err := ParseProfile("my.json", []byte(c.doc))
		if err == nil {
			t.Errorf("%s: parsed, want %q", c.doc, c.want)
			continue
		}
		if !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s:\n got %q\nwant %q", c.doc, err, c.want)
		}
		if !strings.HasPrefix(err.Error(), "profile my.json: ") {
			t.Errorf("error %q does not name the profile", err)
		}
	}
	// Valid JSONC with comments and trailing commas parses.
	p, err := ParseProfile("ok", []byte("// c\n{\n /* b */ \"meta\": {\"name\": \"x\",},\n \"filesystem\": {\"read\": [\"/x\", {\"path\": \"/y\", \"when\": [\"linux\", \"!macos\"]},]},\n}"))
	if err != nil {
		t.Fatal(err)
	}
	if p.Filesystem.Read[1].Path != "/y" || !reflect.DeepEqual([]string(p.Filesystem.Read[1].When), []string{"linux", "!macos"}) {
		t.Errorf("parsed %+v", p.Filesystem.Read)
	}
}

func TestWhenPredicates(t *testing.T) {
	cases := []struct {
		w     When
		linux bool
		mac   bool
	}{
		{nil, true, true}, {When{"linux"}, true, false}, {When{"macos"}, false, true},
		{When{"!linux"}, false, true}, {When{"!macos"}, true, false}, {When{"macos", "linux"}, true, true},
	}
	for _, c := range cases {
		if c.w.Matches("linux") != c.linux || c.w.Matches("darwin") != c.mac {
			t.Errorf("%v: linux=%v mac=%v", c.w, c.w.Matches("linux"), c.w.Matches("darwin"))
		}
	}
}

func TestProfileVariableErrors(t *testing.T) {
	h := newFakeHost(t)
	h.userProfile("rt", `{"filesystem": {"read": ["$XDG_RUNTIME_DIR/sock"]}}`)
	resolveErr(t, h.req(func(q *Request) { q.Profile = "rt" }), `filesystem.read "$XDG_RUNTIME_DIR/sock": $XDG_RUNTIME_DIR is not set`)
	h.vars["XDG_RUNTIME_DIR"] = h.root
	mustResolve(t, h.req(func(q *Request) { q.Profile = "rt" })) // missing path only warns
	h.vars["XDG_CONFIG_HOME"] = "relative/config"
	resolveErr(t, h.req(func(q *Request) { q.Profile = "claude-code" }), "$XDG_CONFIG_HOME is not an absolute path")
	delete(h.vars, "XDG_CONFIG_HOME")
	h.userProfile("unk", `{"filesystem": {"allow": ["$FOO/x"]}}`)
	resolveErr(t, h.req(func(q *Request) { q.Profile = "unk" }), `filesystem.allow "$FOO/x": $FOO is not a supported variable`)
	delete(h.vars, "HOME")
	resolveErr(t, h.req(), "$HOME is not set")
	h.vars["HOME"] = "home"
	resolveErr(t, h.req(), "$HOME is not an absolute path")
}
