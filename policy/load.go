package policy

import (
	"embed"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
)

//go:embed data/profiles/*.jsonc
var builtinFS embed.FS

// MaxExtendsDepth is the longest allowed extends chain below a profile.
const MaxExtendsDepth = 10

// ValidProfileName reports whether name is a valid profile name: ASCII
// letters, digits and '-', not starting or ending with '-'. (A loop rather
// than a regexp: every nono start checks a name, and compiling the regexp
// cost more than the rest of the profile lookup.)
func ValidProfileName(name string) bool {
	if name == "" || name[0] == '-' || name[len(name)-1] == '-' {
		return false
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-') {
			return false
		}
	}
	return true
}

var builtins = sync.OnceValue(func() map[string][]byte {
	m := map[string][]byte{}
	entries, err := builtinFS.ReadDir("data/profiles")
	if err != nil {
		panic("policy: embedded profiles: " + err.Error())
	}
	for _, e := range entries {
		b, err := builtinFS.ReadFile("data/profiles/" + e.Name())
		if err != nil {
			panic("policy: embedded profiles: " + err.Error())
		}
		m[strings.TrimSuffix(e.Name(), ".jsonc")] = b
	}
	return m
})

// BuiltinProfileNames lists the embedded profiles, sorted.
func BuiltinProfileNames() []string {
	var out []string
	for n := range builtins() {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// BuiltinProfile returns the embedded profile document (unmerged), parsed.
// Each call returns a fresh copy.
func BuiltinProfile(name string) (*Profile, error) {
	p, ok := generatedProfile(name)
	if !ok {
		return nil, fmt.Errorf("no built-in profile %q", name)
	}
	return p, nil
}

// BuiltinProfileSource returns the embedded JSONC text of a built-in profile.
func BuiltinProfileSource(name string) ([]byte, bool) {
	b, ok := builtins()[name]
	return append([]byte(nil), b...), ok
}

// UserProfileDir returns $XDG_CONFIG_HOME/nono/profiles (default ~/.config/nono/profiles).
func UserProfileDir(x Expander) (string, error) {
	c, err := x.Var("XDG_CONFIG_HOME")
	if err != nil {
		return "", err
	}
	return filepath.Join(c, "nono", "profiles"), nil
}

// IsProfilePath reports whether a --profile value names a file rather than a profile.
func IsProfilePath(ref string) bool {
	return strings.Contains(ref, "/") || strings.HasSuffix(ref, ".json") || strings.HasSuffix(ref, ".jsonc")
}

// errNoSuchFile is fs.ErrNotExist with the usual wording.
type errNoSuchFile struct{}

func (errNoSuchFile) Error() string { return "no such file or directory" }
func (errNoSuchFile) Unwrap() error { return fs.ErrNotExist }

// profileSource is one located, parsed (unmerged) profile document.
type profileSource struct {
	key     string // identity for cycles and memoisation
	label   string // for messages
	name    string // profile name when found by name
	dir     string // directory of a file profile, for relative extends
	builtin bool
	doc     *Profile
}

type profileLoader struct {
	x     Expander
	cwd   string
	memo  map[string]*Profile
	stack []*profileSource
}

// LoadProfile locates ref (name or path; "" means "default"), resolves its
// extends chain and returns the merged profile and its display name.
// Relative paths are taken from cwd.
func LoadProfile(ref string, x Expander, cwd string) (*Profile, string, error) {
	if ref == "" {
		ref = "default"
	}
	l := &profileLoader{x: x, cwd: cwd, memo: map[string]*Profile{}}
	src, err := l.locate(ref, nil)
	if err != nil {
		return nil, "", err
	}
	p, err := l.resolve(src, 0)
	if err != nil {
		return nil, "", err
	}
	name := ref
	if IsProfilePath(ref) && src.doc.Meta.Name != "" {
		name = src.doc.Meta.Name
	}
	return p, name, nil
}

func (l *profileLoader) locate(ref string, from *profileSource) (*profileSource, error) {
	if IsProfilePath(ref) {
		if from != nil && from.builtin {
			return nil, fmt.Errorf("built-in profile %s cannot extend a file (%s)", from.label, ref)
		}
		p, err := l.x.Expand(ref)
		if err != nil {
			return nil, fmt.Errorf("profile %s: %w", ref, err)
		}
		if !filepath.IsAbs(p) {
			base := l.cwd
			if from != nil && from.dir != "" {
				base = from.dir
			}
			p = filepath.Join(base, p)
		}
		return l.readFile(filepath.Clean(p), "")
	}
	if !ValidProfileName(ref) {
		return nil, fmt.Errorf("invalid profile name %q: use letters, digits and '-', not starting or ending with '-'", ref)
	}
	if from == nil || (!from.builtin && from.name != ref) {
		dir, err := UserProfileDir(l.x)
		if err != nil {
			return nil, fmt.Errorf("locating profile %q: %w", ref, err)
		}
		for _, ext := range []string{".jsonc", ".json"} {
			src, err := l.readFile(filepath.Join(dir, ref+ext), ref)
			if err == nil {
				return src, nil
			}
			if !errors.Is(err, fs.ErrNotExist) {
				return nil, err
			}
		}
	}
	if doc, ok := generatedProfile(ref); ok {
		return &profileSource{key: "builtin:" + ref, label: ref, name: ref, builtin: true, doc: doc}, nil
	}
	return nil, fmt.Errorf("profile %q not found; available profiles: %s", ref, strings.Join(l.available(), ", "))
}

// available lists built-in and user profile names.
func (l *profileLoader) available() []string {
	set := map[string]bool{}
	for _, n := range BuiltinProfileNames() {
		set[n] = true
	}
	if dir, err := UserProfileDir(l.x); err == nil {
		entries, _ := os.ReadDir(dir)
		for _, e := range entries {
			n := strings.TrimSuffix(strings.TrimSuffix(e.Name(), ".jsonc"), ".json")
			if n != e.Name() && ValidProfileName(n) {
				set[n] = true
			}
		}
	}
	out := make([]string, 0, len(set))
	for n := range set {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

func (l *profileLoader) readFile(path, name string) (*profileSource, error) {
	canon, err := filepath.EvalSymlinks(path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("profile %s: %w", path, errNoSuchFile{})
		}
		return nil, fmt.Errorf("profile %s: %w", path, err)
	}
	f, err := os.Open(canon)
	if err != nil {
		return nil, fmt.Errorf("profile %s: %w", path, err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("profile %s: %w", path, err)
	}
	if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("profile %s: not a regular file", path)
	}
	data, err := io.ReadAll(io.LimitReader(f, maxProfileSize+1))
	if err != nil {
		return nil, fmt.Errorf("profile %s: %w", path, err)
	}
	doc, err := ParseProfile(path, data)
	if err != nil {
		return nil, err
	}
	return &profileSource{key: "file:" + canon, label: path, name: name, dir: filepath.Dir(canon), doc: doc}, nil
}

func (l *profileLoader) resolve(src *profileSource, depth int) (*Profile, error) {
	for i, s := range l.stack {
		if s.key == src.key {
			var chain []string
			for _, t := range l.stack[i:] {
				chain = append(chain, t.label)
			}
			return nil, fmt.Errorf("profile extends cycle: %s -> %s", strings.Join(chain, " -> "), src.label)
		}
	}
	if depth > MaxExtendsDepth {
		return nil, fmt.Errorf("profile %s: extends chain is deeper than %d levels", l.stack[0].label, MaxExtendsDepth)
	}
	if p, ok := l.memo[src.key]; ok {
		return p, nil
	}
	l.stack = append(l.stack, src)
	defer func() { l.stack = l.stack[:len(l.stack)-1] }()
	acc := &Profile{}
	for _, e := range src.doc.Extends {
		base, err := l.locate(e, src)
		if err != nil {
			return nil, fmt.Errorf("profile %s: extends %q: %w", src.label, e, err)
		}
		bp, err := l.resolve(base, depth+1)
		if err != nil {
			return nil, err
		}
		acc = Merge(acc, bp)
	}
	acc = Merge(acc, src.doc)
	acc.Extends = append(Extends(nil), src.doc.Extends...)
	l.memo[src.key] = acc
	return acc, nil
}

// Merge returns child layered over base (nono-cli.md §3.4): scalars child
// wins, arrays append with de-duplication, maps merge with the child's keys
// winning, network_profile absent inherits and null clears, workdir "none"
// inherits. Neither input is modified.
func Merge(base, child *Profile) *Profile {
	out := &Profile{
		Schema:         orStr(child.Schema, base.Schema),
		Meta:           mergeMeta(base.Meta, child.Meta),
		Extends:        append(Extends(nil), child.Extends...),
		EnvCredentials: mergeMap(base.EnvCredentials, child.EnvCredentials),
		AllowGPU:       orPtr(child.AllowGPU, base.AllowGPU),
	}
	out.Groups.Include = unionStr(base.Groups.Include, child.Groups.Include)
	out.Groups.Exclude = unionStr(base.Groups.Exclude, child.Groups.Exclude)
	out.Commands.Allow = unionStr(base.Commands.Allow, child.Commands.Allow)
	out.Commands.Deny = unionStr(base.Commands.Deny, child.Commands.Deny)

	bf, cf, of := base.Filesystem.fields(), child.Filesystem.fields(), out.Filesystem.ptrs()
	for i := range bf {
		*of[i] = unionPaths(bf[i].entries, cf[i].entries)
	}

	bn, cn := base.Network, child.Network
	out.Network = Network{
		Block:             orPtr(cn.Block, bn.Block),
		NetworkProfile:    bn.NetworkProfile,
		AllowDomain:       unionStr(bn.AllowDomain, cn.AllowDomain),
		DenyDomain:        unionStr(bn.DenyDomain, cn.DenyDomain),
		Credentials:       unionStr(bn.Credentials, cn.Credentials),
		CustomCredentials: mergeMap(bn.CustomCredentials, cn.CustomCredentials),
		OpenPort:          unionPorts(bn.OpenPort, cn.OpenPort),
		ListenPort:        unionPorts(bn.ListenPort, cn.ListenPort),
		UpstreamProxy:     orStr(cn.UpstreamProxy, bn.UpstreamProxy),
		UpstreamBypass:    unionStr(bn.UpstreamBypass, cn.UpstreamBypass),
	}
	if cn.NetworkProfile.Set {
		out.Network.NetworkProfile = cn.NetworkProfile
	}

	out.Environment = Environment{
		AllowVars: unionStrNil(base.Environment.AllowVars, child.Environment.AllowVars),
		DenyVars:  unionStr(base.Environment.DenyVars, child.Environment.DenyVars),
		SetVars:   mergeMap(base.Environment.SetVars, child.Environment.SetVars),
	}
	out.Workdir = child.Workdir
	if child.Workdir.Access == "" || (child.Workdir.Access == "none" && base.Workdir.Access != "") {
		out.Workdir = base.Workdir
	}
	out.Security = Security{
		SignalMode:          orPtr(child.Security.SignalMode, base.Security.SignalMode),
		IPCMode:             orPtr(child.Security.IPCMode, base.Security.IPCMode),
		CapabilityElevation: orPtr(child.Security.CapabilityElevation, base.Security.CapabilityElevation),
	}
	out.Rollback = Rollback{
		ExcludePatterns: unionStr(base.Rollback.ExcludePatterns, child.Rollback.ExcludePatterns),
		ExcludeGlobs:    unionStr(base.Rollback.ExcludeGlobs, child.Rollback.ExcludeGlobs),
	}
	return out
}

// ptrs returns pointers to the path lists, in the order of fields().
func (f *Filesystem) ptrs() []*[]PathEntry {
	return []*[]PathEntry{
		&f.Allow, &f.Read, &f.Write, &f.AllowFile, &f.ReadFile, &f.WriteFile,
		&f.UnixSocket, &f.UnixSocketBind, &f.UnixSocketDir, &f.UnixSocketDirBind,
		&f.Deny, &f.BypassProtection,
	}
}

func mergeMeta(b, c Meta) Meta {
	return Meta{
		Name:        orStr(c.Name, b.Name),
		Version:     orStr(c.Version, b.Version),
		Description: orStr(c.Description, b.Description),
		Author:      orStr(c.Author, b.Author),
	}
}

func orStr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

func orPtr[T any](a, b *T) *T {
	if a != nil {
		v := *a
		return &v
	}
	if b != nil {
		v := *b
		return &v
	}
	return nil
}

func unionStr(a, b []string) []string {
	if len(a)+len(b) == 0 {
		return nil
	}
	out := make([]string, 0, len(a)+len(b))
	seen := make(map[string]struct{}, len(a)+len(b))
	for _, l := range [2][]string{a, b} {
		for _, s := range l {
			if _, dup := seen[s]; !dup {
				seen[s] = struct{}{}
				out = append(out, s)
			}
		}
	}
	return out
}

// unionStrNil is unionStr that keeps "present but empty" distinct from absent.
func unionStrNil(a, b []string) []string {
	if a == nil && b == nil {
		return nil
	}
	out := unionStr(a, b)
	if out == nil {
		out = []string{}
	}
	return out
}

func unionPorts(a, b []uint16) []uint16 {
	var out []uint16
	seen := map[uint16]bool{}
	for _, p := range append(append([]uint16(nil), a...), b...) {
		if !seen[p] {
			seen[p] = true
			out = append(out, p)
		}
	}
	return out
}

func unionPaths(a, b []PathEntry) []PathEntry {
	var out []PathEntry
	seen := map[string]bool{}
	for _, e := range append(append([]PathEntry(nil), a...), b...) {
		k := e.Path + "\x00" + strings.Join(e.When, ",")
		if !seen[k] {
			seen[k] = true
			out = append(out, PathEntry{Path: e.Path, When: append(When(nil), e.When...)})
		}
	}
	return out
}

func mergeMap[V any](a, b map[string]V) map[string]V {
	if a == nil && b == nil {
		return nil
	}
	out := make(map[string]V, len(a)+len(b))
	for k, v := range a {
		out[k] = v
	}
	for k, v := range b {
		out[k] = v
	}
	return out
}
