package policy

import (
	"os"
	"path/filepath"
	"strings"
)

// within reports whether p equals dir or lies below it, comparing whole path
// components (so /a/.sshfoo is not within /a/.ssh).
func within(p, dir string) bool {
	if p == dir || dir == "/" {
		return true
	}
	return len(p) > len(dir) && p[len(dir)] == '/' && strings.HasPrefix(p, dir)
}

// lexicalSpecial are per-process paths that must not be resolved in the
// nono process: resolving /proc/self would bind the rule to nono's own pid.
// Only group (system) grants may use them; user paths are always resolved.
var lexicalSpecial = []string{"/proc/self", "/proc/thread-self", "/dev/fd", "/dev/stdin", "/dev/stdout", "/dev/stderr"}

func isLexicalSpecial(p string) bool {
	for _, s := range lexicalSpecial {
		if within(p, s) {
			return true
		}
	}
	return false
}

// canonicalExisting resolves an absolute path that must exist. With
// keepSpecial, per-process paths (/proc/self, /dev/fd, ...) are kept as written.
func canonicalExisting(p string, keepSpecial bool) (string, error) {
	p = filepath.Clean(p)
	if keepSpecial && isLexicalSpecial(p) {
		if _, err := os.Lstat(p); err != nil {
			return "", err
		}
		return p, nil
	}
	return filepath.EvalSymlinks(p)
}

// canonicalLenient resolves p as far as it exists: the deepest existing
// ancestor is resolved and the missing remainder appended.
func canonicalLenient(p string) string {
	p = filepath.Clean(p)
	if c, err := filepath.EvalSymlinks(p); err == nil {
		return c
	}
	dir, rest := p, ""
	for {
		parent := filepath.Dir(dir)
		rest = filepath.Join(filepath.Base(dir), rest)
		if parent == dir {
			return p
		}
		if c, err := filepath.EvalSymlinks(parent); err == nil {
			return filepath.Join(c, rest)
		}
		dir = parent
	}
}

// denyForms returns every canonical form a deny path must be matched in:
// the path with its parents resolved, the fully resolved target, and the
// target of a dangling symlink. Targets inside /nix/store are skipped.
func denyForms(p string) []string {
	p = filepath.Clean(p)
	forms := []string{filepath.Join(canonicalLenient(filepath.Dir(p)), filepath.Base(p))}
	if p == "/" {
		forms = []string{"/"}
	}
	add := func(f string) {
		if within(f, "/nix/store") {
			return
		}
		for _, x := range forms {
			if x == f {
				return
			}
		}
		forms = append(forms, f)
	}
	add(canonicalLenient(p))
	if st, err := os.Lstat(p); err == nil && st.Mode()&os.ModeSymlink != 0 {
		if t, err := os.Readlink(p); err == nil {
			if !filepath.IsAbs(t) {
				t = filepath.Join(filepath.Dir(p), t)
			}
			add(canonicalLenient(t))
		}
	}
	return forms
}
