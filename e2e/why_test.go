package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// userProfile writes a profile into the hermetic HOME's profile directory.
func (e *env) userProfile(name, body string) string {
	return e.write(filepath.Join(".config", "nono", "profiles", name+".json"), body)
}

// TestWhyReasonCodes drives every path and network reason code through the
// CLI and checks the JSON answer.
func TestWhyReasonCodes(t *testing.T) {
	e := newEnv(t)
	ro := filepath.Join(e.root, "ro")
	rw := filepath.Join(e.root, "rw")
	wo := filepath.Join(e.root, "wo")
	for _, d := range []string{ro, rw, wo, filepath.Join(e.root, "other")} {
		os.MkdirAll(d, 0o755)
	}
	e.write(".gnupg/key", "k")
	other := filepath.Join(e.root, "other")
	e.userProfile("deny-proj", `{"extends": "default", "filesystem": {"deny": ["`+other+`/secret"]}}`)
	os.MkdirAll(filepath.Join(other, "secret"), 0o755)
	parent := filepath.Join(e.root, "parent")
	os.MkdirAll(filepath.Join(parent, "child"), 0o755)
	e.userProfile("netty", `{"extends": "default", "network": {"network_profile": "minimal", "allow_domain": ["*.example.org"], "deny_domain": ["bad.example.org"]}}`)
	e.userProfile("offline", `{"extends": "default", "network": {"block": true}}`)

	cases := []struct {
		name   string
		args   []string
		status string
		reason string
		check  func(whyAnswer) bool
	}{
		{"ssh is a deny rule", []string{"--path", "~/.ssh/id_ed25519"}, "denied", "filesystem_deny",
			func(a whyAnswer) bool {
				return a.PolicySource == "filesystem.deny" && strings.Contains(a.Details, ".ssh")
			}},
		{"profile deny", []string{"--profile", "deny-proj", "--path", other + "/secret/x"}, "denied", "filesystem_deny",
			func(a whyAnswer) bool { return strings.Contains(a.Details, other+"/secret") }},
		{"granted", []string{"--path", rw + "/new.txt", "--op", "write", "--allow", rw}, "allowed", "granted_path",
			func(a whyAnswer) bool { return a.GrantedPath == rw && a.Source == "user" }},
		{"union", []string{"--path", ro, "--op", "readwrite", "--read", ro, "--write", ro}, "allowed", "granted_path", nil},
		{"read+write from two grants", []string{"--path", parent + "/child/x", "--op", "readwrite", "--read", parent + "/child", "--write", parent}, "allowed", "granted_path_union", nil},
		{"insufficient", []string{"--path", ro, "--op", "write", "--read", ro}, "denied", "insufficient_access",
			func(a whyAnswer) bool { return a.SuggestedFlag == "--write "+ro }},
		{"not granted", []string{"--path", filepath.Join(e.root, "other")}, "denied", "path_not_granted",
			func(a whyAnswer) bool { return a.SuggestedFlag == "--read "+filepath.Join(e.root, "other") }},
		{"group grant", []string{"--path", "/usr/bin/env"}, "allowed", "granted_path",
			func(a whyAnswer) bool { return a.Source == "group:system_read_linux_core" }},
		{"network open", []string{"--host", "example.com"}, "allowed", "network_allowed", nil},
		{"network blocked flag", []string{"--host", "example.com", "--block-net"}, "denied", "network_blocked", nil},
		{"network blocked profile", []string{"--profile", "offline", "--host", "example.com"}, "denied", "network_blocked", nil},
		{"allow-net wins", []string{"--profile", "offline", "--allow-net", "--host", "example.com"}, "allowed", "network_allowed", nil},
		{"proxy allowed", []string{"--network-profile", "developer", "--host", "api.openai.com"}, "allowed", "proxy_allowed", nil},
		{"proxy allowed by group", []string{"--allow-domain", "github", "--host", "https://api.github.com/repos"}, "allowed", "proxy_allowed", nil},
		{"proxy filtered", []string{"--allow-domain", "api.openai.com", "--host", "evil.example.com"}, "denied", "proxy_filtered",
			func(a whyAnswer) bool {
				return strings.HasPrefix(a.Details, "Domain filtering is active. ") && a.SuggestedFlag == "--allow-domain evil.example.com"
			}},
		{"profile allowlist", []string{"--profile", "netty", "--host", "ok.example.org"}, "allowed", "proxy_allowed", nil},
		{"profile deny_domain", []string{"--profile", "netty", "--host", "bad.example.org"}, "denied", "host_denied", nil},
		{"metadata", []string{"--allow-domain", "169.254.169.254", "--host", "169.254.169.254", "--port", "80"}, "denied", "metadata_denied", nil},
		{"invalid host", []string{"--host", "exa mple.com"}, "denied", "invalid_host", nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := e.nono(append([]string{"why", "--json"}, c.args...)...)
			a := parseWhy(t, r)
			if a.Status != c.status || a.Reason != c.reason {
				t.Fatalf("got %s/%s, want %s/%s\n%s", a.Status, a.Reason, c.status, c.reason, r)
			}
			if c.check != nil && !c.check(a) {
				t.Fatalf("answer details wrong: %s", r)
			}
		})
	}

	// Environment equivalents give the same context as the flags.
	a := parseWhy(t, e.nonoEnv([]string{"NONO_ALLOW_DOMAIN=api.openai.com,github"}, "why", "--json", "--host", "api.github.com"))
	if a.Reason != "proxy_allowed" {
		t.Errorf("NONO_ALLOW_DOMAIN ignored: %+v", a)
	}
	a = parseWhy(t, e.nonoEnv([]string{"NONO_NETWORK_PROFILE=minimal"}, "why", "--json", "--host", "github.com"))
	if a.Reason != "proxy_filtered" {
		t.Errorf("NONO_NETWORK_PROFILE ignored: %+v", a)
	}
	a = parseWhy(t, e.nonoEnv([]string{"NONO_BLOCK_NET=1"}, "why", "--json", "--host", "github.com"))
	if a.Reason != "network_blocked" {
		t.Errorf("NONO_BLOCK_NET ignored: %+v", a)
	}
	a = parseWhy(t, e.nonoEnv([]string{"NONO_ALLOW=" + rw}, "why", "--json", "--path", rw, "--op", "write"))
	if a.Reason != "granted_path" {
		t.Errorf("NONO_ALLOW ignored: %+v", a)
	}

	// The overview's `nono why ~/.ssh/id_rsa`: a lone PATH is --path PATH
	// (the first answer is a denial, the others grants).
	for _, args := range [][]string{
		{"~/.ssh/id_ed25519"},
		{rw, "--allow", rw, "--op", "write"},
		{"--json", "/etc/hostname", "--read", "/etc"},
	} {
		flagged := append([]string{"why", "--path"}, args...)
		if args[0] == "--json" {
			flagged = append([]string{"why", "--json", "--path"}, args[1:]...)
		}
		want, got := e.nono(flagged...), e.nono(append([]string{"why"}, args...)...)
		if want.code != 0 || got.code != 0 || got.stdout != want.stdout || got.stdout == "" {
			t.Fatalf("why %v answered differently from why --path:\n%s\nvs\n%s", args, got, want)
		}
	}

	// Human output.
	r := e.nono("why", "--path", "~/.ssh/id_ed25519")
	mustContain(t, r, r.stdout, "DENIED\n", "  Reason: filesystem_deny", "  Details: ",
		"  Cause: protected by nono's deny_credentials group",
		"  To lift it for this path: --read-file "+filepath.Join(e.home, ".ssh/id_ed25519")+" --bypass-protection "+filepath.Join(e.home, ".ssh")+"\n")
	if j := e.nono("why", "--json", "--path", "~/.ssh/id_ed25519"); strings.Contains(j.stdout, "bypass") || strings.Contains(j.stdout, "Cause") {
		t.Fatalf("the JSON answer keeps the reference's fields only: %s", j)
	}
	r = e.nono("why", "--path", rw, "--allow", rw, "--op", "readwrite")
	mustContain(t, r, r.stdout, "ALLOWED\n", "  Reason: granted_path", "  Granted by: "+rw, "  Access: read+write", "  Source: user")
	if r.code != 0 {
		t.Fatal(r)
	}
}

func TestWhyBadInput(t *testing.T) {
	e := newEnv(t)
	oneClearError(t, e.nono("why", "--path", "/etc", "--op", "delete"), `invalid --op "delete"`)
	oneClearError(t, e.nono("why"), "exactly one of --path or --host")
	oneClearError(t, e.nono("why", "/etc", "/tmp"), "one path at a time")
	oneClearError(t, e.nono("why", "/etc", "--path", "/tmp"), "both name what to check")
	oneClearError(t, e.nono("why", "/etc", "--host", "x.com"), "both name what to check")
	oneClearError(t, e.nono("why", "--path", "/etc", "--host", "x.com"), "exactly one of --path or --host")
	oneClearError(t, e.nono("why", "--host", "x.com", "--op", "write"), "--op applies to --path")
	oneClearError(t, e.nono("why", "--host", "x.com", "--port", "70000"), "--port")
	oneClearError(t, e.nono("why", "--host", "x.com", "--block-net", "--allow-net"), "conflict")
	oneClearError(t, e.nono("why", "--host", "x.com", "--network-profile", "nope"), `unknown network profile "nope"`)
	// Network contexts `nono run` refuses are refused here too.
	oneClearError(t, e.nono("why", "--host", "x.com", "--block-net", "--network-profile", "minimal"), "conflicts with proxy flags")
	oneClearError(t, e.nono("why", "--host", "x.com", "--allow-net", "--allow-domain", "x.com"), "conflicts with proxy flags")
	oneClearError(t, e.nono("why", "--host", "x.com", "--allow-domain", "*"), "wildcards")
	oneClearError(t, e.nono("why", "--path", "/etc", "--profile", "no-such-profile"), `profile "no-such-profile" not found`)
	oneClearError(t, e.nono("why", "--path", "/etc", "--allow", filepath.Join(e.root, "missing")), "missing")
	oneClearError(t, e.nono("why", "--self", "--path", "/etc", "--allow", e.work), "--self")
	// A context `nono run` would refuse is refused the same way.
	oneClearError(t, e.nono("why", "--path", "~/.ssh/id_ed25519", "--read-file", "~/.ssh/id_ed25519"), "deny-overlap")
}

// TestWhySelf asks a real sandbox about itself, then tampers with and forges
// its capability file from inside and requires the answer to be refused.
func TestWhySelf(t *testing.T) {
	e := newEnv(t)
	bin := filepath.Dir(nonoBin)
	proj := filepath.Join(e.root, "proj")
	os.MkdirAll(proj, 0o755)

	// Outside a sandbox.
	r := e.nono("why", "--self", "--json", "--path", "/tmp")
	a := parseWhy(t, r)
	if a.Status != "not_sandboxed" || a.Message != "Not running inside a nono sandbox" {
		t.Fatalf("outside: %s", r)
	}

	run := func(script string) result {
		return e.nono("run", "--no-diagnostics", "--read", bin, "--allow", proj, "--", "sh", "-c", script, "sh", nonoBin, proj)
	}
	r = run(`"$1" why --self --json --path "$2/new" --op write && "$1" why --self --json --path ~/.ssh/id_ed25519 && "$1" why --self --json --path "$2/../" --op write`)
	if r.code != 0 {
		t.Fatal(r)
	}
	lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
	if len(lines) != 3 {
		t.Fatalf("want 3 answers: %s", r)
	}
	for i, want := range []string{`"reason":"granted_path"`, `"reason":"filesystem_deny"`, `"reason":"path_not_granted"`} {
		if !strings.Contains(lines[i], want) {
			t.Errorf("answer %d: want %s in %s", i, want, lines[i])
		}
	}

	// The child may write $TMPDIR, so it can overwrite its own capability
	// file: the edit must be detected even though the new content is valid.
	r = run(`sed 's#"fs": \[#"fs": [{"original": "/", "path": "/", "access": "readwrite", "is_file": false, "source": "user"},#' "$NONO_CAP_FILE" > "$2/cap.new" &&
cat "$2/cap.new" > "$NONO_CAP_FILE" && grep -q '"path": "/",' "$NONO_CAP_FILE" && exec "$1" why --self --path / --op write`)
	if r.code != 1 || !securityLine(r.stderr) || !strings.Contains(r.stderr, "content digest") || strings.Contains(r.stdout, "ALLOWED") {
		t.Fatalf("tampered capability file accepted: %s", r)
	}
	// A forged file outside the temp directories, or under a made-up name.
	r = run(`printf '{"nonce":"x","fs":[],"net_blocked":false,"allowed_commands":[],"blocked_commands":[],"bypass_protection_paths":[],"allowed_domains":[]}' > "$2/.nono-0123456789abcdef0123456789abcdef.json" &&
NONO_CAP_FILE="$2/.nono-0123456789abcdef0123456789abcdef.json" exec "$1" why --self --path / --op write`)
	if r.code != 1 || !securityLine(r.stderr) || !strings.Contains(r.stderr, "not inside $TMPDIR or /tmp") {
		t.Fatalf("forged capability file outside tmp accepted: %s", r)
	}
	r = run(`f=$(dirname "$NONO_CAP_FILE")/.nono-0123456789abcdef0123456789abcdef.json; cp "$NONO_CAP_FILE" "$f" && NONO_CAP_FILE="$f" "$1" why --self --path / --op write; s=$?; rm -f "$f"; exit $s`)
	if r.code != 1 || !securityLine(r.stderr) { // unreadable in the sandbox, or a digest mismatch
		t.Fatalf("renamed capability file accepted: %s", r)
	}
	r = run(`NONO_CAP_FILE=/etc/passwd exec "$1" why --self --path /`)
	if r.code != 1 || !securityLine(r.stderr) {
		t.Fatalf("out-of-place file accepted: %s", r)
	}
}

// securityLine reports whether stderr has a line starting with the
// capability file rejection.
func securityLine(stderr string) bool {
	for _, l := range strings.Split(stderr, "\n") {
		if strings.HasPrefix(l, "SECURITY: NONO_CAP_FILE validation failed: ") {
			return true
		}
	}
	return false
}

// TestWhySelfHosts asks a real session about hosts from inside, in every
// network mode, and wants the gateway's own answers: a credential-only
// session is default-deny except the credential upstream, and an
// upstream-only session passes public hosts but never metadata or
// loopback. (The capability file once recorded only allowed_domains, so
// both read as "network open".)
func TestWhySelfHosts(t *testing.T) {
	e := newEnv(t)
	bin := filepath.Dir(nonoBin)
	prof := filepath.Join(e.root, "creds.json")
	if err := os.WriteFile(prof, []byte(`{"meta": {"name": "self-creds"}, "network": {"custom_credentials": {"svc": {
	  "upstream": "https://api.svc.test", "credential_key": "env://SELF_KEY", "env_var": "SVC_API_KEY"}}}}`), 0o644); err != nil {
		t.Fatal(err)
	}
	ask := func(session []string, host, reason, status string) {
		t.Helper()
		args := append(append([]string{"run", "--no-diagnostics", "--read", bin, "--allow", e.work}, session...),
			"--", nonoBin, "why", "--self", "--json", "--host", host)
		r := e.nonoEnv([]string{"SELF_KEY=k-" + strings.Repeat("x", 20)}, args...)
		a := parseWhy(t, r)
		if a.Reason != reason || a.Status != status {
			t.Errorf("session %v, host %s: got %s/%s (%s), want %s/%s", session, host, a.Status, a.Reason, a.Details, status, reason)
		}
	}
	open, blocked := []string{}, []string{"--block-net"}
	domains := []string{"--allow-domain", "example.com"}
	creds := []string{"--profile", prof, "--credential", "svc"}
	upstream := []string{"--upstream-proxy", "127.0.0.1:9"}
	ask(open, "example.com", "network_allowed", "allowed")
	ask(blocked, "example.com", "network_blocked", "denied")
	ask(domains, "example.com", "proxy_allowed", "allowed")
	ask(domains, "other.com", "proxy_filtered", "denied")
	ask(creds, "api.svc.test", "proxy_allowed", "allowed")
	ask(creds, "example.com", "proxy_filtered", "denied")
	ask(creds, "169.254.169.254", "metadata_denied", "denied")
	ask(upstream, "example.com", "proxy_allowed", "allowed")
	ask(upstream, "169.254.169.254", "metadata_denied", "denied")
	ask(upstream, "127.0.0.1", "address_denied", "denied")
}

// TestWhyUpstreamOnly: `nono why` takes --upstream-proxy (and
// NONO_UPSTREAM_PROXY) as context, so it answers the way an upstream-only
// `nono run` decides: public hosts pass to the upstream proxy, metadata and
// private or loopback literals do not.
func TestWhyUpstreamOnly(t *testing.T) {
	e := newEnv(t)
	a := parseWhy(t, e.nono("why", "--json", "--host", "example.com", "--upstream-proxy", "squid.corp:3128"))
	if a.Status != "allowed" || a.Reason != "proxy_allowed" || a.PolicySource != "upstream_proxy" {
		t.Errorf("public host: %+v", a)
	}
	a = parseWhy(t, e.nonoEnv([]string{"NONO_UPSTREAM_PROXY=squid.corp:3128"}, "why", "--json", "--host", "10.0.0.1"))
	if a.Reason != "address_denied" || a.Details != "address 10.0.0.1 is a private (RFC 1918) address; only an exact (non-wildcard) allow entry may reach it" {
		t.Errorf("private literal: %+v", a)
	}
	a = parseWhy(t, e.nono("why", "--json", "--host", "169.254.169.254", "--upstream-proxy", "squid.corp:3128"))
	if a.Reason != "metadata_denied" {
		t.Errorf("metadata: %+v", a)
	}
	oneClearError(t, e.nono("why", "--host", "x.com", "--upstream-proxy", "http://u:pw@h:1"), "password")
	oneClearError(t, e.nono("why", "--host", "x.com", "--upstream-proxy", "h:1", "--block-net"), "conflicts with proxy flags")
	oneClearError(t, e.nono("why", "--host", "x.com", "--upstream-proxy", "h:1", "--allow-net"), "conflicts with --upstream-proxy")
	oneClearError(t, e.nono("why", "--self", "--host", "x.com", "--upstream-proxy", "h:1"), "--self")
}
