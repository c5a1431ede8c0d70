package policy

import (
	_ "embed"
	"runtime"
	"sort"
)

//go:generate go test -run ^TestBuiltinGenerated$ -update-generated .

//go:embed data/groups.json
var groupsJSON []byte

// Group is one embedded policy group.
type Group struct {
	Name        string     `json:"-"`
	Description string     `json:"description"`
	Platform    string     `json:"platform,omitempty"` // "" (all), "linux" or "macos"
	Required    bool       `json:"required,omitempty"` // cannot be excluded
	Allow       GroupAllow `json:"allow,omitzero"`
	Deny        GroupDeny  `json:"deny,omitzero"`
}

// GroupAllow lists grants by access.
type GroupAllow struct {
	Read      []PathEntry `json:"read,omitempty"`
	Write     []PathEntry `json:"write,omitempty"`
	ReadWrite []PathEntry `json:"readwrite,omitempty"`
}

// GroupDeny lists what a group protects.
type GroupDeny struct {
	Access []PathEntry `json:"access,omitempty"`
	// Unlink and UnlinkOverrideForUserWritable only take effect on macOS
	// (Seatbelt file-write-unlink). On Linux deletion is part of the write
	// right on the parent directory, so they are recorded and ignored.
	Unlink                        bool     `json:"unlink,omitempty"`
	UnlinkOverrideForUserWritable bool     `json:"unlink_override_for_user_writable,omitempty"`
	Commands                      []string `json:"commands,omitempty"`
}

// AppliesTo reports whether the group is active on goos ("linux", "darwin").
func (g Group) AppliesTo(goos string) bool {
	switch g.Platform {
	case "":
		return true
	case "macos":
		return goos == "darwin"
	default:
		return g.Platform == goos
	}
}

// generatedGroups (builtin_gen.go) is data/groups.json, decoded at build
// time and sorted by name; TestBuiltinGenerated keeps the two identical.

// Groups returns every embedded group, for all platforms, sorted by name.
func Groups() []Group {
	return append([]Group(nil), generatedGroups...)
}

// LookupGroup returns the named group.
func LookupGroup(name string) (Group, bool) {
	i := sort.Search(len(generatedGroups), func(i int) bool { return generatedGroups[i].Name >= name })
	if i < len(generatedGroups) && generatedGroups[i].Name == name {
		return generatedGroups[i], true
	}
	return Group{}, false
}

// requiredGroups returns the required groups active on this platform.
func requiredGroups() []string {
	var out []string
	for _, g := range generatedGroups {
		if g.Required && g.AppliesTo(runtime.GOOS) {
			out = append(out, g.Name) // sorted, as generatedGroups is
		}
	}
	return out
}
