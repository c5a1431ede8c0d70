package session

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nono-sandbox/nono/policy"
	"github.com/nono-sandbox/nono/ui"
)

// preparePlan resolves a direct-mode plan for true, with HOME at home and
// the given grants.
func preparePlan(t *testing.T, home string, req policy.Request) *Plan {
	t.Helper()
	t.Setenv("HOME", home)
	t.Setenv("XDG_STATE_HOME", "")
	pr := ui.NewPrinter(os.Stderr, "minimal", true, 0)
	p, err := Prepare(Options{Mode: Direct, Command: []string{"true"}, Printer: pr, AllowCwd: false,
		Request: req, Stdin: os.Stdin, Stdout: os.Stdout, Stderr: os.Stderr})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// TestScanStderrMultiLineErrors: npm reports EACCES on one line and the path
// on another. The scan must pair them, take the operation from the block
// (mkdir: a write), and leave out a path nearby that the policy allows.
func TestScanStderrMultiLineErrors(t *testing.T) {
	root := t.TempDir()
	home := filepath.Join(root, "home")
	work := filepath.Join(root, "work")
	for _, d := range []string{filepath.Join(home, ".npm"), work} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	t.Chdir(work)
	p := preparePlan(t, home, policy.Request{Allow: []string{work}, Read: []string{filepath.Join(home, ".npm")}})
	cache := filepath.Join(home, ".npm/_cacache")
	out := strings.Join([]string{
		"npm notice New minor version of npm available!",
		"npm error code EACCES",
		"npm error syscall mkdir",
		"npm error path " + cache,
		"npm error errno EACCES",
		"npm error A complete log of this run can be found in: " + filepath.Join(work, "npm-debug.log"),
	}, "\n")
	ds, _ := p.scanStderr([]byte(out))
	if len(ds) != 1 {
		t.Fatalf("want exactly the cache path, got %+v", ds)
	}
	d := ds[0]
	if d.path != cache || d.op != "write" || d.why.Status != policy.StatusDenied || d.why.SuggestedFlag != "--write "+filepath.Join(home, ".npm") {
		t.Fatalf("got %+v", d)
	}
	// A path on the errno line itself is still taken as before, allowed or not.
	ds, _ = p.scanStderr([]byte("cat: " + filepath.Join(work, "x") + ": Permission denied"))
	if len(ds) != 1 || ds[0].why.Status != policy.StatusAllowed {
		t.Fatalf("single-line report: %+v", ds)
	}
}
