package policy

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
)

// Profile sources reported by ListProfiles and ShowProfile.
const (
	ProfileSourceBuiltin  = "built-in"
	ProfileSourceUser     = "user"
	ProfileSourceOverride = "user (overrides built-in)"
	ProfileSourceFile     = "file"
)

// ProfileInfo is one entry of `nono profile list`.
type ProfileInfo struct {
	Name        string   `json:"name"`
	Source      string   `json:"source"`
	Description string   `json:"description"`
	Extends     []string `json:"extends"`
	Path        string   `json:"-"` // file of a user profile
	Error       string   `json:"error,omitempty"`
}

// ListProfiles returns the built-in profiles, then the user profiles in
// $XDG_CONFIG_HOME/nono/profiles, each group sorted by name. A user profile
// that does not parse is listed with Error set. A user profile named like a
// built-in shadows it; the built-in is still listed.
func ListProfiles(x Expander) ([]ProfileInfo, error) {
	var out []ProfileInfo
	for _, n := range BuiltinProfileNames() {
		p, err := BuiltinProfile(n)
		if err != nil {
			return nil, err
		}
		out = append(out, ProfileInfo{Name: n, Source: ProfileSourceBuiltin, Description: p.Meta.Description, Extends: nonNil(p.Extends)})
	}
	dir, err := UserProfileDir(x)
	if err != nil {
		return nil, fmt.Errorf("locating user profiles: %w", err)
	}
	entries, err := os.ReadDir(dir)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("reading %s: %w", dir, err)
	}
	seen := map[string]bool{}
	var user []ProfileInfo
	for _, ext := range []string{".jsonc", ".json"} { // the loader's order: .jsonc wins
		for _, e := range entries {
			name, ok := strings.CutSuffix(e.Name(), ext)
			if !ok || !ValidProfileName(name) || seen[name] || e.IsDir() {
				continue
			}
			seen[name] = true
			info := ProfileInfo{Name: name, Source: ProfileSourceUser, Path: filepath.Join(dir, e.Name()), Extends: []string{}}
			if _, builtin := builtins()[name]; builtin {
				info.Source = ProfileSourceOverride
			}
			if doc, err := readProfileDoc(info.Path); err != nil {
				info.Error = err.Error()
			} else {
				info.Description, info.Extends = doc.Meta.Description, nonNil(doc.Extends)
			}
			user = append(user, info)
		}
	}
	sort.Slice(user, func(i, j int) bool { return user[i].Name < user[j].Name })
	return append(out, user...), nil
}

// readProfileDoc reads and parses one profile file (not merged).
func readProfileDoc(path string) (*Profile, error) {
	data, err := readLimited(path)
	if err != nil {
		return nil, err
	}
	return ParseProfile(path, data)
}

// locateProfile reports where ref resolves: its source, its file (user or
// file profiles) and its raw document.
func locateProfile(ref string, x Expander, cwd string) (source, path string, doc *Profile, err error) {
	l := &profileLoader{x: x, cwd: cwd, memo: map[string]*Profile{}}
	src, err := l.locate(ref, nil)
	if err != nil {
		return "", "", nil, err
	}
	switch {
	case src.builtin:
		return ProfileSourceBuiltin, "", src.doc, nil
	case src.name == "":
		return ProfileSourceFile, strings.TrimPrefix(src.key, "file:"), src.doc, nil
	}
	source = ProfileSourceUser
	if _, builtin := builtins()[src.name]; builtin {
		source = ProfileSourceOverride
	}
	return source, strings.TrimPrefix(src.key, "file:"), src.doc, nil
}

// ExpandedPath is a path as written and as expanded on this machine.
type ExpandedPath struct {
	Raw      string `json:"raw"`
	Expanded string `json:"expanded,omitempty"`
	Error    string `json:"error,omitempty"` // expansion failed
}

func expandEntry(x Expander, raw string) ExpandedPath {
	abs, err := x.ExpandPath(raw)
	if err != nil {
		return ExpandedPath{Raw: raw, Error: err.Error()}
	}
	return ExpandedPath{Raw: raw, Expanded: abs}
}

// ProfileView is a fully merged profile as `nono profile show` presents it:
// only entries that apply on this platform, paths expanded.
type ProfileView struct {
	Name        string   `json:"name"`
	Source      string   `json:"source"`
	Path        string   `json:"path,omitempty"`
	Description string   `json:"description"`
	Extends     []string `json:"extends"`
	Groups      struct {
		Active  []string `json:"active"` // implicit default groups + include - exclude, this platform
		Include []string `json:"include"`
		Exclude []string `json:"exclude"`
	} `json:"groups"`
	Filesystem  map[string][]ExpandedPath `json:"filesystem"`
	Network     NetworkView               `json:"network"`
	Workdir     string                    `json:"workdir"`
	Environment EnvironmentView           `json:"environment"`
	Security    SecurityView              `json:"security"`
	Commands    CommandsView              `json:"commands"`
	Rollback    RollbackView              `json:"rollback"`
	AllowGPU    bool                      `json:"allow_gpu"`
	// EnvCredentials lists the environment variables that receive secrets
	// (values are references, not secrets, but only the names are shown).
	EnvCredentials []string `json:"env_credentials"`
}

// NetworkView is the network section of a ProfileView.
type NetworkView struct {
	Mode              string            `json:"mode"` // allowed | blocked | proxy
	Block             bool              `json:"block"`
	NetworkProfile    string            `json:"network_profile,omitempty"`
	AllowDomain       []string          `json:"allow_domain"`
	DenyDomain        []string          `json:"deny_domain"`
	Credentials       []string          `json:"credentials"`
	CustomCredentials map[string]string `json:"custom_credentials"` // name -> upstream
	OpenPort          []uint16          `json:"open_port"`
	ListenPort        []uint16          `json:"listen_port"`
	UpstreamProxy     string            `json:"upstream_proxy,omitempty"`
	UpstreamBypass    []string          `json:"upstream_bypass"`
}

// EnvironmentView is the environment section of a ProfileView.
type EnvironmentView struct {
	AllowVars []string          `json:"allow_vars"` // null: every variable passes
	DenyVars  []string          `json:"deny_vars"`
	SetVars   map[string]string `json:"set_vars"`
}

// CommandsView is the deprecated startup command lists.
type CommandsView struct {
	Allow []string `json:"allow"`
	Deny  []string `json:"deny"`
}

// RollbackView is the rollback exclusions.
type RollbackView struct {
	ExcludePatterns []string `json:"exclude_patterns"`
	ExcludeGlobs    []string `json:"exclude_globs"`
}

// SecurityView holds the effective isolation settings.
type SecurityView struct {
	SignalMode          string `json:"signal_mode"`
	IPCMode             string `json:"ipc_mode"`
	CapabilityElevation bool   `json:"capability_elevation"`
}

func nonNilT[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

// ShowProfile locates ref (name or file), merges its extends chain and
// returns the view of `nono profile show`. x supplies $HOME, $WORKDIR and
// the other variables.
func ShowProfile(ref string, x Expander, cwd string) (*ProfileView, error) {
	if ref == "" {
		ref = "default"
	}
	source, path, _, err := locateProfile(ref, x, cwd)
	if err != nil {
		return nil, err
	}
	p, name, err := LoadProfile(ref, x, cwd)
	if err != nil {
		return nil, err
	}
	active, err := activeGroups(p)
	if err != nil {
		return nil, fmt.Errorf("profile %s: %w", name, err)
	}
	v := &ProfileView{Name: name, Source: source, Path: path, Description: p.Meta.Description, Extends: nonNil(p.Extends)}
	v.Groups.Active, v.Groups.Include, v.Groups.Exclude = nonNil(active), nonNil(p.Groups.Include), nonNil(p.Groups.Exclude)
	v.Filesystem = map[string][]ExpandedPath{}
	for _, f := range p.Filesystem.fields() {
		for _, e := range f.entries {
			if e.When.Matches(runtime.GOOS) {
				v.Filesystem[f.name] = append(v.Filesystem[f.name], expandEntry(x, e.Path))
			}
		}
	}
	n := p.Network
	r := &Resolved{Profile: p}
	r.copyProfileFields()
	mode := NetOpen
	if r.NetworkBlock {
		mode = NetBlocked
	} else if r.NetworkProfile != "" || len(r.AllowDomains) > 0 {
		mode = NetFiltered
	}
	v.Network = NetworkView{
		Mode: mode.String(), Block: r.NetworkBlock, NetworkProfile: r.NetworkProfile,
		AllowDomain: nonNil(n.AllowDomain), DenyDomain: nonNil(n.DenyDomain), Credentials: nonNil(n.Credentials),
		CustomCredentials: map[string]string{}, OpenPort: nonNilT(n.OpenPort), ListenPort: nonNilT(n.ListenPort),
		UpstreamProxy: n.UpstreamProxy, UpstreamBypass: nonNil(n.UpstreamBypass),
	}
	for k, c := range n.CustomCredentials {
		v.Network.CustomCredentials[k] = c.Upstream
	}
	v.Workdir = p.Workdir.Access
	if v.Workdir == "" {
		v.Workdir = "none"
	}
	v.Environment = EnvironmentView{AllowVars: p.Environment.AllowVars, DenyVars: nonNil(p.Environment.DenyVars), SetVars: p.Environment.SetVars}
	if v.Environment.SetVars == nil {
		v.Environment.SetVars = map[string]string{}
	}
	v.Security = SecurityView{SignalMode: r.SignalMode, IPCMode: r.IPCMode, CapabilityElevation: r.CapabilityElevation}
	v.Commands = CommandsView{Allow: nonNil(p.Commands.Allow), Deny: nonNil(p.Commands.Deny)}
	v.Rollback = RollbackView{ExcludePatterns: nonNil(p.Rollback.ExcludePatterns), ExcludeGlobs: nonNil(p.Rollback.ExcludeGlobs)}
	v.AllowGPU = p.AllowGPU != nil && *p.AllowGPU
	v.EnvCredentials = []string{}
	for _, ref := range sortedKeys(p.EnvCredentials) {
		v.EnvCredentials = append(v.EnvCredentials, p.EnvCredentials[ref])
	}
	sort.Strings(v.EnvCredentials)
	return v, nil
}

// DiffSection lists what the second profile adds to and removes from the first.
type DiffSection struct {
	Added   []string `json:"added"`
	Removed []string `json:"removed"`
}

// DiffChange is a single-valued setting that differs.
type DiffChange struct{ Key, From, To string }

// scalarKeys are the single-valued settings, shown as changes by Changes.
var scalarKeys = map[string]bool{
	"mode": true, "block": true, "network_profile": true, "upstream_proxy": true, "access": true,
	"signal_mode": true, "ipc_mode": true, "capability_elevation": true, "allow_gpu": true,
}

// Changes splits a section into single-valued changes and plain additions
// and removals, for human output.
func (d DiffSection) Changes() (changed []DiffChange, added, removed []string) {
	from := map[string]string{}
	for _, r := range d.Removed {
		if k, v, ok := strings.Cut(r, ": "); ok && scalarKeys[k] {
			from[k] = v
			continue
		}
		removed = append(removed, r)
	}
	for _, a := range d.Added {
		if k, v, ok := strings.Cut(a, ": "); ok && scalarKeys[k] {
			old, had := from[k]
			if !had {
				old = "(unset)"
			}
			delete(from, k)
			changed = append(changed, DiffChange{k, old, v})
			continue
		}
		added = append(added, a)
	}
	for _, k := range sortedKeys(from) {
		changed = append(changed, DiffChange{k, from[k], "(unset)"})
	}
	return changed, added, removed
}

// flatten turns a view into section -> "key: value" items (raw paths).
func (v *ProfileView) flatten() map[string][]string {
	m := map[string][]string{}
	add := func(section, key string, vals ...string) {
		for _, s := range vals {
			m[section] = append(m[section], key+": "+s)
		}
	}
	m["groups"] = append([]string(nil), v.Groups.Active...)
	for _, f := range (&Filesystem{}).fields() {
		for _, e := range v.Filesystem[f.name] {
			add("filesystem", f.name, e.Raw)
		}
	}
	n := v.Network
	add("network", "mode", n.Mode)
	add("network", "block", fmt.Sprint(n.Block))
	if n.NetworkProfile != "" {
		add("network", "network_profile", n.NetworkProfile)
	}
	add("network", "allow_domain", n.AllowDomain...)
	add("network", "deny_domain", n.DenyDomain...)
	add("network", "credentials", n.Credentials...)
	for _, k := range sortedKeys(n.CustomCredentials) {
		add("network", "custom_credentials", k+" -> "+n.CustomCredentials[k])
	}
	for _, p := range n.OpenPort {
		add("network", "open_port", fmt.Sprint(p))
	}
	for _, p := range n.ListenPort {
		add("network", "listen_port", fmt.Sprint(p))
	}
	if n.UpstreamProxy != "" {
		add("network", "upstream_proxy", n.UpstreamProxy)
	}
	add("network", "upstream_bypass", n.UpstreamBypass...)
	add("workdir", "access", v.Workdir)
	if v.Environment.AllowVars != nil {
		add("environment", "allow_vars", v.Environment.AllowVars...)
	}
	add("environment", "deny_vars", v.Environment.DenyVars...)
	for _, k := range sortedKeys(v.Environment.SetVars) {
		add("environment", "set_vars", k+"="+v.Environment.SetVars[k])
	}
	add("security", "signal_mode", v.Security.SignalMode)
	add("security", "ipc_mode", v.Security.IPCMode)
	add("security", "capability_elevation", fmt.Sprint(v.Security.CapabilityElevation))
	add("security", "allow_gpu", fmt.Sprint(v.AllowGPU))
	add("commands", "allow", v.Commands.Allow...)
	add("commands", "deny", v.Commands.Deny...)
	add("rollback", "exclude_patterns", v.Rollback.ExcludePatterns...)
	add("rollback", "exclude_globs", v.Rollback.ExcludeGlobs...)
	add("env_credentials", "env_var", v.EnvCredentials...)
	return m
}

// DiffSections are the sections of a profile diff, in display order.
var DiffSections = []string{"groups", "filesystem", "network", "workdir", "environment", "security", "commands", "rollback", "env_credentials"}

// DiffProfiles compares two views and returns, per section with a
// difference, what b adds to a and what it removes.
func DiffProfiles(a, b *ProfileView) map[string]DiffSection {
	fa, fb := a.flatten(), b.flatten()
	out := map[string]DiffSection{}
	for _, s := range DiffSections {
		d := DiffSection{Added: minus(fb[s], fa[s]), Removed: minus(fa[s], fb[s])}
		if len(d.Added) > 0 || len(d.Removed) > 0 {
			out[s] = d
		}
	}
	return out
}

// minus returns the items of a that are not in b, in a's order.
func minus(a, b []string) []string {
	in := map[string]bool{}
	for _, s := range b {
		in[s] = true
	}
	out := []string{}
	for _, s := range a {
		if !in[s] {
			out = append(out, s)
		}
	}
	return out
}

// ActiveGroups returns the groups a merged profile applies on this
// platform: required groups, the default profile's groups and the profile's
// includes, minus its excludes, sorted.
func ActiveGroups(p *Profile) ([]string, error) { return activeGroups(p) }

// GroupSummary is one entry of `nono profile groups`.
type GroupSummary struct {
	Name        string `json:"name"`
	Description string `json:"description"`
	Platform    string `json:"platform"` // cross-platform | linux | macos
	Required    bool   `json:"required"`
	Allow       int    `json:"allow"` // number of allow entries
	Deny        int    `json:"deny"`  // number of deny entries (paths and commands)
}

func groupPlatform(g Group) string {
	if g.Platform == "" {
		return "cross-platform"
	}
	return g.Platform
}

// ListGroups summarises the embedded groups; allPlatforms includes groups
// for other operating systems.
func ListGroups(allPlatforms bool) []GroupSummary {
	var out []GroupSummary
	for _, g := range Groups() {
		if !allPlatforms && !g.AppliesTo(runtime.GOOS) {
			continue
		}
		out = append(out, GroupSummary{
			Name: g.Name, Description: g.Description, Platform: groupPlatform(g), Required: g.Required,
			Allow: len(g.Allow.Read) + len(g.Allow.Write) + len(g.Allow.ReadWrite),
			Deny:  len(g.Deny.Access) + len(g.Deny.Commands),
		})
	}
	return out
}

// GroupDetail is `nono profile groups NAME`.
type GroupDetail struct {
	GroupSummary
	AllowRead      []ExpandedPath `json:"allow_read"`
	AllowWrite     []ExpandedPath `json:"allow_write"`
	AllowReadWrite []ExpandedPath `json:"allow_readwrite"`
	DenyAccess     []ExpandedPath `json:"deny_access"`
	DenyCommands   []string       `json:"deny_commands"`
	DenyUnlink     bool           `json:"deny_unlink"`      // macOS only
	UsedBy         []string       `json:"used_by_profiles"` // built-in profiles that apply it (directly or through default)
}

// ShowGroup returns one group with its paths expanded (entries for other
// platforms are left out).
func ShowGroup(name string, x Expander) (*GroupDetail, error) {
	g, ok := LookupGroup(name)
	if !ok {
		var names []string
		for _, g := range Groups() {
			names = append(names, g.Name)
		}
		return nil, fmt.Errorf("unknown group %q; groups: %s", name, strings.Join(names, ", "))
	}
	exp := func(es []PathEntry) []ExpandedPath {
		out := []ExpandedPath{}
		for _, e := range es {
			if e.When.Matches(runtime.GOOS) || !g.AppliesTo(runtime.GOOS) {
				out = append(out, expandEntry(x, e.Path))
			}
		}
		return out
	}
	d := &GroupDetail{
		GroupSummary: GroupSummary{Name: g.Name, Description: g.Description, Platform: groupPlatform(g), Required: g.Required,
			Allow: len(g.Allow.Read) + len(g.Allow.Write) + len(g.Allow.ReadWrite), Deny: len(g.Deny.Access) + len(g.Deny.Commands)},
		AllowRead: exp(g.Allow.Read), AllowWrite: exp(g.Allow.Write), AllowReadWrite: exp(g.Allow.ReadWrite),
		DenyAccess: exp(g.Deny.Access), DenyCommands: nonNil(g.Deny.Commands), DenyUnlink: g.Deny.Unlink,
		UsedBy: []string{},
	}
	def, err := BuiltinProfile("default")
	if err != nil {
		return nil, err
	}
	for _, n := range BuiltinProfileNames() {
		p, err := BuiltinProfile(n)
		if err != nil {
			return nil, err
		}
		in := g.Required || contains(def.Groups.Include, name) || contains(p.Groups.Include, name)
		if in && !contains(p.Groups.Exclude, name) {
			d.UsedBy = append(d.UsedBy, n)
		}
	}
	return d, nil
}
