package policy

import (
	"bytes"
	"encoding/json"
	"fmt"
	"regexp"
	"strings"

	"github.com/tailscale/hujson"
)

const (
	maxProfileSize    = 1 << 20
	maxProfileNesting = 64
)

var envNameRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

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

func parseProfile(data []byte) (*Profile, error) {
	if len(data) > maxProfileSize {
		return nil, fmt.Errorf("file is larger than %d bytes", maxProfileSize)
	}
	if d := nesting(data); d > maxProfileNesting {
		return nil, fmt.Errorf("nesting deeper than %d levels", maxProfileNesting)
	}
	v, err := hujson.Parse(data)
	if err != nil {
		return nil, fmt.Errorf("invalid JSONC: %w", err)
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
		return nil, fmt.Errorf("decode: %w", err)
	}
	if err := checkProfile(&p); err != nil {
		return nil, err
	}
	return &p, nil
}

// checkProfile enforces rules the schema cannot express.
func checkProfile(p *Profile) error {
	for i, e := range p.Extends {
		if strings.TrimSpace(e) == "" {
			return fmt.Errorf("empty value at $.extends[%d]", i)
		}
	}
	for _, list := range []struct {
		name  string
		items []string
	}{{"include", p.Groups.Include}, {"exclude", p.Groups.Exclude}} {
		for i, g := range list.items {
			if _, ok := LookupGroup(g); !ok {
				return fmt.Errorf("unknown group %q at $.groups.%s[%d] (see `nono profile groups`)", g, list.name, i)
			}
		}
	}
	if err := checkExclusions(p.Groups.Exclude); err != nil {
		return err
	}
	for _, fl := range p.Filesystem.fields() {
		field, entries := fl.name, fl.entries
		for i, e := range entries {
			if strings.TrimSpace(e.Path) == "" {
				return fmt.Errorf("empty path at $.filesystem.%s[%d]", field, i)
			}
			if strings.ContainsRune(e.Path, 0) {
				return fmt.Errorf("NUL byte in path at $.filesystem.%s[%d]", field, i)
			}
		}
	}
	for k := range p.Environment.SetVars {
		if !envNameRE.MatchString(k) {
			return fmt.Errorf("invalid variable name %q at $.environment.set_vars", k)
		}
		if k == "PATH" || strings.HasPrefix(k, "NONO_") {
			return fmt.Errorf("environment.set_vars may not set %q: PATH and NONO_* are managed by nono", k)
		}
	}
	for ref, v := range p.EnvCredentials {
		if ref == "" {
			return fmt.Errorf("empty credential reference at $.env_credentials")
		}
		if !envNameRE.MatchString(v) {
			return fmt.Errorf("invalid environment variable name %q at %s", v, childPath("$.env_credentials", ref))
		}
	}
	for name, c := range p.Network.CustomCredentials {
		path := childPath("$.network.custom_credentials", name)
		if name == "" {
			return fmt.Errorf("empty credential name at $.network.custom_credentials")
		}
		if c.Upstream == "" {
			return fmt.Errorf("empty upstream at %s.upstream", path)
		}
		if c.EnvVar != "" && !envNameRE.MatchString(c.EnvVar) {
			return fmt.Errorf("invalid environment variable name %q at %s.env_var", c.EnvVar, path)
		}
	}
	if p.Network.NetworkProfile.Set && !p.Network.NetworkProfile.Null && p.Network.NetworkProfile.Value == "" {
		return fmt.Errorf("empty network profile at $.network.network_profile (use null to clear)")
	}
	return nil
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
