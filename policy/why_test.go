package policy

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestWhyPathReasons(t *testing.T) {
	h := newFakeHost(t)
	h.mkdir(".ssh", "proj/src", "proj/out", "docs", "ro")
	h.write(".ssh/id_rsa", "k")
	h.write("proj/src/main.go", "package main")
	h.write("ro/file.txt", "x")
	r := mustResolve(t, h.req(func(q *Request) {
		q.Read = []string{filepath.Join(h.home, "proj"), filepath.Join(h.home, "ro")}
		q.Write = []string{filepath.Join(h.home, "proj/out")}
		q.Allow = []string{filepath.Join(h.home, "docs")}
	}))
	home := h.home
	cases := []struct {
		path, op string
		want     WhyResult
	}{
		{"~/.ssh/id_rsa", "read", WhyResult{Status: "denied", Reason: "filesystem_deny",
			Details: "Path is covered by filesystem.deny rule: " + home + "/.ssh", PolicySource: "filesystem.deny"}},
		{home + "/proj/src/main.go", "read", WhyResult{Status: "allowed", Reason: "granted_path",
			GrantedPath: home + "/proj", Access: "read", Source: "user"}},
		{home + "/docs/new-file", "readwrite", WhyResult{Status: "allowed", Reason: "granted_path",
			GrantedPath: home + "/docs", Access: "read+write", Source: "user"}},
		{home + "/proj/out/x", "readwrite", WhyResult{Status: "allowed", Reason: "granted_path_union",
			GrantedPath: home + "/proj (read) + " + home + "/proj/out (write)", Access: "readwrite", Source: "user + user"}},
		{home + "/ro/file.txt", "write", WhyResult{Status: "denied", Reason: "insufficient_access",
			Details:            "Path is covered by " + home + "/ro with read access, but write was requested",
			MatchingCapability: &MatchingCapability{Path: home + "/ro", Access: "read", Source: "user"},
			SuggestedFlag:      "--write-file " + home + "/ro/file.txt"}},
		{home + "/elsewhere/new.txt", "write", WhyResult{Status: "denied", Reason: "path_not_granted",
			Details: "Path is not covered by any capability: " + home + "/elsewhere/new.txt", SuggestedFlag: "--write-file " + home + "/elsewhere/new.txt"}},
		{home + "/ro", "readwrite", WhyResult{Status: "denied", Reason: "insufficient_access",
			Details:            "Path is covered by " + home + "/ro with read access, but read+write was requested",
			MatchingCapability: &MatchingCapability{Path: home + "/ro", Access: "read", Source: "user"},
			SuggestedFlag:      "--allow " + home + "/ro"}},
		{"/usr/bin", "read", WhyResult{Status: "allowed", Reason: "granted_path", GrantedPath: "/usr/bin", Access: "read", Source: "group:system_read_linux_core"}},
	}
	for _, c := range cases {
		got := WhyPath(r, c.path, c.op)
		gj, _ := json.Marshal(got)
		wj, _ := json.Marshal(c.want)
		if string(gj) != string(wj) {
			t.Errorf("WhyPath(%s, %s):\n got %s\nwant %s", c.path, c.op, gj, wj)
		}
	}
	// A missing leaf under an ordinary directory suggests the parent.
	h.mkdir(filepath.Join(h.root, "other"))
	got := WhyPath(r, filepath.Join(h.root, "other/new"), "read")
	if got.Reason != "path_not_granted" || got.SuggestedFlag != "--read "+filepath.Join(h.root, "other") {
		t.Errorf("missing leaf: %+v", got)
	}
	// Paths with spaces are quoted.
	h.mkdir(filepath.Join(h.root, "with space"))
	if got := WhyPath(r, filepath.Join(h.root, "with space"), "read"); got.SuggestedFlag != "--read '"+filepath.Join(h.root, "with space")+"'" {
		t.Errorf("quoting: %q", got.SuggestedFlag)
	}
	// Deny beats a covering allow, even a file grant inside (refused at resolve anyway).
	if got := WhyPath(r, home+"/.ssh", "read"); got.Reason != "filesystem_deny" {
		t.Errorf("~/.ssh: %+v", got)
	}
	// ~/.sshfoo is not covered by the ~/.ssh deny.
	h.mkdir(".sshfoo")
	if got := WhyPath(r, home+"/.sshfoo", "read"); got.Reason != "path_not_granted" {
		t.Errorf("~/.sshfoo: %+v", got)
	}
	// A relative query path is taken from the cwd; unknown ops are treated as readwrite.
	cwd, _ := os.Getwd()
	if got := WhyPath(r, "testdata", "bogus"); got.Reason != "path_not_granted" || got.SuggestedFlag != "--allow "+filepath.Join(cwd, "testdata") {
		t.Errorf("relative/bogus op: %+v", got)
	}
	// Bypassed deny paths are no longer denied.
	h.mkdir(".aws")
	rb := mustResolve(t, h.req(func(q *Request) {
		q.BypassProtection = []string{home + "/.aws"}
		q.Read = []string{home + "/.aws"}
	}))
	if got := WhyPath(rb, home+"/.aws/config", "read"); got.Reason != "granted_path" {
		t.Errorf("bypassed: %+v", got)
	}
}

func TestWhySensitivePathFallback(t *testing.T) {
	h := newFakeHost(t)
	t.Setenv("HOME", h.home)
	h.mkdir(".gnupg", "ok")
	// A state without deny_paths (as from an older cap file) still reports sensitive paths.
	r := &Resolved{x: NewExpander(h.env, h.work)}
	got := WhyPath(r, h.home+"/.gnupg/pubring.kbx", "read")
	if got.Status != "denied" || got.Reason != "sensitive_path" || got.PolicySource != "group:deny_credentials" ||
		!strings.HasPrefix(got.Details, "Blocked by policy group 'deny_credentials': ") ||
		!strings.HasSuffix(got.Details, "Use filesystem.bypass_protection to exempt specific paths when appropriate.") {
		t.Errorf("sensitive: %+v", got)
	}
	r.Bypassed = []string{h.home + "/.gnupg"}
	if got := WhyPath(r, h.home+"/.gnupg/pubring.kbx", "read"); got.Reason != "path_not_granted" {
		t.Errorf("bypassed sensitive: %+v", got)
	}
	// A missing leaf whose parent is HOME suggests the file, not HOME.
	if got := WhyPath(r, h.home+"/newfile", "write"); got.SuggestedFlag != "--write-file "+h.home+"/newfile" {
		t.Errorf("home parent: %q", got.SuggestedFlag)
	}
}

func TestWhyJSONAndText(t *testing.T) {
	res := WhyResult{Status: "denied", Reason: "insufficient_access", Details: "d",
		MatchingCapability: &MatchingCapability{Path: "/p", Access: "read", Source: "user"}, SuggestedFlag: "--write /p"}
	b, _ := json.Marshal(res)
	want := `{"status":"denied","reason":"insufficient_access","details":"d","matching_capability":{"path":"/p","access":"read","source":"user"},"suggested_flag":"--write /p"}`
	if string(b) != want {
		t.Errorf("json = %s", b)
	}
	text := res.Text()
	for _, line := range []string{"DENIED\n", "  Reason: insufficient_access\n", "  Granted by: /p\n", "  Access: read\n", "  Source: user\n", "  Details: d\n", "  Suggested fix: --write /p\n"} {
		if !strings.Contains(text, line) {
			t.Errorf("text lacks %q:\n%s", line, text)
		}
	}
	ok := WhyResult{Status: "allowed", Reason: "granted_path", GrantedPath: "/g", Access: "read", Source: "profile", Warning: "w"}
	if got := ok.Text(); got != "ALLOWED\n  Reason: granted_path\n  Granted by: /g\n  Access: read\n  Source: profile\nWarning: w\n" {
		t.Errorf("allowed text = %q", got)
	}
	ns, _ := json.Marshal(NotSandboxed())
	if string(ns) != `{"status":"not_sandboxed","message":"Not running inside a nono sandbox"}` {
		t.Errorf("not sandboxed = %s", ns)
	}
	if !strings.HasPrefix(NotSandboxed().Text(), "NOT SANDBOXED\n") {
		t.Errorf("not sandboxed text")
	}
	if _, err := ParseOp("exec"); err == nil {
		t.Errorf("ParseOp accepted exec")
	}
}

// TestProtectionForSuggestsAWorkingBypass: for a path a deny rule keeps out,
// ProtectionFor names the rule and suggests flags; applying exactly those
// flags must resolve (a bypass needs its grant, and a bypass narrower than
// the rule would not lift it) and make the path allowed for the operation.
func TestProtectionForSuggestsAWorkingBypass(t *testing.T) {
	h := newFakeHost(t)
	h.mkdir(".ssh", ".aws", "proj")
	h.write(".ssh/id_rsa", "k")
	h.write(".bashrc", "x")
	r := mustResolve(t, h.req(func(q *Request) { q.Allow = []string{filepath.Join(h.home, "proj")} }))
	home := h.home
	cases := []struct {
		path, op, group, fix string
	}{
		{home + "/.ssh/id_rsa", "read", "deny_credentials", "--read-file " + home + "/.ssh/id_rsa --bypass-protection " + home + "/.ssh"},
		{home + "/.bashrc", "write", "deny_shell_configs", "--write-file " + home + "/.bashrc --bypass-protection " + home + "/.bashrc"},
		{home + "/.ssh", "readwrite", "deny_credentials", "--allow " + home + "/.ssh --bypass-protection " + home + "/.ssh"},
		// A file that does not exist yet is reached through its directory.
		{home + "/.aws/credentials", "write", "deny_credentials", "--write " + home + "/.aws --bypass-protection " + home + "/.aws"},
		// Nothing inside a missing rule exists to grant: the rule is named, no flags.
		{home + "/.gnupg/pubring.kbx", "read", "deny_credentials", ""},
	}
	for _, c := range cases {
		pr, ok := ProtectionFor(r, c.path, c.op)
		if !ok || pr.Deny.Group != c.group || pr.Fix != c.fix {
			t.Errorf("ProtectionFor(%s, %s) = %+v, %v; want group %s, fix %q", c.path, c.op, pr, ok, c.group, c.fix)
			continue
		}
		if c.fix == "" {
			continue
		}
		fields := strings.Fields(c.fix)
		r2, err := Resolve(h.req(func(q *Request) {
			q.Allow = []string{filepath.Join(h.home, "proj")}
			lists := map[string]*[]string{"--read": &q.Read, "--write": &q.Write, "--allow": &q.Allow,
				"--read-file": &q.ReadFile, "--write-file": &q.WriteFile, "--allow-file": &q.AllowFile,
				"--bypass-protection": &q.BypassProtection}
			for i := 0; i+1 < len(fields); i += 2 {
				dst, ok := lists[fields[i]]
				if !ok {
					t.Fatalf("unexpected flag %s in %q", fields[i], c.fix)
				}
				*dst = append(*dst, fields[i+1])
			}
		}))
		if err != nil {
			t.Errorf("following %q: %v", c.fix, err)
			continue
		}
		if got := WhyPath(r2, c.path, c.op); got.Status != StatusAllowed {
			t.Errorf("after %q, %s of %s: %+v", c.fix, c.op, c.path, got)
		}
	}
	if _, ok := ProtectionFor(r, home+"/proj/x", "read"); ok {
		t.Error("a path no deny rule covers has no protection")
	}
	if _, ok := ProtectionFor(r, home+"/.sshfoo", "read"); ok {
		t.Error("~/.sshfoo is not under the ~/.ssh rule")
	}
}
