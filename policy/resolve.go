package policy

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strings"

	"github.com/nono-sandbox/nono/sandbox"
)

// Grant sources.
const (
	SourceUser    = "user"
	SourceProfile = "profile"
	SourceSystem  = "system"
	groupPrefix   = "group:"
)

// Request is what the CLI asks for: a profile plus raw flag values.
type Request struct {
	Profile                                            string // name or path; "" = default
	Workdir                                            string // for $WORKDIR; "" = cwd
	Allow, Read, Write, AllowFile, ReadFile, WriteFile []string
	UnixSocket, UnixSocketBind                         []string
	UnixSocketDir, UnixSocketDirBind                   []string
	BypassProtection                                   []string
	AllowGPU                                           bool
	Env                                                func(string) (string, bool) // os.LookupEnv in production
}

// Deny is one recorded deny path in one canonical form.
type Deny struct {
	Path        string `json:"path"`                  // canonical form that grants are compared with
	Original    string `json:"original"`              // as written in the group or profile
	Group       string `json:"group,omitempty"`       // policy group, "" for profile filesystem.deny
	Description string `json:"description,omitempty"` // group description
}

// Resolved is a profile plus CLI flags turned into what the sandbox and the
// gateway must enforce.
type Resolved struct {
	// fromCap: loaded from a capability file (`nono why --self`); its
	// network is Net, as the session recorded it.
	fromCap       bool
	Profile       *Profile // merged profile (implicit default groups not listed)
	ProfileName   string
	Grants        []sandbox.Grant // canonical, de-duplicated, sorted; Source set
	UnixSockets   []sandbox.UnixSocketGrant
	Denies        []Deny   // after bypass removal; every canonical form
	Bypassed      []string // canonical bypass_protection paths
	WorkdirAccess sandbox.Access
	Warnings      []string

	Workdir        string   // canonical $WORKDIR
	ActiveGroups   []string // groups applied on this platform, sorted
	ProtectedRoots []string // canonical nono state roots

	// Copied from the merged profile for the CLI and the gateway.
	NetworkBlock        bool
	NetworkProfile      string // "" = none
	AllowDomains        []string
	DenyDomains         []string
	Credentials         []string
	CustomCredentials   map[string]CustomCredential
	OpenPorts           []uint16
	ListenPorts         []uint16
	UpstreamProxy       string
	UpstreamBypass      []string
	EnvCredentials      map[string]string
	SignalMode          string // isolated | allow_same_sandbox | allow_all
	IPCMode             string // shared_memory_only | full
	CapabilityElevation bool
	AllowCommands       []string // profile commands.allow
	BlockCommands       []string // profile commands.deny plus active dangerous_commands groups
	RollbackExcludes    []string
	RollbackGlobs       []string

	// Net is the network state read back from a capability file (why --self).
	Net CapNet

	x   Expander
	cwd string
	cz  *canonicalizer // shared by one Resolve; nil otherwise
}

// canon returns the canonicalizer of the resolution in progress, or a
// fresh one: paths added after Resolve returned are resolved anew.
func (r *Resolved) canon() *canonicalizer {
	if r.cz != nil {
		return r.cz
	}
	return new(canonicalizer)
}

// Resolve loads the profile, expands and canonicalises every path, applies
// groups, bypasses and CLI grants, and validates the result.
func Resolve(req Request) (*Resolved, error) {
	env := req.Env
	if env == nil {
		env = os.LookupEnv
	}
	cwd, err := os.Getwd()
	if err != nil {
		return nil, fmt.Errorf("resolving policy: current directory: %w", err)
	}
	workdir := req.Workdir
	if workdir == "" {
		workdir = cwd
	}
	if !filepath.IsAbs(workdir) {
		workdir = filepath.Join(cwd, workdir)
	}
	cz := new(canonicalizer) // one for the whole resolution: the workdir's prefixes are asked again
	wd, err := cz.existing(workdir, false)
	if err != nil {
		return nil, fmt.Errorf("--workdir %s: %w", req.Workdir, notExistMsg(err))
	}
	if st, err := os.Stat(wd); err != nil || !st.IsDir() {
		return nil, fmt.Errorf("--workdir %s: not a directory", req.Workdir)
	}
	x := NewExpander(env, wd)
	if _, err := x.Home(); err != nil {
		return nil, fmt.Errorf("resolving policy: %w (needed for ~ and the deny groups)", err)
	}
	prof, name, err := LoadProfile(req.Profile, x, cwd)
	if err != nil {
		return nil, err
	}
	r := &Resolved{Profile: prof, ProfileName: name, Workdir: wd, x: x, cwd: cwd, cz: cz}
	err = r.build(req)
	r.cz = nil
	if err != nil {
		return nil, err
	}
	if err := r.Validate(); err != nil {
		return nil, err
	}
	return r, nil
}

func notExistMsg(err error) error {
	if errors.Is(err, fs.ErrNotExist) {
		return errors.New("no such file or directory")
	}
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

func accessFromWord(w string) sandbox.Access {
	switch w {
	case "read":
		return sandbox.AccessRead
	case "write":
		return sandbox.AccessWrite
	case "readwrite":
		return sandbox.AccessReadWrite
	}
	return 0
}

func (r *Resolved) build(req Request) error {
	p := r.Profile
	if req.Profile == "" {
		r.WorkdirAccess = sandbox.AccessRead
	} else {
		r.WorkdirAccess = accessFromWord(p.Workdir.Access)
	}
	r.copyProfileFields()

	groups, err := activeGroups(p)
	if err != nil {
		return fmt.Errorf("profile %s: %w", r.ProfileName, err)
	}
	r.ActiveGroups = groups
	if err := r.protectedRoots(); err != nil {
		return err
	}

	// Denies: groups, then profile filesystem.deny.
	var groupCommands []string
	for _, name := range groups {
		g, _ := LookupGroup(name)
		groupCommands = append(groupCommands, g.Deny.Commands...)
		for _, e := range g.Deny.Access {
			if !e.When.Matches(runtime.GOOS) {
				continue
			}
			abs, err := r.x.ExpandPath(e.Path)
			if err != nil {
				return fmt.Errorf("group %s: deny %q: %w", name, e.Path, err)
			}
			r.addDeny(abs, e.Path, name, g.Description)
		}
	}
	r.BlockCommands = unionStr(r.BlockCommands, groupCommands)
	for _, e := range p.Filesystem.Deny {
		if !e.When.Matches(runtime.GOOS) {
			continue
		}
		abs, err := r.x.ExpandPath(e.Path)
		if err != nil {
			return fmt.Errorf("profile %s: filesystem.deny %q: %w", r.ProfileName, e.Path, err)
		}
		r.addDeny(abs, e.Path, "", "Denied by profile filesystem.deny.")
	}

	// Group grants: missing paths are skipped silently.
	for _, name := range groups {
		g, _ := LookupGroup(name)
		for _, a := range []struct {
			entries []PathEntry
			access  sandbox.Access
		}{{g.Allow.Read, sandbox.AccessRead}, {g.Allow.Write, sandbox.AccessWrite}, {g.Allow.ReadWrite, sandbox.AccessReadWrite}} {
			for _, e := range a.entries {
				if !e.When.Matches(runtime.GOOS) {
					continue
				}
				abs, err := r.x.ExpandPath(e.Path)
				if err != nil {
					continue
				}
				canon, mode, err := r.canon().existingStat(abs, true)
				if err != nil {
					continue
				}
				r.Grants = append(r.Grants, sandbox.Grant{Path: canon, Original: e.Path, Access: a.access, File: !mode.IsDir(), Source: groupPrefix + name})
			}
		}
	}

	// Profile grants: missing paths are warnings.
	fsec := p.Filesystem
	for _, a := range []struct {
		field   string
		entries []PathEntry
		access  sandbox.Access
		file    bool
	}{
		{"allow", fsec.Allow, sandbox.AccessReadWrite, false},
		{"read", fsec.Read, sandbox.AccessRead, false},
		{"write", fsec.Write, sandbox.AccessWrite, false},
		{"allow_file", fsec.AllowFile, sandbox.AccessReadWrite, true},
		{"read_file", fsec.ReadFile, sandbox.AccessRead, true},
		{"write_file", fsec.WriteFile, sandbox.AccessWrite, true},
	} {
		for _, e := range a.entries {
			if !e.When.Matches(runtime.GOOS) {
				continue
			}
			if err := r.profileGrant("filesystem."+a.field, e.Path, a.access, a.file); err != nil {
				return err
			}
		}
	}
	for _, s := range []struct {
		field   string
		entries []PathEntry
		kind    socketKind
	}{
		{"unix_socket", fsec.UnixSocket, sockConnect},
		{"unix_socket_bind", fsec.UnixSocketBind, sockBind},
		{"unix_socket_dir", fsec.UnixSocketDir, sockDir},
		{"unix_socket_dir_bind", fsec.UnixSocketDirBind, sockDirBind},
	} {
		for _, e := range s.entries {
			if !e.When.Matches(runtime.GOOS) {
				continue
			}
			abs, err := r.x.ExpandPath(e.Path)
			if err != nil {
				return fmt.Errorf("profile %s: filesystem.%s %q: %w", r.ProfileName, s.field, e.Path, err)
			}
			if err := r.socketGrant(s.kind, abs, e.Path, SourceProfile); err != nil {
				if errors.Is(err, fs.ErrNotExist) {
					r.warnf("profile %s: filesystem.%s %q does not exist; skipped", r.ProfileName, s.field, e.Path)
					continue
				}
				return fmt.Errorf("profile %s: filesystem.%s %q: %w", r.ProfileName, s.field, e.Path, err)
			}
		}
	}

	// CLI grants: everything must exist.
	for _, c := range []struct {
		flag   string
		vals   []string
		access sandbox.Access
		file   bool
	}{
		{"--allow", req.Allow, sandbox.AccessReadWrite, false},
		{"--read", req.Read, sandbox.AccessRead, false},
		{"--write", req.Write, sandbox.AccessWrite, false},
		{"--allow-file", req.AllowFile, sandbox.AccessReadWrite, true},
		{"--read-file", req.ReadFile, sandbox.AccessRead, true},
		{"--write-file", req.WriteFile, sandbox.AccessWrite, true},
	} {
		for _, v := range c.vals {
			if err := r.AddGrant(v, c.access, c.file, SourceUser, c.flag); err != nil {
				return err
			}
		}
	}
	for _, s := range []struct {
		flag string
		vals []string
		kind socketKind
	}{
		{"--allow-unix-socket", req.UnixSocket, sockConnect},
		{"--allow-unix-socket-bind", req.UnixSocketBind, sockBind},
		{"--allow-unix-socket-dir", req.UnixSocketDir, sockDir},
		{"--allow-unix-socket-dir-bind", req.UnixSocketDirBind, sockDirBind},
	} {
		for _, v := range s.vals {
			if err := r.socketGrant(s.kind, r.cliAbs(v), v, SourceUser); err != nil {
				return fmt.Errorf("%s %s: %w", s.flag, v, notExistMsg(err))
			}
		}
	}

	if req.AllowGPU {
		if req.Profile != "" && (p.AllowGPU == nil || !*p.AllowGPU) {
			return fmt.Errorf("--allow-gpu: profile %s does not opt into GPU access; add \"allow_gpu\": true to the profile, or run without --profile", r.ProfileName)
		}
		r.Grants = append(r.Grants, GPUGrants()...)
	}

	// Bypasses: profile entries may be missing (warning), CLI entries resolve leniently.
	for _, e := range p.Filesystem.BypassProtection {
		if !e.When.Matches(runtime.GOOS) {
			continue
		}
		abs, err := r.x.ExpandPath(e.Path)
		if err != nil {
			return fmt.Errorf("profile %s: filesystem.bypass_protection %q: %w", r.ProfileName, e.Path, err)
		}
		if _, err := os.Lstat(abs); err != nil {
			r.warnf("profile %s: filesystem.bypass_protection %q does not exist; skipped", r.ProfileName, e.Path)
			continue
		}
		r.addBypass(r.canon().lenient(abs))
	}
	for _, v := range req.BypassProtection {
		r.addBypass(r.canon().lenient(r.cliAbs(v)))
	}
	r.applyBypasses()
	r.dropGroupConflicts()
	if err := r.expandSetVars(); err != nil {
		return err
	}
	return nil
}

func (r *Resolved) copyProfileFields() {
	p := r.Profile
	n := p.Network
	r.NetworkBlock = n.Block != nil && *n.Block
	if n.NetworkProfile.Set && !n.NetworkProfile.Null {
		r.NetworkProfile = n.NetworkProfile.Value
	}
	r.AllowDomains, r.DenyDomains = n.AllowDomain, n.DenyDomain
	r.Credentials, r.CustomCredentials = n.Credentials, n.CustomCredentials
	r.OpenPorts, r.ListenPorts = n.OpenPort, n.ListenPort
	r.UpstreamProxy, r.UpstreamBypass = n.UpstreamProxy, n.UpstreamBypass
	r.EnvCredentials = p.EnvCredentials
	r.SignalMode, r.IPCMode = "isolated", "shared_memory_only"
	if s := p.Security.SignalMode; s != nil {
		r.SignalMode = *s
	}
	if s := p.Security.IPCMode; s != nil {
		r.IPCMode = *s
	}
	r.CapabilityElevation = p.Security.CapabilityElevation != nil && *p.Security.CapabilityElevation
	r.AllowCommands = p.Commands.Allow
	r.BlockCommands = unionStr(nil, p.Commands.Deny)
	r.RollbackExcludes, r.RollbackGlobs = p.Rollback.ExcludePatterns, p.Rollback.ExcludeGlobs
}

// activeGroups computes (required + default.include + profile.include) -
// exclude for this platform.
func activeGroups(p *Profile) ([]string, error) {
	if err := checkExclusions(p.Groups.Exclude); err != nil {
		return nil, err
	}
	def, err := BuiltinProfile("default")
	if err != nil {
		return nil, err
	}
	all := unionStr(unionStr(requiredGroups(), def.Groups.Include), p.Groups.Include)
	var out []string
	for _, name := range all {
		g, ok := LookupGroup(name)
		if !ok {
			return nil, fmt.Errorf("unknown group %q", name)
		}
		if contains(p.Groups.Exclude, name) || !g.AppliesTo(runtime.GOOS) {
			continue
		}
		out = append(out, name)
	}
	sort.Strings(out)
	return out, nil
}

func (r *Resolved) protectedRoots() error {
	home, err := r.x.Home()
	if err != nil {
		return err
	}
	state, err := r.x.Var("XDG_STATE_HOME")
	if err != nil {
		return fmt.Errorf("resolving nono state root: %w", err)
	}
	for _, root := range []string{filepath.Join(home, ".nono"), filepath.Join(state, "nono")} {
		for _, f := range r.canon().denyForms(root) {
			if !contains(r.ProtectedRoots, f) {
				r.ProtectedRoots = append(r.ProtectedRoots, f)
			}
		}
	}
	return nil
}

func (r *Resolved) addDeny(abs, original, group, desc string) {
	for _, f := range r.canon().denyForms(abs) {
		dup := false
		for _, d := range r.Denies {
			if d.Path == f && d.Group == group {
				dup = true
				break
			}
		}
		if !dup {
			r.Denies = append(r.Denies, Deny{Path: f, Original: original, Group: group, Description: desc})
		}
	}
}

func (r *Resolved) addBypass(p string) {
	if !contains(r.Bypassed, p) {
		r.Bypassed = append(r.Bypassed, p)
	}
}

// applyBypasses removes every deny equal to or below a bypass path.
func (r *Resolved) applyBypasses() {
	for _, b := range r.Bypassed {
		kept := r.Denies[:0]
		matched := false
		for _, d := range r.Denies {
			if within(d.Path, b) {
				matched = true
				continue
			}
			kept = append(kept, d)
		}
		r.Denies = kept
		if matched {
			r.warnf("bypass_protection: deny rules at or below '%s' are lifted for this session", b)
		} else {
			r.warnf("bypass_protection '%s' matches no deny rule", b)
		}
	}
}

// dropGroupConflicts removes group grants that would make a deny or a
// protected root unenforceable (e.g. /tmp when $HOME lives below it).
func (r *Resolved) dropGroupConflicts() {
	idx := newDenyIndex(r.Denies)
	kept := r.Grants[:0]
	for _, g := range r.Grants {
		if strings.HasPrefix(g.Source, groupPrefix) {
			if why := r.conflictWith(g, idx); why != "" {
				r.warnf("%s: not granting '%s' because %s", g.Source, g.Path, why)
				continue
			}
		}
		kept = append(kept, g)
	}
	r.Grants = kept
}

// conflictWith explains why g cannot coexist with the denies or protected roots.
func (r *Resolved) conflictWith(g sandbox.Grant, idx denyIndex) string {
	for _, root := range r.ProtectedRoots {
		if within(g.Path, root) || (!g.File && within(root, g.Path)) {
			return fmt.Sprintf("it overlaps protected nono state root '%s'", root)
		}
	}
	if !idx.overlaps(g.Path, !g.File) {
		return ""
	}
	for _, d := range r.Denies {
		switch {
		case within(g.Path, d.Path):
			return fmt.Sprintf("it is inside denied path '%s'", d.Path)
		case !g.File && within(d.Path, g.Path):
			return fmt.Sprintf("it contains denied path '%s'", d.Path)
		}
	}
	return ""
}

func (r *Resolved) warnf(format string, args ...any) {
	w := fmt.Sprintf(format, args...)
	if !contains(r.Warnings, w) {
		r.Warnings = append(r.Warnings, w)
	}
}

// cliAbs makes a CLI value absolute against the process cwd (leading ~ expanded).
func (r *Resolved) cliAbs(v string) string {
	if v == "~" || strings.HasPrefix(v, "~/") {
		if home, err := r.x.Home(); err == nil {
			v = home + v[1:]
		}
	}
	if !filepath.IsAbs(v) {
		v = filepath.Join(r.cwd, v)
	}
	return filepath.Clean(v)
}

// AddGrant adds a grant after the profile was resolved (e.g. the CWD grant
// for --allow-cwd). The path must exist; relative paths are taken from the
// process cwd. file selects a single-file grant and requires a non-directory;
// otherwise a directory is required. flag names the origin in errors.
// Call Validate after the last AddGrant.
func (r *Resolved) AddGrant(path string, access sandbox.Access, file bool, source, flag string) error {
	if flag == "" {
		flag = "grant"
	}
	if access == 0 || access&^sandbox.AccessReadWrite != 0 {
		return fmt.Errorf("%s %s: invalid access %d", flag, path, access)
	}
	if path == "" || strings.ContainsRune(path, 0) {
		return fmt.Errorf("%s: empty or invalid path", flag)
	}
	canon, err := r.canon().existing(r.cliAbs(path), false)
	if err != nil {
		return fmt.Errorf("%s %s: %w", flag, path, notExistMsg(err))
	}
	st, err := os.Stat(canon)
	if err != nil {
		return fmt.Errorf("%s %s: %w", flag, path, notExistMsg(err))
	}
	if file && st.IsDir() {
		return fmt.Errorf("%s %s: is a directory; use the directory flag (--allow, --read or --write) instead", flag, path)
	}
	if !file && !st.IsDir() {
		return fmt.Errorf("%s %s: is not a directory; use the file flag (--allow-file, --read-file or --write-file) instead", flag, path)
	}
	r.Grants = append(r.Grants, sandbox.Grant{Path: canon, Original: path, Access: access, File: file, Source: source})
	return nil
}

func (r *Resolved) profileGrant(field, raw string, access sandbox.Access, file bool) error {
	abs, err := r.x.ExpandPath(raw)
	if err != nil {
		return fmt.Errorf("profile %s: %s %q: %w", r.ProfileName, field, raw, err)
	}
	canon, err := r.canon().existing(abs, false)
	if err != nil {
		r.warnf("profile %s: %s %q (%s) does not exist; skipped", r.ProfileName, field, raw, abs)
		return nil
	}
	st, err := os.Stat(canon)
	if err != nil {
		r.warnf("profile %s: %s %q: %v; skipped", r.ProfileName, field, raw, notExistMsg(err))
		return nil
	}
	if file && st.IsDir() {
		r.warnf("profile %s: %s %q is a directory; skipped (use the directory field)", r.ProfileName, field, raw)
		return nil
	}
	r.Grants = append(r.Grants, sandbox.Grant{Path: canon, Original: raw, Access: access, File: file || !st.IsDir(), Source: SourceProfile})
	return nil
}

type socketKind int

const (
	sockConnect socketKind = iota
	sockBind
	sockDir
	sockDirBind
)

// socketGrant adds a unix socket grant and the filesystem access it implies.
func (r *Resolved) socketGrant(kind socketKind, abs, raw, source string) error {
	canon, err := filepath.EvalSymlinks(abs)
	if err != nil && kind == sockBind && errors.Is(err, fs.ErrNotExist) {
		if _, lerr := os.Lstat(abs); lerr == nil {
			return fmt.Errorf("dangling symlink refused for bind")
		}
		parent, perr := filepath.EvalSymlinks(filepath.Dir(abs))
		if perr != nil {
			return perr
		}
		if st, serr := os.Stat(parent); serr != nil || !st.IsDir() {
			return fmt.Errorf("parent %s is not a directory", filepath.Dir(abs))
		}
		r.Grants = append(r.Grants, sandbox.Grant{Path: parent, Original: raw, Access: sandbox.AccessWrite, Source: source})
		r.UnixSockets = append(r.UnixSockets, sandbox.UnixSocketGrant{Path: filepath.Join(parent, filepath.Base(abs)), Bind: true})
		return nil
	}
	if err != nil {
		return err
	}
	st, err := os.Stat(canon)
	if err != nil {
		return err
	}
	switch kind {
	case sockConnect, sockBind:
		if st.Mode()&fs.ModeSocket == 0 {
			return fmt.Errorf("not a unix socket")
		}
		access := sandbox.AccessRead
		if kind == sockBind {
			access = sandbox.AccessReadWrite
		}
		r.Grants = append(r.Grants, sandbox.Grant{Path: canon, Original: raw, Access: access, File: true, Source: source})
		r.UnixSockets = append(r.UnixSockets, sandbox.UnixSocketGrant{Path: canon, Bind: kind == sockBind})
	default:
		if !st.IsDir() {
			return fmt.Errorf("not a directory")
		}
		access := sandbox.AccessRead
		if kind == sockDirBind {
			access = sandbox.AccessReadWrite
		}
		r.Grants = append(r.Grants, sandbox.Grant{Path: canon, Original: raw, Access: access, Source: source})
		r.UnixSockets = append(r.UnixSockets, sandbox.UnixSocketGrant{Path: canon, Dir: true, Bind: kind == sockDirBind})
	}
	return nil
}

func (r *Resolved) expandSetVars() error {
	sv := r.Profile.Environment.SetVars
	if len(sv) == 0 {
		return nil
	}
	out := make(map[string]string, len(sv))
	for k, v := range sv {
		e, err := r.x.expandLenient(v)
		if err != nil {
			return fmt.Errorf("profile %s: environment.set_vars %s: %w", r.ProfileName, k, err)
		}
		out[k] = e
	}
	r.Profile.Environment.SetVars = out
	return nil
}

// normalize sorts grants and merges duplicates (same path, kind and source).
func (r *Resolved) normalize() {
	type key struct {
		path, source string
		file         bool
	}
	idx := make(map[key]int, len(r.Grants))
	out := make([]sandbox.Grant, 0, len(r.Grants))
	for _, g := range r.Grants {
		k := key{g.Path, g.Source, g.File}
		if i, ok := idx[k]; ok {
			out[i].Access |= g.Access
			continue
		}
		idx[k] = len(out)
		out = append(out, g)
	}
	sort.SliceStable(out, func(i, j int) bool {
		if out[i].Path != out[j].Path {
			return out[i].Path < out[j].Path
		}
		return out[i].Source < out[j].Source
	})
	r.Grants = out

	seen := map[sandbox.UnixSocketGrant]bool{}
	var socks []sandbox.UnixSocketGrant
	for _, s := range r.UnixSockets {
		if !seen[s] {
			seen[s] = true
			socks = append(socks, s)
		}
	}
	r.UnixSockets = socks
}

const maxListedConflicts = 5

// Validate checks the grants against the protected state roots, the deny
// rules and the bypasses. Exact file grants equal to a deny are removed with
// a warning; every other overlap is an error. Run it after the last AddGrant.
func (r *Resolved) Validate() error {
	r.normalize()
	idx := newDenyIndex(r.Denies)
	// Exact file grants equal to a deny path are removed.
	kept := r.Grants[:0]
	for _, g := range r.Grants {
		if _, denied := idx.exact[g.Path]; !g.File || !denied {
			kept = append(kept, g)
			continue
		}
		if d, ok := r.denyEqual(g); ok {
			r.warnf("not granting '%s' (source: %s): it is denied by %s", g.Path, g.Source, denyLabel(d))
			continue
		}
		kept = append(kept, g)
	}
	r.Grants = kept

	var conflicts []string
	var denies []Deny // in message order, only needed when something overlaps
	for _, g := range r.Grants {
		if !idx.overlaps(g.Path, !g.File) {
			continue
		}
		if denies == nil {
			denies = denyPriority(r.Denies)
		}
		for _, d := range denies {
			switch {
			case g.Path == d.Path:
				conflicts = append(conflicts, fmt.Sprintf("- grant '%s' (source: %s) equals denied path '%s' (%s)", g.Path, g.Source, d.Path, denyLabel(d)))
			case within(g.Path, d.Path):
				conflicts = append(conflicts, fmt.Sprintf("- grant '%s' (source: %s) is inside denied path '%s' (%s)", g.Path, g.Source, d.Path, denyLabel(d)))
			case !g.File && within(d.Path, g.Path):
				conflicts = append(conflicts, fmt.Sprintf("- deny '%s' (%s) overlaps allowed parent '%s' (source: %s)", d.Path, denyLabel(d), g.Path, g.Source))
			}
		}
	}
	if len(conflicts) > 0 {
		var b strings.Builder
		b.WriteString("Landlock deny-overlap is not enforceable on Linux. Refusing to start with conflicting policy.\n")
		fmt.Fprintf(&b, " %d deny rule(s) cannot apply under an allowed path.\n Conflicts:\n", len(conflicts))
		for i, c := range conflicts {
			if i == maxListedConflicts {
				fmt.Fprintf(&b, "... and %d more conflict(s)\n", len(conflicts)-maxListedConflicts)
				break
			}
			b.WriteString(c + "\n")
		}
		b.WriteString("Narrow the grant, or exempt one path with --bypass-protection PATH together with a grant for it.")
		return errors.New(b.String())
	}

	if err := r.checkNarrowerInsideBroader(); err != nil {
		return err
	}
	for _, g := range r.Grants {
		for _, root := range r.ProtectedRoots {
			if within(g.Path, root) || (!g.File && within(root, g.Path)) {
				return fmt.Errorf("Refusing to grant '%s' (source: %s) because it overlaps protected nono state root '%s'.", g.Path, g.Source, root)
			}
		}
	}

	for _, b := range r.Bypassed {
		covered := false
		for _, g := range r.Grants {
			if g.Source != SourceUser && g.Source != SourceProfile {
				continue
			}
			if within(g.Path, b) || (!g.File && within(b, g.Path)) {
				covered = true
				break
			}
		}
		if !covered {
			return fmt.Errorf("bypass_protection '%s' has no matching grant. Add a filesystem allow (--allow, --read, --write, or profile filesystem) for this path.", b)
		}
	}
	return nil
}

// denyPriority orders denies so the most sensitive come first in messages:
// credentials, then keychains, then everything else in their given order.
func denyPriority(ds []Deny) []Deny {
	rank := func(d Deny) int {
		switch {
		case d.Group == "deny_credentials":
			return 0
		case strings.HasPrefix(d.Group, "deny_keychains"):
			return 1
		}
		return 2
	}
	out := append([]Deny(nil), ds...)
	sort.SliceStable(out, func(i, j int) bool { return rank(out[i]) < rank(out[j]) })
	return out
}

// denyIndex tells whether any deny equals, contains or lies inside a path
// without comparing it with every deny: the default profile has about 150
// deny forms and 60 grants, and the pairwise scan was a fifth of a policy
// resolution. Paths are canonical (absolute, clean), as within expects.
type denyIndex struct {
	exact  map[string]struct{}
	sorted []string
}

func newDenyIndex(ds []Deny) denyIndex {
	x := denyIndex{exact: make(map[string]struct{}, len(ds)), sorted: make([]string, 0, len(ds))}
	for _, d := range ds {
		if _, dup := x.exact[d.Path]; !dup {
			x.exact[d.Path] = struct{}{}
			x.sorted = append(x.sorted, d.Path)
		}
	}
	sort.Strings(x.sorted)
	return x
}

// overlaps reports whether some deny d has within(p, d), or, when p is a
// directory grant, within(d, p): exactly the pairs Validate and
// conflictWith refuse.
func (x denyIndex) overlaps(p string, dir bool) bool {
	for q := p; ; {
		if _, ok := x.exact[q]; ok {
			return true
		}
		if q == "/" {
			break
		}
		if i := strings.LastIndexByte(q, '/'); i > 0 {
			q = q[:i]
		} else {
			q = "/"
		}
	}
	if !dir {
		return false
	}
	if p == "/" {
		return len(x.sorted) > 0
	}
	prefix := p + "/"
	i := sort.SearchStrings(x.sorted, prefix)
	return i < len(x.sorted) && strings.HasPrefix(x.sorted[i], prefix)
}

func (r *Resolved) denyEqual(g sandbox.Grant) (Deny, bool) {
	for _, d := range r.Denies {
		if d.Path == g.Path {
			return d, true
		}
	}
	return Deny{}, false
}

func denyLabel(d Deny) string {
	if d.Group == "" {
		return "profile filesystem.deny"
	}
	return "group " + d.Group
}

// checkNarrowerInsideBroader refuses a user or profile grant meant to keep
// a subtree read-only inside a directory grant that allows writing: Landlock
// grants add up, so "--read dir/vendor" inside "--allow dir" would silently
// stay writable. Only that combination says "keep this read-only"; a --read
// inside a write-only --write, or a --write inside a --read, just adds the
// access the other grant lacks.
func (r *Resolved) checkNarrowerInsideBroader() error {
	intent := func(g sandbox.Grant) bool { return g.Source == SourceUser || g.Source == SourceProfile }
	socket := map[string]bool{} // grants implied by unix-socket flags
	for _, u := range r.UnixSockets {
		socket[u.Path] = true
	}
	for _, inner := range r.Grants {
		if !intent(inner) || socket[inner.Path] {
			continue
		}
		for _, outer := range r.Grants {
			if !intent(outer) || outer.File || outer.Path == inner.Path || !within(inner.Path, outer.Path) {
				continue
			}
			if outer.Access == sandbox.AccessReadWrite && inner.Access == sandbox.AccessRead {
				return fmt.Errorf("'%s' is granted %s access, but it is inside '%s', which is granted %s access: Landlock grants add up, so it would get %s access anyway. Remove the narrower grant, or grant the outer directory less",
					inner.Path, inner.Access.Word(), outer.Path, outer.Access.Word(), (inner.Access | outer.Access).Word())
			}
		}
	}
	return nil
}
