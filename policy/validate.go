package policy

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"

	"github.com/tailscale/hujson"

	"github.com/nono-sandbox/nono/netprofiles"
)

// ValidationReport is the result of `nono profile validate`.
type ValidationReport struct {
	File     string  `json:"file"` // the file checked, or "built-in:<name>"
	Valid    bool    `json:"valid"`
	Errors   []Issue `json:"errors"`
	Warnings []Issue `json:"warnings"`
}

func (r *ValidationReport) errorf(path, format string, args ...any) {
	r.Errors = append(r.Errors, Issue{Path: path, Message: fmt.Sprintf(format, args...)})
}

func (r *ValidationReport) warnf(path, format string, args ...any) {
	r.Warnings = append(r.Warnings, Issue{Path: path, Message: fmt.Sprintf(format, args...)})
}

// HostEntryCheck validates one network allow/deny entry (a host or
// "*.suffix"). Package policy must not import the gateway, so the CLI passes
// the gateway's own entry validation; nil skips the check.
type HostEntryCheck func(entry string) error

// ValidateProfile checks a profile file, or a profile name (user profile,
// else built-in), the way `nono run` would use it, and reports every problem
// with its JSON path:
//
//   - JSONC syntax, schema (unknown keys, types, enums), unknown or required
//     groups, forbidden values — all problems, not just the first;
//   - the extends chain loads (bases exist, no cycles, not too deep);
//   - variables in paths are supported (unset ones are warnings);
//   - the network profile exists; allow/deny entries pass checkHost;
//   - the profile resolves on this machine (deny overlaps, protected roots);
//     paths that do not exist here are warnings.
//
// x supplies the environment; cwd is the directory relative paths and
// $WORKDIR are taken from.
func ValidateProfile(ref string, x Expander, cwd string, checkHost HostEntryCheck) (rep ValidationReport) {
	rep = ValidationReport{File: ref, Errors: []Issue{}, Warnings: []Issue{}}
	defer func() { rep.Valid = len(rep.Errors) == 0 }()

	var data []byte
	if b, ok := builtins()[ref]; ok && !IsProfilePath(ref) && !userProfileExists(ref, x) {
		rep.File, data = "built-in:"+ref, b
	} else {
		path := ref
		if !IsProfilePath(ref) {
			if !ValidProfileName(ref) {
				rep.errorf("$", "invalid profile name %q: use letters, digits and '-', or give a file path", ref)
				return rep
			}
			_, p, _, err := locateProfile(ref, x, cwd)
			if err != nil {
				rep.errorf("$", "%v", err)
				return rep
			}
			path = p
		} else if !filepath.IsAbs(path) {
			path = filepath.Join(cwd, path)
		}
		rep.File = path
		b, err := readLimited(path)
		if err != nil {
			rep.errorf("$", "%v", err)
			return rep
		}
		data = b
	}

	doc, err := ParseProfile(rep.File, data)
	if err != nil {
		var pe *ProfileError
		if !errors.As(err, &pe) {
			rep.errorf("$", "%v", err)
			return rep
		}
		rep.Errors = append(rep.Errors, pe.Issues...)
		// Keep going on what can be decoded, so one run lists every problem.
		if doc = lenientDecode(data); doc == nil {
			return rep
		}
		for _, is := range checkProfile(doc) {
			if !slices.Contains(rep.Errors, is) {
				rep.Errors = append(rep.Errors, is)
			}
		}
	}

	for _, f := range doc.Filesystem.fields() {
		for i, e := range f.entries {
			path := fmt.Sprintf("$.filesystem.%s[%d]", f.name, i)
			abs, err := x.ExpandPath(e.Path)
			var ve *VarError
			switch {
			case errors.As(err, &ve) && ve.Unknown:
				rep.errorf(path, "%q: %v", e.Path, err)
			case err != nil:
				rep.warnf(path, "%q cannot be expanded here: %v", e.Path, err)
			case e.When.Matches(runtime.GOOS) && f.name != "deny" && f.name != "bypass_protection":
				if _, err := os.Lstat(abs); err != nil && !hasGlob(e.Path) {
					rep.warnf(path, "%s does not exist on this machine; it will be skipped", abs)
				}
			}
		}
	}
	builtin := rep.File == "built-in:"+ref
	l := &profileLoader{x: x, cwd: cwd, memo: map[string]*Profile{}}
	self := &profileSource{key: "file:" + rep.File, label: rep.File, dir: filepath.Dir(rep.File), builtin: builtin, doc: doc}
	if builtin {
		self = &profileSource{key: "builtin:" + ref, label: ref, name: ref, builtin: true, doc: doc}
	}
	l.stack = []*profileSource{self}
	for i, e := range doc.Extends {
		if strings.TrimSpace(e) == "" {
			continue // reported by checkProfile
		}
		base, err := l.locate(e, self)
		if err == nil {
			_, err = l.resolve(base, 1)
		}
		if err != nil {
			rep.errorf(fmt.Sprintf("$.extends[%d]", i), "extends %q: %v", e, err)
		}
	}
	if np := doc.Network.NetworkProfile; np.Set && !np.Null {
		if _, err := netprofiles.Profile(np.Value); err != nil {
			rep.errorf("$.network.network_profile", "%v", err)
		}
	}
	if checkHost != nil {
		for _, l := range []struct {
			field   string
			entries []string
		}{{"allow_domain", doc.Network.AllowDomain}, {"deny_domain", doc.Network.DenyDomain}} {
			for i, e := range l.entries {
				if _, group := netprofiles.Group(e); group {
					continue
				}
				if err := checkHost(e); err != nil {
					rep.errorf(fmt.Sprintf("$.network.%s[%d]", l.field, i), "%v", err)
				}
			}
		}
	}
	if len(rep.Errors) > 0 {
		return rep
	}

	loadRef := ref
	if !builtin {
		loadRef = rep.File
	}
	r, err := Resolve(Request{Profile: loadRef, Workdir: x.Workdir, Env: x.Env})
	if err != nil {
		rep.errorf("$", "does not resolve on this machine: %v", err)
		return rep
	}
	for _, w := range r.Warnings {
		if !strings.Contains(w, "does not exist") { // already reported with its JSON path
			rep.warnf("$", "%s", w)
		}
	}
	return rep
}

// lenientDecode decodes what it can of a document that failed the schema:
// unknown keys are ignored and mistyped values left empty. nil when the
// document is not even JSONC.
func lenientDecode(data []byte) *Profile {
	if len(data) > maxProfileSize || nesting(data) > maxProfileNesting {
		return nil
	}
	v, err := hujson.Parse(data)
	if err != nil {
		return nil
	}
	v.Standardize()
	var p Profile
	_ = json.Unmarshal(v.Pack(), &p) // type errors leave fields empty; that is the point
	return &p
}

func userProfileExists(name string, x Expander) bool {
	dir, err := UserProfileDir(x)
	if err != nil {
		return false
	}
	for _, ext := range []string{".jsonc", ".json"} {
		if _, err := os.Stat(filepath.Join(dir, name+ext)); err == nil {
			return true
		}
	}
	return false
}

func readLimited(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("reading profile: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("reading profile: %w", err)
	}
	if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("reading profile: %s is not a regular file", path)
	}
	b, err := io.ReadAll(io.LimitReader(f, maxProfileSize+1))
	if err != nil {
		return nil, fmt.Errorf("reading profile: %w", err)
	}
	return b, nil
}

func hasGlob(p string) bool { return strings.Contains(p, "*") }
