package e2e

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// whyAnswer is the part of `nono why --json` the tests look at.
type whyAnswer struct {
	Status        string `json:"status"`
	Reason        string `json:"reason"`
	GrantedPath   string `json:"granted_path"`
	Source        string `json:"source"`
	Details       string `json:"details"`
	SuggestedFlag string `json:"suggested_flag"`
	PolicySource  string `json:"policy_source"`
	Message       string `json:"message"`
}

func parseWhy(t *testing.T, r result) whyAnswer {
	t.Helper()
	if r.code != 0 {
		t.Fatalf("nono why failed: %s", r)
	}
	var a whyAnswer
	if err := json.Unmarshal([]byte(r.stdout), &a); err != nil {
		t.Fatalf("nono why --json is not JSON: %v\n%s", err, r)
	}
	if strings.Count(strings.TrimSpace(r.stdout), "\n") != 0 {
		t.Fatalf("nono why --json should print one line: %s", r)
	}
	return a
}

// TestWhyAgreesWithSandbox asks `nono why` about every cell of a grid of
// paths x operations x contexts, then really attempts the operation inside
// `nono run` with the same context, and requires the two to agree on every
// cell: allowed exactly when the attempt succeeds.
func TestWhyAgreesWithSandbox(t *testing.T) {
	e := newEnv(t)
	dir := func(name string) string {
		p := filepath.Join(e.root, name)
		if err := os.MkdirAll(p, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(p, "f.txt"), []byte("data\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	granted, readOnly, writeOnly, ungranted := dir("granted"), dir("readonly"), dir("writeonly"), dir("ungranted")
	workFile := filepath.Join(e.work, "notes.txt")
	if err := os.WriteFile(workFile, []byte("notes\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	tmp, err := os.CreateTemp("/tmp", "nono-why-grid-")
	if err != nil {
		t.Fatal(err)
	}
	tmp.Close()
	os.Chmod(tmp.Name(), 0o644)
	t.Cleanup(func() { os.Remove(tmp.Name()) })

	cells := []struct {
		name  string
		path  string
		isDir bool
	}{
		{"granted dir", granted, true},
		{"file in granted dir", filepath.Join(granted, "f.txt"), false},
		{"read-only dir", readOnly, true},
		{"write-only dir", writeOnly, true},
		{"ungranted dir", ungranted, true},
		{"ssh key", filepath.Join(e.home, ".ssh", "id_ed25519"), false},
		{"bashrc", filepath.Join(e.home, ".bashrc"), false},
		{"etc hosts", "/etc/hosts", false},
		{"tmp file", tmp.Name(), false},
		{"workdir file", workFile, false},
	}
	contexts := []struct {
		name string
		args []string
	}{
		{"flags", []string{"--allow", granted, "--read", readOnly, "--write", writeOnly}},
		{"default profile", []string{"--profile", "default"}},
		{"claude-code allow-cwd", []string{"--profile", "claude-code", "--allow-cwd"}},
	}
	// Probes never modify existing content: a file write opens for append
	// and writes nothing; a directory write creates (and removes) a new file.
	probe := func(path string, isDir bool, op string) []string {
		switch {
		case op == "read" && isDir:
			return []string{"ls", path}
		case op == "read":
			return []string{"cat", path}
		case isDir:
			return []string{"sh", "-c", `: > "$1/.nono-grid-probe" && rm -f "$1/.nono-grid-probe"`, "sh", path}
		default:
			return []string{"sh", "-c", `: >> "$1"`, "sh", path}
		}
	}
	allowedSomewhere, deniedSomewhere := 0, 0
	for _, c := range contexts {
		for _, cell := range cells {
			for _, op := range []string{"read", "write"} {
				args := append([]string{"why", "--json", "--path", cell.path, "--op", op}, c.args...)
				a := parseWhy(t, e.nono(args...))
				run := e.nono(append(append(append([]string{"run"}, c.args...), "--"), probe(cell.path, cell.isDir, op)...)...)
				os.Remove(filepath.Join(cell.path, ".nono-grid-probe"))
				succeeded := run.code == 0
				if (a.Status == "allowed") != succeeded {
					t.Errorf("[%s] %s %s (%s): why says %s (%s: %s), the sandboxed attempt %s\n%s",
						c.name, op, cell.name, cell.path, a.Status, a.Reason, a.Details, map[bool]string{true: "succeeded", false: "failed"}[succeeded], run)
				}
				if succeeded {
					allowedSomewhere++
				} else {
					deniedSomewhere++
				}
			}
		}
	}
	t.Logf("%d cells allowed, %d denied; why agreed on all of them", allowedSomewhere, deniedSomewhere)
	// The grid must exercise both outcomes, or it proves nothing.
	if allowedSomewhere < 10 || deniedSomewhere < 10 {
		t.Fatalf("degenerate grid: %d allowed, %d denied", allowedSomewhere, deniedSomewhere)
	}
	// The content the probes touched is intact.
	if b, _ := os.ReadFile(filepath.Join(e.home, ".bashrc")); string(b) != "# rc" {
		t.Errorf(".bashrc changed: %q", b)
	}
}
