package netprofiles

import (
	_ "embed"
	"encoding/json"
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"
)

//go:embed network-profiles.json
var rawData []byte

type groupDef struct {
	Description string   `json:"description"`
	Hosts       []string `json:"hosts"`
	Suffixes    []string `json:"suffixes"`
}

type profileDef struct {
	Description string   `json:"description"`
	Groups      []string `json:"groups"`
}

type dataFile struct {
	Groups   map[string]groupDef   `json:"groups"`
	Profiles map[string]profileDef `json:"profiles"`
}

// data is parsed on first use (not at start-up: most nono runs never need
// it). The file is compiled into the binary, so a parse failure is a build
// defect; parse rejects it loudly (the tests run the same check).
var data = sync.OnceValue(func() dataFile { return mustParse(rawData) })

func mustParse(b []byte) dataFile {
	d, err := parse(b)
	if err != nil {
		panic(fmt.Sprintf("netprofiles: embedded network-profiles.json is invalid: %v", err))
	}
	return d
}

func parse(b []byte) (dataFile, error) {
	var d dataFile
	dec := json.NewDecoder(strings.NewReader(string(b)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&d); err != nil {
		return d, fmt.Errorf("decode: %w", err)
	}
	for name, g := range d.Groups {
		if len(g.Hosts)+len(g.Suffixes) == 0 {
			return d, fmt.Errorf("group %q has no hosts", name)
		}
		for _, s := range g.Suffixes {
			if s == "" || strings.HasPrefix(s, ".") || strings.Contains(s, "*") {
				return d, fmt.Errorf("group %q: suffix %q must be a bare domain such as example.com", name, s)
			}
		}
	}
	for name, p := range d.Profiles {
		if len(p.Groups) == 0 {
			return d, fmt.Errorf("profile %q has no groups", name)
		}
		for _, g := range p.Groups {
			if _, ok := d.Groups[g]; !ok {
				return d, fmt.Errorf("profile %q names unknown group %q", name, g)
			}
		}
	}
	return d, nil
}

// Names returns the built-in network profile names, sorted.
func Names() []string { return sortedKeys(data().Profiles) }

// GroupNames returns the built-in host group names, sorted.
func GroupNames() []string { return sortedKeys(data().Groups) }

// Description returns the one-line description of a profile or group.
func Description(name string) (string, bool) {
	if p, ok := data().Profiles[name]; ok {
		return p.Description, true
	}
	if g, ok := data().Groups[name]; ok {
		return g.Description, true
	}
	return "", false
}

// Groups returns the group names that make up a profile, in order.
func Groups(profile string) ([]string, error) {
	p, ok := data().Profiles[profile]
	if !ok {
		return nil, unknownProfile(profile)
	}
	return slices.Clone(p.Groups), nil
}

// Profile returns the allowlist entries of a network profile: every host of
// every group, suffix groups as "*.suffix", duplicates removed, in group
// order. An unknown name is an error that lists the valid names.
func Profile(name string) ([]string, error) {
	p, ok := data().Profiles[name]
	if !ok {
		return nil, unknownProfile(name)
	}
	return Expand(p.Groups), nil
}

// Group returns the entries of one host group (suffixes as "*.suffix").
func Group(name string) ([]string, bool) {
	g, ok := data().Groups[name]
	if !ok {
		return nil, false
	}
	return groupEntries(g), true
}

// Expand replaces every group name in entries by the group's entries and
// passes anything else through unchanged. Duplicates are removed; the first
// occurrence keeps its position.
func Expand(entries []string) []string {
	out := make([]string, 0, len(entries))
	seen := make(map[string]bool, len(entries))
	add := func(e string) {
		if !seen[e] {
			seen[e] = true
			out = append(out, e)
		}
	}
	for _, e := range entries {
		if g, ok := data().Groups[e]; ok {
			for _, h := range groupEntries(g) {
				add(h)
			}
			continue
		}
		add(e)
	}
	return out
}

func groupEntries(g groupDef) []string {
	out := make([]string, 0, len(g.Hosts)+len(g.Suffixes))
	out = append(out, g.Hosts...)
	for _, s := range g.Suffixes {
		out = append(out, "*."+s)
	}
	return out
}

func unknownProfile(name string) error {
	return fmt.Errorf("unknown network profile %q: valid profiles are %s", name, strings.Join(Names(), ", "))
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
