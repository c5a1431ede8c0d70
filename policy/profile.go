package policy

import (
	"bytes"
	"encoding/json"
	"fmt"
)

// Profile is one profile file, or the result of merging a chain of them.
// Struct tags drive both decoding and the generated JSON Schema (see Schema).
type Profile struct {
	Schema         string            `json:"$schema,omitempty" desc:"URL or path of the JSON Schema, for editors."`
	Meta           Meta              `json:"meta,omitzero" desc:"Descriptive metadata."`
	Extends        Extends           `json:"extends,omitzero" desc:"Base profile name(s) or file path(s), merged left to right before this profile."`
	Groups         GroupsSection     `json:"groups,omitzero" desc:"Policy groups to include or exclude."`
	Commands       CommandsSection   `json:"commands,omitzero" desc:"Deprecated startup-only command allow and deny lists."`
	Filesystem     Filesystem        `json:"filesystem,omitzero" desc:"Filesystem grants, denies and protection bypasses."`
	Network        Network           `json:"network,omitzero" desc:"Network mode, gateway allowlists and credentials."`
	EnvCredentials map[string]string `json:"env_credentials,omitempty" desc:"Secrets placed directly in the child environment: credential reference -> environment variable."`
	Environment    Environment       `json:"environment,omitzero" desc:"Child environment filtering."`
	Workdir        Workdir           `json:"workdir,omitzero" desc:"Access to the working directory."`
	Security       Security          `json:"security,omitzero" desc:"Process isolation settings."`
	Rollback       Rollback          `json:"rollback,omitzero" desc:"Rollback snapshot exclusions."`
	AllowGPU       *bool             `json:"allow_gpu,omitempty" desc:"Opt in to --allow-gpu for this profile."`
}

// Meta describes a profile.
type Meta struct {
	Name        string `json:"name,omitempty" desc:"Profile name."`
	Version     string `json:"version,omitempty" desc:"Profile version."`
	Description string `json:"description,omitempty" desc:"One-line description."`
	Author      string `json:"author,omitempty" desc:"Author."`
}

// GroupsSection selects policy groups. Required groups cannot be excluded.
type GroupsSection struct {
	Include []string `json:"include,omitempty" desc:"Groups to add."`
	Exclude []string `json:"exclude,omitempty" desc:"Groups to remove (wins over include; required groups cannot be excluded)."`
}

// CommandsSection is the deprecated startup-only command check.
type CommandsSection struct {
	Allow []string `json:"allow,omitempty" desc:"Commands exempted from the startup blocklist."`
	Deny  []string `json:"deny,omitempty" desc:"Commands added to the startup blocklist."`
}

// Filesystem lists path grants. Directory fields are recursive; *_file fields
// are single files. Relative paths are relative to $WORKDIR.
type Filesystem struct {
	Allow             []PathEntry `json:"allow,omitempty" desc:"Directories with read and write access."`
	Read              []PathEntry `json:"read,omitempty" desc:"Directories (or files) with read access."`
	Write             []PathEntry `json:"write,omitempty" desc:"Directories with write-only access."`
	AllowFile         []PathEntry `json:"allow_file,omitempty" desc:"Single files with read and write access."`
	ReadFile          []PathEntry `json:"read_file,omitempty" desc:"Single files with read access."`
	WriteFile         []PathEntry `json:"write_file,omitempty" desc:"Single files with write-only access."`
	UnixSocket        []PathEntry `json:"unix_socket,omitempty" desc:"AF_UNIX socket files the child may connect to."`
	UnixSocketBind    []PathEntry `json:"unix_socket_bind,omitempty" desc:"AF_UNIX socket paths the child may bind and connect."`
	UnixSocketDir     []PathEntry `json:"unix_socket_dir,omitempty" desc:"Directories whose direct child sockets the child may connect to."`
	UnixSocketDirBind []PathEntry `json:"unix_socket_dir_bind,omitempty" desc:"Directories whose direct child sockets the child may bind and connect."`
	Deny              []PathEntry `json:"deny,omitempty" desc:"Paths that are never granted."`
	BypassProtection  []PathEntry `json:"bypass_protection,omitempty" desc:"Deny-group paths exempted for this profile; still need a grant."`
}

// Network configures the child's network and the gateway.
type Network struct {
	Block             *bool                       `json:"block,omitempty" desc:"Block all network access."`
	NetworkProfile    OptString                   `json:"network_profile,omitzero" desc:"Network profile name (proxy mode); null clears an inherited one."`
	AllowDomain       []string                    `json:"allow_domain,omitempty" desc:"Extra hosts the gateway allows (exact or *.suffix)."`
	DenyDomain        []string                    `json:"deny_domain,omitempty" desc:"Hosts the gateway always refuses."`
	Credentials       []string                    `json:"credentials,omitempty" desc:"Credential services to inject through the gateway."`
	CustomCredentials map[string]CustomCredential `json:"custom_credentials,omitempty" desc:"Credential services defined by this profile."`
	OpenPort          []uint16                    `json:"open_port,omitempty" min:"1" desc:"Loopback TCP ports the child may connect to and bind."`
	ListenPort        []uint16                    `json:"listen_port,omitempty" min:"1" desc:"TCP ports the child may bind (proxy mode)."`
	UpstreamProxy     string                      `json:"upstream_proxy,omitempty" desc:"Upstream proxy host:port for gateway egress."`
	UpstreamBypass    []string                    `json:"upstream_bypass,omitempty" desc:"Hosts reached directly instead of through the upstream proxy."`
}

// CustomCredential is a profile-defined credential route through the gateway.
type CustomCredential struct {
	Upstream         string         `json:"upstream" required:"true" desc:"Upstream base URL (https)."`
	CredentialKey    string         `json:"credential_key,omitempty" desc:"Secret reference: keyring account, op://, file://, env:// ..."`
	InjectMode       string         `json:"inject_mode,omitempty" enum:"header,basic_auth,url_path,query_param" desc:"How the secret is injected."`
	InjectHeader     string         `json:"inject_header,omitempty" desc:"Header name for header mode."`
	CredentialFormat string         `json:"credential_format,omitempty" desc:"Header value format, e.g. \"Bearer {}\"."`
	PathPattern      string         `json:"path_pattern,omitempty" desc:"url_path mode: pattern to replace."`
	PathReplacement  string         `json:"path_replacement,omitempty" desc:"url_path mode: replacement."`
	QueryParamName   string         `json:"query_param_name,omitempty" desc:"query_param mode: parameter name."`
	EnvVar           string         `json:"env_var,omitempty" desc:"Child variable that receives the phantom token."`
	EndpointRules    []EndpointRule `json:"endpoint_rules,omitempty" desc:"Allowed method+path rules; any rule makes the service default-deny."`
	TLSCA            string         `json:"tls_ca,omitempty" desc:"PEM file of an extra CA trusted for this upstream."`
}

// EndpointRule is one METHOD + path glob.
type EndpointRule struct {
	Method string `json:"method" required:"true" desc:"HTTP method or *."`
	Path   string `json:"path" required:"true" desc:"Path glob: * is one segment, ** any number."`
}

// Environment filters the child's inherited environment.
type Environment struct {
	AllowVars []string          `json:"allow_vars,omitzero" pattern:"^([^*]+\\*?|\\*)$" desc:"Only these inherited variables pass (absent: all; []: none)."`
	DenyVars  []string          `json:"deny_vars,omitempty" pattern:"^([^*]+\\*?|\\*)$" desc:"Inherited variables removed (exact name or PREFIX*)."`
	SetVars   map[string]string `json:"set_vars,omitempty" desc:"Variables set in the child (not PATH or NONO_*)."`
}

// Workdir sets how the working directory is shared.
type Workdir struct {
	Access string `json:"access,omitempty" enum:"none,read,write,readwrite" desc:"Access to the working directory."`
}

// Security holds isolation modes. Nil means inherit.
type Security struct {
	SignalMode          *string `json:"signal_mode,omitempty" nullable:"true" enum:"isolated,allow_same_sandbox,allow_all" desc:"Which processes the child may signal."`
	IPCMode             *string `json:"ipc_mode,omitempty" nullable:"true" enum:"shared_memory_only,full" desc:"Abstract unix socket isolation (full disables it)."`
	CapabilityElevation *bool   `json:"capability_elevation,omitempty" nullable:"true" desc:"Allow runtime prompts to expand access."`
}

// Rollback lists snapshot exclusions.
type Rollback struct {
	ExcludePatterns []string `json:"exclude_patterns,omitempty" desc:"Path components (or substrings containing /) excluded from snapshots."`
	ExcludeGlobs    []string `json:"exclude_globs,omitempty" desc:"File-name globs excluded from snapshots."`
}

// Extends is a string or a list of strings.
type Extends []string

// UnmarshalJSON accepts "name" or ["a", "b"].
func (e *Extends) UnmarshalJSON(b []byte) error {
	var one string
	if err := json.Unmarshal(b, &one); err == nil {
		*e = Extends{one}
		return nil
	}
	var many []string
	if err := json.Unmarshal(b, &many); err != nil {
		return fmt.Errorf("extends must be a string or an array of strings")
	}
	*e = many
	return nil
}

// MarshalJSON writes a single base as a string.
func (e Extends) MarshalJSON() ([]byte, error) {
	if len(e) == 1 {
		return json.Marshal(e[0])
	}
	return json.Marshal([]string(e))
}

func (Extends) jsonSchema() *schemaNode {
	return anyOf(&schemaNode{Type: "string"}, &schemaNode{Type: "array", Items: &schemaNode{Type: "string"}})
}

// OptString is a string that may be absent (inherit), null (clear) or set.
type OptString struct {
	Set   bool // present in the file
	Null  bool // present as null
	Value string
}

// IsZero reports absence, for omitzero.
func (o OptString) IsZero() bool { return !o.Set }

// UnmarshalJSON records presence and null.
func (o *OptString) UnmarshalJSON(b []byte) error {
	if bytes.Equal(bytes.TrimSpace(b), []byte("null")) {
		*o = OptString{Set: true, Null: true}
		return nil
	}
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("must be a string or null")
	}
	*o = OptString{Set: true, Value: s}
	return nil
}

// MarshalJSON writes null or the string.
func (o OptString) MarshalJSON() ([]byte, error) {
	if o.Null || !o.Set {
		return []byte("null"), nil
	}
	return json.Marshal(o.Value)
}

func (OptString) jsonSchema() *schemaNode {
	return anyOf(&schemaNode{Type: "string"}, &schemaNode{Type: "null"})
}

// PathEntry is a path, optionally conditional on the platform:
// "path" or {"path": "...", "when": "linux" | "!macos" | ["linux", "macos"]}.
type PathEntry struct {
	Path string `json:"path" required:"true" desc:"Path; ~ and $VARS are expanded."`
	When When   `json:"when,omitzero" desc:"Platform predicate: linux, macos, !linux, !macos, or an array (any of)."`
}

// UnmarshalJSON accepts a string or an object.
func (p *PathEntry) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err == nil {
		*p = PathEntry{Path: s}
		return nil
	}
	type plain PathEntry
	var v plain
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&v); err != nil {
		return fmt.Errorf("path entry must be a string or {path, when}: %w", err)
	}
	*p = PathEntry(v)
	return nil
}

// MarshalJSON writes a plain string when there is no predicate.
func (p PathEntry) MarshalJSON() ([]byte, error) {
	if len(p.When) == 0 {
		return json.Marshal(p.Path)
	}
	type plain PathEntry
	return json.Marshal(plain(p))
}

func (PathEntry) jsonSchema() *schemaNode {
	obj := structSchema(reflectTypeOf[PathEntry]())
	return anyOf(&schemaNode{Type: "string"}, obj)
}

// When is a list of platform predicates; the entry applies if any matches.
type When []string

const whenPattern = `^!?(linux|macos)$`

// UnmarshalJSON accepts a string or an array of strings.
func (w *When) UnmarshalJSON(b []byte) error {
	var one string
	if err := json.Unmarshal(b, &one); err == nil {
		*w = When{one}
		return nil
	}
	var many []string
	if err := json.Unmarshal(b, &many); err != nil {
		return fmt.Errorf("when must be a string or an array of strings")
	}
	*w = many
	return nil
}

// MarshalJSON writes a single predicate as a string.
func (w When) MarshalJSON() ([]byte, error) {
	if len(w) == 1 {
		return json.Marshal(w[0])
	}
	return json.Marshal([]string(w))
}

func (When) jsonSchema() *schemaNode {
	s := &schemaNode{Type: "string", Pattern: whenPattern}
	return anyOf(s, &schemaNode{Type: "array", Items: &schemaNode{Type: "string", Pattern: whenPattern}, MinItems: ptr(1)})
}

// Matches reports whether the predicate holds on goos ("linux", "darwin").
func (w When) Matches(goos string) bool {
	if len(w) == 0 {
		return true
	}
	os := goos
	if os == "darwin" {
		os = "macos"
	}
	for _, p := range w {
		neg := len(p) > 0 && p[0] == '!'
		if neg {
			p = p[1:]
		}
		if (p == os) != neg {
			return true
		}
	}
	return false
}

func ptr[T any](v T) *T { return &v }
