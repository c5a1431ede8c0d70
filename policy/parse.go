package policy

import (
	"bytes"
	"encoding/json"
	"fmt"
	"regexp"
	"sort"
	"strings"
	"sync"

	"github.com/tailscale/hujson"
)

const (
	maxProfileSize    = 1 << 20
	maxProfileNesting = 64
)

var envNameRE = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`) })

// ParseProfile parses one JSONC profile document. name labels errors (file
// path or profile name). Unknown keys, wrong types, duplicate keys, unknown
// groups and forbidden values are errors that name the JSON path.
func ParseProfile(name string, data []byte) (*Profile, error) {
	p, err := parseProfile(data)
	if err != nil {
		return nil, fmt.Errorf("profile %s: %w", name, err)
	}
	return p, nil
}

// Issue is one problem in a profile document, located by its JSON path
// ("$" is the document root).
type Issue struct {
	Path    string `json:"path"`
	Message string `json:"message"`
}

// ProfileError is a profile document that failed validation. It holds every
// problem found, in document order; Error reports the first.
type ProfileError struct{ Issues []Issue }

func (e *ProfileError) Error() string {
	msg := e.Issues[0].Message
	if n := len(e.Issues) - 1; n > 0 {
		msg += fmt.Sprintf(" (and %d more problem(s); run 'nono profile validate' to list them)", n)
	}
	return msg
}

func parseProfile(data []byte) (*Profile, error) {
	if len(data) > maxProfileSize {
		return nil, &ProfileError{[]Issue{{"$", fmt.Sprintf("file is larger than %d bytes", maxProfileSize)}}}
	}
	if d := nesting(data); d > maxProfileNesting {
		return nil, &ProfileError{[]Issue{{"$", fmt.Sprintf("nesting deeper than %d levels", maxProfileNesting)}}}
	}
	v, err := hujson.Parse(data)
	if err != nil {
		return nil, &ProfileError{[]Issue{{"$", fmt.Sprintf("invalid JSONC: %v", err)}}}
	}
	if err := validateValue(profileSchema(), v, "$"); err != nil {
		return nil, err
	}
	v.Standardize()
	dec := json.NewDecoder(bytes.NewReader(v.Pack()))
	dec.DisallowUnknownFields()
	var p Profile
	if err := dec.Decode(&p); err != nil {
		// The schema check above should make this unreachable.
		return nil, &ProfileError{[]Issue{{"$", fmt.Sprintf("decode: %v", err)}}}
	}
	if issues := checkProfile(&p); len(issues) > 0 {
		return nil, &ProfileError{Issues: issues}
	}
	return &p, nil
}

// checkProfile enforces rules the schema cannot express and returns every
// violation.
func checkProfile(p *Profile) []Issue {
	var c issueCollector
	for i, e := range p.Extends {
		if strings.TrimSpace(e) == "" {
			path := fmt.Sprintf("$.extends[%d]", i)
			c.add(path, "empty value at %s", path)
		}
	}
	for _, list := range []struct {
		name  string
		items []string
	}{{"include", p.Groups.Include}, {"exclude", p.Groups.Exclude}} {
		for i, g := range list.items {
			if _, ok := LookupGroup(g); !ok {
				path := fmt.Sprintf("$.groups.%s[%d]", list.name, i)
				c.add(path, "unknown group %q at %s (see `nono profile groups`)", g, path)
			}
		}
	}
	if err := checkExclusions(p.Groups.Exclude); err != nil {
		c.add("$.groups.exclude", "%v", err)
	}
	for _, fl := range p.Filesystem.fields() {
		field, entries := fl.name, fl.entries
		for i, e := range entries {
			path := fmt.Sprintf("$.filesystem.%s[%d]", field, i)
			if strings.TrimSpace(e.Path) == "" {
				c.add(path, "empty path at %s", path)
			}
			if strings.ContainsRune(e.Path, 0) {
				c.add(path, "NUL byte in path at %s", path)
			}
		}
	}
	for _, k := range sortedKeys(p.Environment.SetVars) {
		path := childPath("$.environment.set_vars", k)
		if !envNameRE().MatchString(k) {
			c.add(path, "invalid variable name %q at $.environment.set_vars", k)
		} else if k == "PATH" || strings.HasPrefix(k, "NONO_") {
			c.add(path, "environment.set_vars may not set %q: PATH and NONO_* are managed by nono", k)
		}
	}
	for _, ref := range sortedKeys(p.EnvCredentials) {
		v := p.EnvCredentials[ref]
		if ref == "" {
			c.add("$.env_credentials", "empty credential reference at $.env_credentials")
			continue
		}
		if !envNameRE().MatchString(v) {
			path := childPath("$.env_credentials", ref)
			c.add(path, "invalid environment variable name %q at %s", v, path)
		}
	}
	for _, name := range sortedKeys(p.Network.CustomCredentials) {
		cc := p.Network.CustomCredentials[name]
		path := childPath("$.network.custom_credentials", name)
		if name == "" {
			c.add("$.network.custom_credentials", "empty credential name at $.network.custom_credentials")
			continue
		}
		if cc.Upstream == "" {
			c.add(path+".upstream", "empty upstream at %s.upstream", path)
		}
		if cc.EnvVar != "" && !envNameRE().MatchString(cc.EnvVar) {
			c.add(path+".env_var", "invalid environment variable name %q at %s.env_var", cc.EnvVar, path)
		}
	}
	if p.Network.NetworkProfile.Set && !p.Network.NetworkProfile.Null && p.Network.NetworkProfile.Value == "" {
		c.add("$.network.network_profile", "empty network profile at $.network.network_profile (use null to clear)")
	}
	return c.issues
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// checkExclusions refuses to exclude required groups.
func checkExclusions(exclude []string) error {
	var bad []string
	for _, g := range exclude {
		if gr, ok := LookupGroup(g); ok && gr.Required {
			bad = append(bad, "'"+g+"'")
		}
	}
	if len(bad) > 0 {
		return fmt.Errorf("Cannot exclude required groups: %s", strings.Join(bad, ", "))
	}
	return nil
}

type fsField struct {
	name    string
	entries []PathEntry
}

// fields returns every path list of the section with its JSON key, in schema order.
func (f *Filesystem) fields() []fsField {
	return []fsField{
		{"allow", f.Allow}, {"read", f.Read}, {"write", f.Write},
		{"allow_file", f.AllowFile}, {"read_file", f.ReadFile}, {"write_file", f.WriteFile},
		{"unix_socket", f.UnixSocket}, {"unix_socket_bind", f.UnixSocketBind},
		{"unix_socket_dir", f.UnixSocketDir}, {"unix_socket_dir_bind", f.UnixSocketDirBind},
		{"deny", f.Deny}, {"bypass_protection", f.BypassProtection},
	}
}

// nesting returns the maximum bracket depth of a JSONC document, ignoring
// strings and comments, so that pathological input is refused before the
// recursive parser sees it.
func nesting(b []byte) int {
	depth, maxDepth := 0, 0
	for i := 0; i < len(b); i++ {
		switch c := b[i]; {
		case c == '"':
			for i++; i < len(b) && b[i] != '"'; i++ {
				if b[i] == '\\' {
					i++
				}
			}
		case c == '/' && i+1 < len(b) && b[i+1] == '/':
			for i < len(b) && b[i] != '\n' {
				i++
			}
		case c == '/' && i+1 < len(b) && b[i+1] == '*':
			end := bytes.Index(b[i+2:], []byte("*/"))
			if end < 0 {
				return maxDepth
			}
			i += end + 3
		case c == '{' || c == '[':
			depth++
			maxDepth = max(maxDepth, depth)
		case c == '}' || c == ']':
			depth--
		}
	}
	return maxDepth
}
