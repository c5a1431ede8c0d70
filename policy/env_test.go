package policy

import (
	"reflect"
	"strings"
	"testing"
)

func TestChildEnv(t *testing.T) {
	host := []string{
		"HOME=/home/u", "PATH=/usr/bin", "TERM=xterm", "LANG=C",
		"LD_PRELOAD=/evil.so", "LD_LIBRARY_PATH=/evil", "DYLD_INSERT_LIBRARIES=x", "BASH_ENV=/evil",
		"BASH_FUNC_foo%%=() { evil; }", "PYTHONSTARTUP=/evil.py", "NODE_OPTIONS=--require=/evil",
		"PERL5OPT=-d", "GOFLAGS=-toolexec=evil", "IFS= ", "OP_SERVICE_ACCOUNT_TOKEN=ops_secret",
		"OP_SESSION_my=abc", "NONO_CAP_FILE=/tmp/forged.json", "NONO_PROXY_TOKEN=t", "AWS_SECRET_ACCESS_KEY=s",
		"MY_TOKEN=t", "noequals", "=novalue",
	}
	got := ChildEnv(host, nil)
	want := []string{"HOME=/home/u", "PATH=/usr/bin", "TERM=xterm", "LANG=C", "AWS_SECRET_ACCESS_KEY=s", "MY_TOKEN=t"}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("ChildEnv = %v\nwant %v", got, want)
	}

	p, err := ParseProfile("env", []byte(`{"environment": {
		"deny_vars": ["AWS_*", "LANG"],
		"allow_vars": ["HOME", "PATH", "AWS_*", "MY_*", "LD_PRELOAD"],
		"set_vars": {"EDITOR": "vi", "HOME": "/sandbox"}}}`))
	if err != nil {
		t.Fatal(err)
	}
	got = ChildEnv(host, p)
	want = []string{"PATH=/usr/bin", "MY_TOKEN=t", "EDITOR=vi", "HOME=/sandbox"}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("with profile = %v\nwant %v", got, want)
	}
	// allow_vars: [] lets nothing through except set_vars.
	p.Environment = Environment{AllowVars: []string{}, SetVars: map[string]string{"A": "1"}}
	if got := ChildEnv(host, p); !reflect.DeepEqual(got, []string{"A=1"}) {
		t.Errorf("empty allow_vars = %v", got)
	}
	// "*" matches everything.
	p.Environment = Environment{DenyVars: []string{"*"}}
	if got := ChildEnv(host, p); len(got) != 0 {
		t.Errorf("deny * = %v", got)
	}
	// set_vars can never set PATH or NONO_* even if the struct was built by hand.
	p.Environment = Environment{SetVars: map[string]string{"PATH": "/evil", "NONO_CAP_FILE": "/x"}}
	for _, kv := range ChildEnv(host, p) {
		if kv == "PATH=/evil" || strings.HasPrefix(kv, "NONO_") {
			t.Errorf("forbidden set_vars applied: %s", kv)
		}
	}
}

func TestSetVarsExpansion(t *testing.T) {
	h := newFakeHost(t)
	h.userProfile("sv", `{"environment": {"set_vars": {"CACHE": "$XDG_CACHE_HOME/tool", "LIT": "cost $5 and $UNKNOWN"}}}`)
	r := mustResolve(t, h.req(func(q *Request) { q.Profile = "sv" }))
	sv := r.Profile.Environment.SetVars
	if sv["CACHE"] != h.home+"/.cache/tool" || sv["LIT"] != "cost $5 and $UNKNOWN" {
		t.Errorf("set_vars = %v", sv)
	}
}

func TestCheckCommand(t *testing.T) {
	h := newFakeHost(t)
	r := mustResolve(t, h.req())
	err := r.CheckCommand("/usr/bin/rm", nil, nil)
	if err == nil || !strings.HasPrefix(err.Error(), "Command 'rm' is blocked: command blocking is deprecated since v0.33.0") {
		t.Fatalf("rm: %v", err)
	}
	for _, c := range []string{"sudo", "apt-get", "systemctl", "mkfs.ext4"} {
		if r.CheckCommand(c, nil, nil) == nil {
			t.Errorf("%s not blocked", c)
		}
	}
	if r.CheckCommand("brew", nil, nil) != nil {
		t.Errorf("macOS-only command blocked on Linux")
	}
	if r.CheckCommand("rm", []string{"rm"}, nil) != nil {
		t.Errorf("--allow-command rm ignored")
	}
	if r.CheckCommand("ls", nil, nil) != nil || r.CheckCommand("my-tool", nil, []string{"my-tool"}) == nil {
		t.Errorf("block list wrong")
	}
	h.userProfile("cmds", `{"commands": {"allow": ["rm"], "deny": ["curl"]}}`)
	r = mustResolve(t, h.req(func(q *Request) { q.Profile = "cmds" }))
	if r.CheckCommand("rm", nil, nil) != nil || r.CheckCommand("curl", nil, nil) == nil {
		t.Errorf("profile commands section ignored")
	}
	h.userProfile("nocmd", `{"groups": {"exclude": ["dangerous_commands", "dangerous_commands_linux"]}}`)
	r = mustResolve(t, h.req(func(q *Request) { q.Profile = "nocmd" }))
	if r.CheckCommand("rm", nil, nil) != nil {
		t.Errorf("excluded group still blocks")
	}
}
