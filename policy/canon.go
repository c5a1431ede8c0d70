package policy

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
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

// canonicalizer resolves paths like filepath.EvalSymlinks, but remembers
// every resolved prefix: resolving /home/u/.ssh after /home/u/.aws costs
// one lstat instead of three. One policy resolution resolves about a
// hundred group and deny paths that share a few prefixes. It only lives
// for one resolution (Resolve drops it before returning), so it never
// serves an answer older than the resolution that asked for it.
type canonicalizer struct {
	memo map[string]canonEntry
}

// canonEntry is the resolution of one absolute, clean path.
type canonEntry struct {
	path string      // canonical path (no symlinks)
	mode fs.FileMode // type bits of lstat(path) (never a symlink); valid when err == nil
	link bool        // the last component of the path as written is a symlink
	err  error       // as filepath.EvalSymlinks would report it
}

// eval resolves the absolute, clean path p. It returns what
// filepath.EvalSymlinks(p) returns: the same path, and an error of the
// same type for the same component.
func (c *canonicalizer) eval(p string) canonEntry {
	if p == "/" {
		return canonEntry{path: "/", mode: fs.ModeDir}
	}
	if e, ok := c.memo[p]; ok {
		return e
	}
	if c.memo == nil {
		c.memo = make(map[string]canonEntry, 200) // the default profile fills about 130 here
	}
	dir := filepath.Dir(p)
	parent := c.eval(dir)
	var e canonEntry
	switch {
	case parent.err != nil:
		e.err = parent.err
	case !parent.mode.IsDir():
		// EvalSymlinks reports a non-directory followed by more
		// components as a bare ENOTDIR.
		e.err = syscall.ENOTDIR
	default:
		q := p // the usual case: no symlink above p
		if parent.path != dir {
			q = filepath.Join(parent.path, filepath.Base(p))
		}
		mode, err := lstatType(q)
		switch {
		case err != nil:
			e.err = err
		case mode&fs.ModeSymlink == 0:
			e.path, e.mode = q, mode
		default:
			// A symlink (on a merged-/usr system /bin, /lib64 and friends
			// are). A walk that comes back to p before p is resolved is a
			// loop, which EvalSymlinks reports as too many links.
			c.memo[p] = canonEntry{link: true, err: errTooManyLinks}
			e = c.follow(q, parent.path)
			e.link = true
		}
	}
	c.memo[p] = e
	return e
}

// errTooManyLinks is the error filepath.EvalSymlinks gives for a loop.
var errTooManyLinks = errors.New("EvalSymlinks: too many links")

// follow resolves the symlink q, whose directory dir is canonical, as
// filepath.EvalSymlinks continues after finding it: the target's components
// are walked from dir (from / for an absolute target), ".." going to the
// parent of what has been resolved so far, and every other component
// resolved through eval, so each prefix is looked up once per resolution
// however many links lead through it. A non-directory followed by anything
// (even "/" or "..") is a bare ENOTDIR, as there. Unlike EvalSymlinks, a
// failed lookup names the path in clean form ("/usr/x", where EvalSymlinks
// may say "/etc/../usr/x"), and only loops count as too many links.
func (c *canonicalizer) follow(q, dir string) canonEntry {
	target, err := os.Readlink(q)
	if err != nil {
		return canonEntry{err: err}
	}
	cur := canonEntry{path: dir, mode: fs.ModeDir}
	if strings.HasPrefix(target, "/") {
		cur.path = "/"
	}
	rest := target
	for {
		rest = strings.TrimLeft(rest, "/")
		if rest == "" {
			return cur
		}
		comp, after, more := strings.Cut(rest, "/")
		rest = after
		switch comp {
		case ".":
			continue
		case "..":
			cur = canonEntry{path: filepath.Dir(cur.path), mode: fs.ModeDir}
			continue
		}
		next := "/" + comp
		if cur.path != "/" {
			next = cur.path + next
		}
		if cur = c.eval(next); cur.err != nil {
			return canonEntry{err: cur.err}
		}
		if more && !cur.mode.IsDir() {
			return canonEntry{err: syscall.ENOTDIR}
		}
	}
}

// lstatType is os.Lstat reduced to what eval keeps, the file type, with the
// same error (*fs.PathError, Op "lstat"). os.Lstat allocates a FileInfo of
// about 200 bytes per call; a policy resolution makes about 190 of these
// calls, on every nono start.
func lstatType(name string) (fs.FileMode, error) {
	var st syscall.Stat_t
	err := syscall.Lstat(name, &st)
	for err == syscall.EINTR {
		err = syscall.Lstat(name, &st)
	}
	if err != nil {
		return 0, &fs.PathError{Op: "lstat", Path: name, Err: err}
	}
	switch st.Mode & syscall.S_IFMT {
	case syscall.S_IFDIR:
		return fs.ModeDir, nil
	case syscall.S_IFLNK:
		return fs.ModeSymlink, nil
	case syscall.S_IFCHR:
		return fs.ModeDevice | fs.ModeCharDevice, nil
	case syscall.S_IFBLK:
		return fs.ModeDevice, nil
	case syscall.S_IFIFO:
		return fs.ModeNamedPipe, nil
	case syscall.S_IFSOCK:
		return fs.ModeSocket, nil
	}
	return 0, nil
}

// canonicalExisting resolves an absolute path that must exist. With
// keepSpecial, per-process paths (/proc/self, /dev/fd, ...) are kept as written.
func canonicalExisting(p string, keepSpecial bool) (string, error) {
	return new(canonicalizer).existing(p, keepSpecial)
}

func (c *canonicalizer) existing(p string, keepSpecial bool) (string, error) {
	p = filepath.Clean(p)
	if keepSpecial && isLexicalSpecial(p) {
		if _, err := os.Lstat(p); err != nil {
			return "", err
		}
		return p, nil
	}
	if !filepath.IsAbs(p) {
		return filepath.EvalSymlinks(p)
	}
	e := c.eval(p)
	return e.path, e.err
}

// existingStat is existing plus the mode of what the result names (for a
// per-process special path, the object it leads to).
func (c *canonicalizer) existingStat(p string, keepSpecial bool) (string, fs.FileMode, error) {
	p = filepath.Clean(p)
	if (keepSpecial && isLexicalSpecial(p)) || !filepath.IsAbs(p) {
		canon, err := c.existing(p, keepSpecial)
		if err != nil {
			return "", 0, err
		}
		st, err := os.Stat(canon)
		if err != nil {
			return "", 0, err
		}
		return canon, st.Mode(), nil
	}
	e := c.eval(p)
	return e.path, e.mode, e.err
}

// canonicalLenient resolves p as far as it exists: the deepest existing
// ancestor is resolved and the missing remainder appended.
func canonicalLenient(p string) string { return new(canonicalizer).lenient(p) }

func (c *canonicalizer) lenient(p string) string {
	p = filepath.Clean(p)
	if !filepath.IsAbs(p) {
		return lenientRelative(p)
	}
	return lenientWith(p, c.resolve)
}

// resolve is eval as (path, error), for lenientWith.
func (c *canonicalizer) resolve(p string) (string, error) {
	e := c.eval(p)
	return e.path, e.err
}

// lenientRelative is canonicalLenient for a relative path (not used by
// policy resolution, which only resolves absolute paths).
func lenientRelative(p string) string { return lenientWith(p, filepath.EvalSymlinks) }

// lenientWith resolves p with resolve as far as it exists: the deepest
// ancestor that resolves, with the missing remainder appended.
func lenientWith(p string, resolve func(string) (string, error)) string {
	if c, err := resolve(p); err == nil {
		return c
	}
	dir, rest := p, ""
	for {
		parent := filepath.Dir(dir)
		rest = filepath.Join(filepath.Base(dir), rest)
		if parent == dir {
			return p
		}
		if c, err := resolve(parent); err == nil {
			return filepath.Join(c, rest)
		}
		dir = parent
	}
}

// isSymlink reports whether lstat(p) finds a symlink. When p's parent
// resolved, eval already lstat'ed the same entry (the parent's canonical
// path plus p's last component), so its answer is reused.
func (c *canonicalizer) isSymlink(p string) bool {
	if p != "/" && filepath.IsAbs(p) && c.eval(filepath.Dir(p)).err == nil {
		return c.eval(p).link
	}
	st, err := os.Lstat(p)
	return err == nil && st.Mode()&os.ModeSymlink != 0
}

// denyForms returns every canonical form a deny path must be matched in:
// the path with its parents resolved, the fully resolved target, and the
// target of a dangling symlink. Targets inside /nix/store are skipped.
func denyForms(p string) []string { return new(canonicalizer).denyForms(p) }

func (c *canonicalizer) denyForms(p string) []string {
	p = filepath.Clean(p)
	forms := []string{filepath.Join(c.lenient(filepath.Dir(p)), filepath.Base(p))}
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
	add(c.lenient(p))
	if c.isSymlink(p) {
		if t, err := os.Readlink(p); err == nil {
			if !filepath.IsAbs(t) {
				t = filepath.Join(filepath.Dir(p), t)
			}
			add(c.lenient(t))
		}
	}
	return forms
}
