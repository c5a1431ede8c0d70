package policy

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// fakeHost is a scratch HOME, TMPDIR and workdir outside /tmp with a
// hermetic environment.
type fakeHost struct {
	t                     *testing.T
	root, home, tmp, work string
	vars                  map[string]string
}

func newFakeHost(t *testing.T) *fakeHost {
	t.Helper()
	root, err := os.MkdirTemp("/var/tmp", "nono-policy-test-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(root) })
	root, err = filepath.EvalSymlinks(root)
	if err != nil {
		t.Fatal(err)
	}
	h := &fakeHost{t: t, root: root, home: filepath.Join(root, "home"), tmp: filepath.Join(root, "tmp"), work: filepath.Join(root, "work")}
	for _, d := range []string{h.home, h.tmp, h.work} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	h.vars = map[string]string{"HOME": h.home, "TMPDIR": h.tmp}
	return h
}

func (h *fakeHost) env(k string) (string, bool) {
	v, ok := h.vars[k]
	return v, ok
}

func (h *fakeHost) req(mods ...func(*Request)) Request {
	r := Request{Env: h.env, Workdir: h.work}
	for _, m := range mods {
		m(&r)
	}
	return r
}

// mkdir creates dirs relative to HOME (or absolute).
func (h *fakeHost) mkdir(paths ...string) {
	h.t.Helper()
	for _, p := range paths {
		if err := os.MkdirAll(h.abs(p), 0o755); err != nil {
			h.t.Fatal(err)
		}
	}
}

func (h *fakeHost) write(p, content string) string {
	h.t.Helper()
	p = h.abs(p)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		h.t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		h.t.Fatal(err)
	}
	return p
}

func (h *fakeHost) abs(p string) string {
	if filepath.IsAbs(p) {
		return p
	}
	return filepath.Join(h.home, p)
}

// userProfile writes a profile into the fake user profile dir.
func (h *fakeHost) userProfile(name, body string) string {
	return h.write(filepath.Join(".config/nono/profiles", name+".jsonc"), body)
}

func mustResolve(t *testing.T, req Request) *Resolved {
	t.Helper()
	r, err := Resolve(req)
	if err != nil {
		t.Fatalf("Resolve: %v", err)
	}
	return r
}

func resolveErr(t *testing.T, req Request, want ...string) error {
	t.Helper()
	_, err := Resolve(req)
	if err == nil {
		t.Fatalf("Resolve succeeded, want error containing %q", want)
	}
	for _, w := range want {
		if !strings.Contains(err.Error(), w) {
			t.Fatalf("error %q does not contain %q", err, w)
		}
	}
	return err
}

func findGrant(r *Resolved, path, source string) (int, bool) {
	for i, g := range r.Grants {
		if g.Path == path && (source == "" || g.Source == source) {
			return i, true
		}
	}
	return -1, false
}

func hasDeny(r *Resolved, path string) bool {
	for _, d := range r.Denies {
		if d.Path == path {
			return true
		}
	}
	return false
}
