package credentials

import (
	"fmt"
	"slices"
	"sort"
	"strings"
)

// Preset is a built-in credential service. Upstream is always an origin
// (no path), so endpoint rules name the upstream's real paths
// (openai:POST:/v1/chat/completions). BaseURLSuffix is appended to the
// child's <NAME>_BASE_URL where the service's SDKs expect the API root to
// include a version path (the openai SDKs default to https://api.openai.com/v1).
type Preset struct {
	Name          string
	Upstream      string
	InjectMode    InjectMode
	Header        string
	Format        string
	BaseURLVar    string
	BaseURLSuffix string
	// KeyVar is the SDK's conventional key variable; it holds the phantom.
	KeyVar string
	// DefaultRef is the keyring account: <name>_api_key with '-' → '_'.
	DefaultRef string
}

func preset(name, upstream, header, format, suffix, keyVar string) Preset {
	return Preset{
		Name: name, Upstream: upstream, InjectMode: InjectHeader,
		Header: header, Format: format,
		BaseURLVar: BaseURLVar(name), BaseURLSuffix: suffix,
		KeyVar: keyVar, DefaultRef: DefaultAccount(name),
	}
}

// presets is the table documented in doc.go.
var presets = []Preset{
	preset("openai", "https://api.openai.com", "Authorization", "Bearer {}", "/v1", "OPENAI_API_KEY"),
	preset("anthropic", "https://api.anthropic.com", "x-api-key", "{}", "", "ANTHROPIC_API_KEY"),
	preset("gemini", "https://generativelanguage.googleapis.com", "x-goog-api-key", "{}", "", "GEMINI_API_KEY"),
	preset("google-ai", "https://generativelanguage.googleapis.com", "x-goog-api-key", "{}", "", "GOOGLE_API_KEY"),
	preset("github", "https://api.github.com", "Authorization", "Bearer {}", "", "GITHUB_TOKEN"),
	preset("gitlab", "https://gitlab.com", "PRIVATE-TOKEN", "{}", "/api/v4", "GITLAB_TOKEN"),
}

// Presets returns the built-in services in a stable order.
func Presets() []Preset { return slices.Clone(presets) }

// LookupPreset finds a built-in service by name.
func LookupPreset(name string) (Preset, bool) {
	for _, p := range presets {
		if p.Name == name {
			return p, true
		}
	}
	return Preset{}, false
}

// Definition expresses the preset in the custom-credential schema.
func (p Preset) Definition() CustomCredential {
	return CustomCredential{
		Upstream:         p.Upstream,
		CredentialKey:    p.DefaultRef,
		InjectMode:       p.InjectMode,
		InjectHeader:     p.Header,
		CredentialFormat: p.Format,
		EnvVar:           p.KeyVar,
	}
}

// Route builds the preset's route.
func (p Preset) Route() (*Route, error) {
	r, err := NewRoute(p.Name, p.Definition())
	if err != nil {
		return nil, fmt.Errorf("preset %s: %w", p.Name, err)
	}
	r.BaseURLSuffix = p.BaseURLSuffix
	return r, nil
}

// ResolveRoute builds the route for a --credential name: a custom credential
// of that name wins over a preset.
func ResolveRoute(name string, custom map[string]CustomCredential) (*Route, error) {
	if def, ok := custom[name]; ok {
		return NewRoute(name, def)
	}
	if p, ok := LookupPreset(name); ok {
		return p.Route()
	}
	if err := ValidateName(name); err != nil {
		return nil, err
	}
	names := make([]string, 0, len(presets)+len(custom))
	for _, p := range presets {
		names = append(names, p.Name)
	}
	var customNames []string
	for n := range custom {
		customNames = append(customNames, n)
	}
	sort.Strings(customNames)
	names = append(names, customNames...)
	return nil, fmt.Errorf("unknown credential service %q: use one of %s, or define it under network.custom_credentials in a profile",
		name, strings.Join(names, ", "))
}
