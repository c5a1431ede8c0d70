package policy

import (
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nono-sandbox/nono/sandbox"
)

func TestCLIGrantsCanonicalised(t *testing.T) {
	h := newFakeHost(t)
	h.mkdir("proj", "lib/src", "out")
	f := h.write("etc/config.toml", "x")
	if err := os.Symlink(filepath.Join(h.home, "proj"), filepath.Join(h.home, "plink")); err != nil {
		t.Fatal(err)
	}
	r := mustResolve(t, h.req(func(q *Request) {
		q.Allow = []string{filepath.Join(h.home, "plink")}
		q.Read = []string{filepath.Join(h.home, "lib/src/../src")}
		q.Write = []string{filepath.Join(h.home, "out")}
		q.ReadFile = []string{f}
	}))
	i, ok := findGrant(r, filepath.Join(h.home, "proj"), SourceUser)
	if !ok || r.Grants[i].Access != sandbox.AccessReadWrite || r.Grants[i].Original != filepath.Join(h.home, "plink") {
		t.Fatalf("symlink grant not canonicalised: %+v", r.Grants)
	}
	if _, ok := findGrant(r, filepath.Join(h.home, "lib/src"), SourceUser); !ok {
		t.Errorf(".. not resolved")
	}
	if i, ok := findGrant(r, f, SourceUser); !ok || !r.Grants[i].File || r.Grants[i].Access != sandbox.AccessRead {
		t.Errorf("file grant wrong")
	}
	// A relative CLI path is taken from the process cwd.
	cwd, _ := os.Getwd()
	r = mustResolve(t, h.req(func(q *Request) { q.Read = []string{"testdata"} }))
	if _, ok := findGrant(r, filepath.Join(cwd, "testdata"), SourceUser); !ok {
		t.Errorf("relative path not resolved against cwd")
	}
}

func TestCLIGrantErrors(t *testing.T) {
	h := newFakeHost(t)
	h.mkdir("dir")
	f := h.write("file.txt", "x")
	resolveErr(t, h.req(func(q *Request) { q.Read = []string{"/nope"} }), "--read /nope: no such file or directory")
	resolveErr(t, h.req(func(q *Request) { q.WriteFile = []string{"/nope/x"} }), "--write-file /nope/x: no such file or directory")
	resolveErr(t, h.req(func(q *Request) { q.Allow = []string{f} }), "--allow "+f+": is not a directory")
	resolveErr(t, h.req(func(q *Request) { q.ReadFile = []string{filepath.Join(h.home, "dir")} }), "is a directory")
	resolveErr(t, h.req(func(q *Request) { q.Workdir = "/nope" }), "--workdir /nope: no such file or directory")
	r := mustResolve(t, h.req())
	if err := r.AddGrant("/nope", sandbox.AccessRead, false, SourceUser, "--allow-cwd"); err == nil || err.Error() != "--allow-cwd /nope: no such file or directory" {
		t.Errorf("AddGrant missing path: %v", err)
	}
	if err := r.AddGrant(f, 0, true, SourceUser, "x"); err == nil {
		t.Errorf("AddGrant accepted zero access")
	}
}

func TestDenyOverlap(t *testing.T) {
	h := newFakeHost(t)
	h.mkdir(".ssh", ".aws", ".sshfoo", "proj")
	h.write(".ssh/id_rsa", "secret")
	h.write(".netrc", "machine x")

	// Granting HOME contains many denies: hard error, at most 5 listed.
	err := resolveErr(t, h.req(func(q *Request) { q.Allow = []string{h.home} }),
		"Landlock deny-overlap is not enforceable on Linux", "overlaps allowed parent '"+h.home+"' (source: user)", "more conflict(s)")
	if n := strings.Count(err.Error(), "\n- "); n != 5 {
		t.Errorf("listed %d conflicts, want 5:\n%s", n, err)
	}
	// Equality is refused too.
	resolveErr(t, h.req(func(q *Request) { q.Read = []string{filepath.Join(h.home, ".ssh")} }),
		"grant '"+filepath.Join(h.home, ".ssh")+"' (source: user) equals denied path", "group deny_credentials")
	// A grant inside a denied directory is refused.
	resolveErr(t, h.req(func(q *Request) { q.ReadFile = []string{filepath.Join(h.home, ".ssh/id_rsa")} }), "is inside denied path")
	// Component-wise: ~/.sshfoo is not ~/.ssh.
	r := mustResolve(t, h.req(func(q *Request) { q.Read = []string{filepath.Join(h.home, ".sshfoo")} }))
	if _, ok := findGrant(r, filepath.Join(h.home, ".sshfoo"), SourceUser); !ok {
		t.Errorf("~/.sshfoo not granted")
	}
	// An exact file grant equal to a deny is removed with a warning.
	r = mustResolve(t, h.req(func(q *Request) { q.ReadFile = []string{filepath.Join(h.home, ".netrc")} }))
	if _, ok := findGrant(r, filepath.Join(h.home, ".netrc"), ""); ok {
		t.Errorf("~/.netrc file grant kept")
	}
	if len(r.Warnings) == 0 || !strings.Contains(strings.Join(r.Warnings, "\n"), ".netrc") {
		t.Errorf("no warning for removed file grant: %v", r.Warnings)
	}
	// Profile filesystem.deny under a later CWD grant fails at Validate.
	h.userProfile("pd", `{"filesystem": {"deny": ["$WORKDIR/secret"]}, "workdir": {"access": "readwrite"}}`)
	r = mustResolve(t, h.req(func(q *Request) { q.Profile = "pd" }))
	if err := r.AddGrant(h.work, r.WorkdirAccess, false, SourceUser, "--allow-cwd"); err != nil {
		t.Fatal(err)
	}
	want := "deny '" + filepath.Join(h.work, "secret") + "' (profile filesystem.deny) overlaps allowed parent '" + h.work + "' (source: user)"
	if err := r.Validate(); err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("Validate after CWD grant: %v, want %q", err, want)
	}
}

func TestSymlinkIntoDeniedDirRefused(t *testing.T) {
	h := newFakeHost(t)
	h.mkdir(".ssh", "proj")
	key := h.write(".ssh/id_ed25519", "secret")
	if err := os.Symlink(filepath.Join(h.home, ".ssh"), filepath.Join(h.home, "proj/keys")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(key, filepath.Join(h.home, "proj/key")); err != nil {
		t.Fatal(err)
	}
	resolveErr(t, h.req(func(q *Request) { q.Read = []string{filepath.Join(h.home, "proj/keys")} }), "equals denied path")
	resolveErr(t, h.req(func(q *Request) { q.ReadFile = []string{filepath.Join(h.home, "proj/key")} }), "is inside denied path")
	// A deny path that is itself a symlink is matched at its target too.
	h.mkdir("/" + filepath.Join(h.root, "secrets/aws"))
	if err := os.Symlink(filepath.Join(h.root, "secrets/aws"), filepath.Join(h.home, ".aws")); err != nil {
		t.Fatal(err)
	}
	r := mustResolve(t, h.req())
	if !hasDeny(r, filepath.Join(h.root, "secrets/aws")) || !hasDeny(r, filepath.Join(h.home, ".aws")) {
		t.Errorf("symlinked deny not recorded in both forms")
	}
	resolveErr(t, h.req(func(q *Request) { q.Read = []string{filepath.Join(h.root, "secrets")} }), "overlaps allowed parent")
}

func TestBypassProtection(t *testing.T) {
	h := newFakeHost(t)
	h.mkdir(".aws", ".docker", ".ssh")
	aws := filepath.Join(h.home, ".aws")
	r := mustResolve(t, h.req(func(q *Request) {
		q.BypassProtection = []string{aws}
		q.Allow = []string{aws}
	}))
	if hasDeny(r, aws) || !hasDeny(r, filepath.Join(h.home, ".ssh")) {
		t.Errorf("bypass removed the wrong denies")
	}
	if i, ok := findGrant(r, aws, SourceUser); !ok || r.Grants[i].Access != sandbox.AccessReadWrite {
		t.Errorf("bypassed grant missing")
	}
	if !strings.Contains(strings.Join(r.Warnings, "\n"), "bypass_protection") {
		t.Errorf("no bypass warning: %v", r.Warnings)
	}
	// Without a grant: hard error.
	resolveErr(t, h.req(func(q *Request) { q.BypassProtection = []string{aws} }),
		"bypass_protection '"+aws+"' has no matching grant. Add a filesystem allow (--allow, --read, --write, or profile filesystem) for this path.")
	// A bypass for .docker does not open .ssh.
	resolveErr(t, h.req(func(q *Request) {
		q.BypassProtection = []string{filepath.Join(h.home, ".docker")}
		q.Allow = []string{filepath.Join(h.home, ".docker"), filepath.Join(h.home, ".ssh")}
	}), "equals denied path '"+filepath.Join(h.home, ".ssh")+"'")
	// A group grant does not count as a covering grant: TMPDIR is granted by
	// system_write_linux, a bypass on it still needs user intent.
	resolveErr(t, h.req(func(q *Request) { q.BypassProtection = []string{h.tmp} }), "has no matching grant")
	// Profile bypasses work the same way and are inherited.
	h.userProfile("aws-base", `{"filesystem": {"bypass_protection": ["~/.aws"], "read": ["~/.aws"]}}`)
	h.userProfile("aws", `{"extends": "aws-base"}`)
	r = mustResolve(t, h.req(func(q *Request) { q.Profile = "aws" }))
	if hasDeny(r, aws) {
		t.Errorf("profile bypass not applied")
	}
	// Excluding a required group is refused.
	h.userProfile("ex", `{"groups": {"exclude": ["deny_credentials"]}}`)
	resolveErr(t, h.req(func(q *Request) { q.Profile = "ex" }), "Cannot exclude required groups: 'deny_credentials'")
}

func TestProtectedStateRoots(t *testing.T) {
	h := newFakeHost(t)
	h.mkdir(".nono/sessions", filepath.Join(h.root, "state/nono"), filepath.Join(h.root, "state/other"))
	h.vars["XDG_STATE_HOME"] = filepath.Join(h.root, "state")
	resolveErr(t, h.req(func(q *Request) { q.Read = []string{filepath.Join(h.home, ".nono/sessions")} }),
		"Refusing to grant '"+filepath.Join(h.home, ".nono/sessions")+"' (source: user) because it overlaps protected nono state root '"+filepath.Join(h.home, ".nono")+"'.")
	resolveErr(t, h.req(func(q *Request) { q.Allow = []string{filepath.Join(h.root, "state")} }),
		"overlaps protected nono state root '"+filepath.Join(h.root, "state/nono")+"'")
	mustResolve(t, h.req(func(q *Request) { q.Allow = []string{filepath.Join(h.root, "state/other")} }))
	// Default location ~/.local/state/nono when XDG_STATE_HOME is unset.
	delete(h.vars, "XDG_STATE_HOME")
	h.mkdir(".local/state/nono")
	resolveErr(t, h.req(func(q *Request) { q.Write = []string{filepath.Join(h.home, ".local/state")} }), "protected nono state root")
}

func TestGroupGrantContainingHomeIsDropped(t *testing.T) {
	h := newFakeHost(t)
	// $TMPDIR (system_write_linux) contains $HOME: the group grant is dropped.
	h.vars["TMPDIR"] = h.root
	r := mustResolve(t, h.req())
	if _, ok := findGrant(r, h.root, "group:system_write_linux"); ok {
		t.Errorf("group grant containing HOME kept")
	}
	if !strings.Contains(strings.Join(r.Warnings, "\n"), "group:system_write_linux: not granting '"+h.root+"'") {
		t.Errorf("no warning: %v", r.Warnings)
	}
	// The same path from the user is an error.
	resolveErr(t, h.req(func(q *Request) { q.Write = []string{h.root} }), "overlaps allowed parent")
}

func TestProfileGrantsWarnOnMissing(t *testing.T) {
	h := newFakeHost(t)
	h.mkdir("data")
	h.write("notes.txt", "x")
	h.userProfile("p", `{"filesystem": {"read": ["~/data", "~/missing", "notes-rel"], "read_file": ["~/notes.txt"], "allow": [{"path": "~/mac-only", "when": "macos"}]}}`)
	h.write(filepath.Join(h.work, "notes-rel"), "y")
	r := mustResolve(t, h.req(func(q *Request) { q.Profile = "p" }))
	if _, ok := findGrant(r, filepath.Join(h.home, "data"), SourceProfile); !ok {
		t.Errorf("profile dir grant missing")
	}
	if i, ok := findGrant(r, filepath.Join(h.work, "notes-rel"), SourceProfile); !ok || !r.Grants[i].File {
		t.Errorf("relative profile path not resolved against $WORKDIR")
	}
	w := strings.Join(r.Warnings, "\n")
	if !strings.Contains(w, `filesystem.read "~/missing"`) || strings.Contains(w, "mac-only") {
		t.Errorf("warnings = %v", r.Warnings)
	}
}

func TestGPU(t *testing.T) {
	root := t.TempDir()
	for _, f := range []string{"dev/dri/renderD128", "dev/dri/card0", "dev/nvidia0", "dev/nvidiactl", "dev/kfd"} {
		os.MkdirAll(filepath.Join(root, filepath.Dir(f)), 0o755)
		os.WriteFile(filepath.Join(root, f), nil, 0o600)
	}
	os.MkdirAll(filepath.Join(root, "usr/share/vulkan/icd.d"), 0o755)
	gs := gpuGrantsIn(root)
	got := map[string]sandbox.Grant{}
	for _, g := range gs {
		got[strings.TrimPrefix(g.Path, root)] = g
	}
	for _, f := range []string{"/dev/dri/renderD128", "/dev/nvidia0", "/dev/nvidiactl", "/dev/kfd"} {
		if g, ok := got[f]; !ok || g.Access != sandbox.AccessReadWrite || !g.File || g.Source != SourceSystem {
			t.Errorf("%s: %+v", f, g)
		}
	}
	if _, ok := got["/dev/dri/card0"]; ok {
		t.Errorf("display node card0 granted")
	}
	if g, ok := got["/usr/share/vulkan/icd.d"]; !ok || g.Access != sandbox.AccessRead || g.File {
		t.Errorf("icd dir: %+v", g)
	}

	h := newFakeHost(t)
	mustResolve(t, h.req(func(q *Request) { q.AllowGPU = true }))
	resolveErr(t, h.req(func(q *Request) { q.AllowGPU = true; q.Profile = "node-dev" }), "--allow-gpu: profile node-dev does not opt into GPU access")
	h.userProfile("gpu", `{"extends": "default", "allow_gpu": true}`)
	mustResolve(t, h.req(func(q *Request) { q.AllowGPU = true; q.Profile = "gpu" }))
}

func TestUnixSockets(t *testing.T) {
	h := newFakeHost(t)
	h.mkdir("run", "sockdir")
	sock := filepath.Join(h.home, "run/app.sock")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	plain := h.write("run/plain", "x")
	r := mustResolve(t, h.req(func(q *Request) {
		q.UnixSocket = []string{sock}
		q.UnixSocketBind = []string{filepath.Join(h.home, "run/new.sock")}
		q.UnixSocketDir = []string{filepath.Join(h.home, "sockdir")}
	}))
	want := map[sandbox.UnixSocketGrant]bool{
		{Path: sock}: true,
		{Path: filepath.Join(h.home, "run/new.sock"), Bind: true}: true,
		{Path: filepath.Join(h.home, "sockdir"), Dir: true}:       true,
	}
	for _, s := range r.UnixSockets {
		delete(want, s)
	}
	if len(want) != 0 {
		t.Errorf("missing socket grants %v in %v", want, r.UnixSockets)
	}
	if i, ok := findGrant(r, sock, SourceUser); !ok || !r.Grants[i].File || r.Grants[i].Access != sandbox.AccessRead {
		t.Errorf("implied read on socket missing")
	}
	if i, ok := findGrant(r, filepath.Join(h.home, "run"), SourceUser); !ok || r.Grants[i].Access != sandbox.AccessWrite {
		t.Errorf("bind of new socket did not grant write on parent")
	}
	resolveErr(t, h.req(func(q *Request) { q.UnixSocket = []string{plain} }), "--allow-unix-socket "+plain+": not a unix socket")
	resolveErr(t, h.req(func(q *Request) { q.UnixSocketDir = []string{plain} }), "not a directory")
	resolveErr(t, h.req(func(q *Request) { q.UnixSocket = []string{"/nope.sock"} }), "--allow-unix-socket /nope.sock: no such file or directory")
	if err := os.Symlink("/nonexistent-target", filepath.Join(h.home, "run/dangling")); err != nil {
		t.Fatal(err)
	}
	resolveErr(t, h.req(func(q *Request) { q.UnixSocketBind = []string{filepath.Join(h.home, "run/dangling")} }), "dangling symlink")
	// A socket grant inside a denied directory is refused like any grant.
	h.mkdir(".gnupg")
	resolveErr(t, h.req(func(q *Request) { q.UnixSocketDirBind = []string{filepath.Join(h.home, ".gnupg")} }), "equals denied path")
}

func TestReadOnlyInsideWritableRefused(t *testing.T) {
	h := newFakeHost(t)
	sub := filepath.Join(h.work, "vendor")
	h.mkdir(sub)
	_, err := Resolve(h.req(func(r *Request) { r.Allow = []string{h.work}; r.Read = []string{sub} }))
	if err == nil || !strings.Contains(err.Error(), "grants add up") || !strings.Contains(err.Error(), sub) {
		t.Fatalf("want the read-only-inside-writable refusal, got %v", err)
	}
	if _, err := Resolve(h.req(func(r *Request) { r.Read = []string{h.work}; r.Write = []string{sub} })); err != nil {
		t.Fatalf("--write inside --read must stay allowed: %v", err)
	}
}
