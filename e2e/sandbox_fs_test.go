package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestSSHKeyUnreadable(t *testing.T) {
	e := newEnv(t)
	r := e.nono("run", "--allow", e.work, "--", "cat", filepath.Join(e.home, ".ssh/id_ed25519"))
	if r.code == 0 || strings.Contains(r.stdout, "SECRET") {
		t.Fatalf("key was readable: %s", r)
	}
	mustContain(t, r, r.stderr, "Permission denied")
}

func TestWriteOutsideGrantsDenied(t *testing.T) {
	e := newEnv(t)
	outside := filepath.Join(e.root, "outside")
	os.MkdirAll(outside, 0o777)
	r := e.nono("run", "--allow", e.work, "--", "sh", "-c", "echo x > "+outside+"/f")
	if r.code == 0 {
		t.Fatalf("write outside grants succeeded: %s", r)
	}
	if _, err := os.Stat(filepath.Join(outside, "f")); err == nil {
		t.Fatal("file was created outside the grant")
	}
}

func TestAllowReadWrite(t *testing.T) {
	e := newEnv(t)
	r := e.nono("run", "--allow", e.work, "--", "sh", "-c", "echo hello > f && mkdir d && mv f d/g && cat d/g")
	if r.code != 0 || !strings.Contains(r.stdout, "hello") {
		t.Fatalf("rw grant failed: %s", r)
	}
}

func TestReadIsReadOnly(t *testing.T) {
	e := newEnv(t)
	src := filepath.Join(e.root, "src")
	os.MkdirAll(src, 0o755)
	os.WriteFile(filepath.Join(src, "a.txt"), []byte("content-a"), 0o644)
	r := e.nono("run", "--allow", e.work, "--read", src, "--", "cat", filepath.Join(src, "a.txt"))
	if r.code != 0 || !strings.Contains(r.stdout, "content-a") {
		t.Fatalf("read grant failed: %s", r)
	}
	for _, script := range []string{
		"echo x > " + src + "/new",
		"echo x >> " + src + "/a.txt",
		"rm " + src + "/a.txt",
		"mkdir " + src + "/d",
	} {
		r = e.nono("run", "--allow", e.work, "--read", src, "--", "sh", "-c", script)
		if r.code == 0 {
			t.Fatalf("%q succeeded under --read: %s", script, r)
		}
	}
	if b, _ := os.ReadFile(filepath.Join(src, "a.txt")); string(b) != "content-a" {
		t.Fatalf("read-only file changed: %q", b)
	}
}

func TestWriteIsWriteOnly(t *testing.T) {
	e := newEnv(t)
	out := filepath.Join(e.root, "out")
	os.MkdirAll(out, 0o755)
	os.WriteFile(filepath.Join(out, "old"), []byte("old-content"), 0o644)
	r := e.nono("run", "--allow", e.work, "--write", out, "--", "sh", "-c", "echo new > "+out+"/log")
	if r.code != 0 {
		t.Fatalf("write under --write failed: %s", r)
	}
	if b, _ := os.ReadFile(filepath.Join(out, "log")); strings.TrimSpace(string(b)) != "new" {
		t.Fatalf("log not written: %q", b)
	}
	r = e.nono("run", "--allow", e.work, "--write", out, "--", "cat", filepath.Join(out, "old"))
	if r.code == 0 || strings.Contains(r.stdout, "old-content") {
		t.Fatalf("read under --write succeeded: %s", r)
	}
}

func TestFileGrantsAreNotRecursive(t *testing.T) {
	e := newEnv(t)
	dir := filepath.Join(e.root, "cfg")
	os.MkdirAll(filepath.Join(dir, "sub"), 0o755)
	os.WriteFile(filepath.Join(dir, "one"), []byte("ONE"), 0o644)
	os.WriteFile(filepath.Join(dir, "two"), []byte("TWO"), 0o644)
	os.WriteFile(filepath.Join(dir, "sub", "three"), []byte("THREE"), 0o644)
	r := e.nono("run", "--allow", e.work, "--read-file", filepath.Join(dir, "one"), "--", "cat", filepath.Join(dir, "one"))
	if r.code != 0 || !strings.Contains(r.stdout, "ONE") {
		t.Fatalf("file grant failed: %s", r)
	}
	for _, other := range []string{"two", "sub/three"} {
		r = e.nono("run", "--allow", e.work, "--read-file", filepath.Join(dir, "one"), "--", "cat", filepath.Join(dir, other))
		if r.code == 0 {
			t.Fatalf("sibling %s readable through a file grant: %s", other, r)
		}
	}
	r = e.nono("run", "--allow", e.work, "--read-file", dir, "--", "true")
	if r.code != 1 {
		t.Fatalf("--read-file on a directory must be refused: %s", r)
	}
	r = e.nono("run", "--allow", e.work, "--write-file", filepath.Join(dir, "one"), "--", "sh", "-c", "echo W > "+filepath.Join(dir, "two"))
	if r.code == 0 {
		t.Fatalf("write to sibling through a file grant: %s", r)
	}
}

func TestSymlinkToSSHCannotBeFollowed(t *testing.T) {
	e := newEnv(t)
	if err := os.Symlink(filepath.Join(e.home, ".ssh"), filepath.Join(e.work, "keys")); err != nil {
		t.Fatal(err)
	}
	r := e.nono("run", "--allow", e.work, "--", "cat", filepath.Join(e.work, "keys", "id_ed25519"))
	if r.code == 0 || strings.Contains(r.stdout, "SECRET") {
		t.Fatalf("symlink was followed: %s", r)
	}
	// The agent creating the link itself changes nothing either.
	r = e.nono("run", "--allow", e.work, "--", "sh", "-c", "ln -s "+filepath.Join(e.home, ".ssh")+" l2 && cat l2/id_ed25519")
	if r.code == 0 || strings.Contains(r.stdout, "SECRET") {
		t.Fatalf("in-sandbox symlink was followed: %s", r)
	}
}

func TestHardlinkRenameAndProcRootEscapes(t *testing.T) {
	e := newEnv(t)
	key := filepath.Join(e.home, ".ssh", "id_ed25519")
	for name, script := range map[string]string{
		"hardlink":  "ln " + key + " hl && cat hl",
		"rename":    "mv " + key + " stolen && cat stolen",
		"proc-root": "cat /proc/self/root" + key,
		"proc-cwd":  "cd " + e.work + " && cat /proc/self/cwd/../home/.ssh/id_ed25519",
		"dotdot":    "cat " + e.work + "/../home/.ssh/id_ed25519",
	} {
		t.Run(name, func(t *testing.T) {
			r := e.nono("run", "--allow", e.work, "--", "sh", "-c", script)
			if r.code == 0 || strings.Contains(r.stdout, "SECRET") {
				t.Fatalf("escape worked: %s", r)
			}
		})
	}
	if b, err := os.ReadFile(key); err != nil || string(b) != "SECRET-SSH-KEY" {
		t.Fatalf("key was moved or changed: %v %q", err, b)
	}
}

func TestDenyGrantConflictRefused(t *testing.T) {
	e := newEnv(t)
	for _, args := range [][]string{
		{"--read", filepath.Join(e.home, ".ssh")},
		{"--allow", e.home},
	} {
		r := e.nono(append(append([]string{"run"}, args...), "--", "true")...)
		if r.code != 1 {
			t.Fatalf("%v: want exit 1, got %s", args, r)
		}
		mustContain(t, r, r.stderr, ".ssh", "deny_credentials")
	}
}

func TestBypassProtection(t *testing.T) {
	e := newEnv(t)
	ssh := filepath.Join(e.home, ".ssh")
	r := e.nono("run", "--allow", e.work, "--bypass-protection", ssh, "--", "true")
	if r.code != 1 || !strings.Contains(r.stderr, "no matching grant") {
		t.Fatalf("bypass without grant must fail: %s", r)
	}
	r = e.nono("run", "--allow", e.work, "--bypass-protection", ssh, "--read", ssh, "--", "cat", filepath.Join(ssh, "id_ed25519"))
	if r.code != 0 || !strings.Contains(r.stdout, "SECRET-SSH-KEY") {
		t.Fatalf("bypass with grant must work: %s", r)
	}
}
