package credentials

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"path"
	"path/filepath"
	"strconv"
	"strings"

	"golang.org/x/net/http/httpguts"
)

// InjectMode says where the real secret goes on the upstream request.
type InjectMode string

// The injection modes of the profile schema.
const (
	InjectHeader     InjectMode = "header"
	InjectBasicAuth  InjectMode = "basic_auth"
	InjectURLPath    InjectMode = "url_path"
	InjectQueryParam InjectMode = "query_param"
)

// Placeholder marks where the secret goes in credential_format,
// path_pattern and path_replacement.
const Placeholder = "{}"

// EndpointRule is one entry of endpoint_rules. The endpoints package owns the
// glob semantics; here it is only checked for shape.
type EndpointRule struct {
	Method string `json:"method"`
	Path   string `json:"path"`
}

// CustomCredential is one entry of the profile's
// network.custom_credentials.<name>.
type CustomCredential struct {
	// Upstream is https://host[:port][/base], or http:// for a loopback host.
	Upstream string `json:"upstream"`
	// CredentialKey is a secret ref (see ParseRef).
	CredentialKey string `json:"credential_key"`
	// InjectMode defaults to header.
	InjectMode InjectMode `json:"inject_mode,omitempty"`
	// InjectHeader (header mode) defaults to Authorization.
	InjectHeader string `json:"inject_header,omitempty"`
	// CredentialFormat (header mode) defaults to "Bearer {}" for
	// Authorization and "{}" otherwise.
	CredentialFormat string `json:"credential_format,omitempty"`
	// PathPattern (url_path mode) locates the phantom, e.g. "/bot{}/".
	PathPattern string `json:"path_pattern,omitempty"`
	// PathReplacement (url_path mode) defaults to PathPattern.
	PathReplacement string `json:"path_replacement,omitempty"`
	// QueryParamName (query_param mode), e.g. "key".
	QueryParamName string `json:"query_param_name,omitempty"`
	// EnvVar receives the phantom; defaults to <NAME>_API_KEY.
	EnvVar string `json:"env_var,omitempty"`
	// EndpointRules restrict the route; any rule makes it default-deny.
	EndpointRules []EndpointRule `json:"endpoint_rules,omitempty"`
	// TLSCA is an absolute path to PEM CA certificates trusted for this
	// upstream in addition to the system roots.
	TLSCA string `json:"tls_ca,omitempty"`
}

// FieldError is a validation failure of one field.
type FieldError struct {
	Field  string
	Reason string
}

func (e *FieldError) Error() string { return e.Field + ": " + e.Reason }

func fieldErr(field, format string, args ...any) error {
	return &FieldError{Field: field, Reason: fmt.Sprintf(format, args...)}
}

// Validate checks every field and returns all problems joined.
func (c CustomCredential) Validate() error {
	var errs []error
	if _, err := ValidateUpstream(c.Upstream); err != nil {
		errs = append(errs, fieldErr("upstream", "%v", err))
	}
	if c.CredentialKey == "" {
		errs = append(errs, fieldErr("credential_key", "required: a keyring account name or a keyring://, env://, file://, op:// or apple-password:// ref"))
	} else if _, err := ParseRef(c.CredentialKey); err != nil {
		errs = append(errs, fieldErr("credential_key", "%v", err))
	}
	mode := c.mode()
	notFor := func(field, val string, modes ...InjectMode) {
		if val == "" {
			return
		}
		for _, m := range modes {
			if m == mode {
				return
			}
		}
		errs = append(errs, fieldErr(field, "only valid with inject_mode %s, not %s", modes[0], mode))
	}
	notFor("inject_header", c.InjectHeader, InjectHeader)
	notFor("credential_format", c.CredentialFormat, InjectHeader)
	notFor("path_pattern", c.PathPattern, InjectURLPath)
	notFor("path_replacement", c.PathReplacement, InjectURLPath)
	notFor("query_param_name", c.QueryParamName, InjectQueryParam)
	switch mode {
	case InjectHeader:
		if err := validateInjectHeader(c.header()); err != nil {
			errs = append(errs, fieldErr("inject_header", "%v", err))
		}
		if err := validateTemplate(c.format()); err != nil {
			errs = append(errs, fieldErr("credential_format", "%v", err))
		} else if !httpguts.ValidHeaderFieldValue(strings.Replace(c.format(), Placeholder, "x", 1)) {
			errs = append(errs, fieldErr("credential_format", "not a valid HTTP header value"))
		}
	case InjectBasicAuth:
	case InjectURLPath:
		if c.PathPattern == "" {
			errs = append(errs, fieldErr("path_pattern", "required for inject_mode url_path, e.g. \"/bot{}/\""))
		} else if err := validatePathTemplate(c.PathPattern); err != nil {
			errs = append(errs, fieldErr("path_pattern", "%v", err))
		}
		if c.PathReplacement != "" {
			if err := validatePathTemplate(c.PathReplacement); err != nil {
				errs = append(errs, fieldErr("path_replacement", "%v", err))
			}
		}
	case InjectQueryParam:
		if !validQueryParamName(c.QueryParamName) {
			errs = append(errs, fieldErr("query_param_name", "required for inject_mode query_param; letters, digits, '_' and '-' only"))
		}
	default:
		errs = append(errs, fieldErr("inject_mode", "must be header, basic_auth, url_path or query_param"))
	}
	if c.EnvVar != "" {
		if err := ValidateEnvVarName(c.EnvVar); err != nil {
			errs = append(errs, fieldErr("env_var", "%v", err))
		}
	}
	for i, r := range c.EndpointRules {
		if err := r.Validate(); err != nil {
			errs = append(errs, fieldErr(fmt.Sprintf("endpoint_rules[%d]", i), "%v", err))
		}
	}
	if c.TLSCA != "" && (!filepath.IsAbs(c.TLSCA) || hasControl(c.TLSCA)) {
		errs = append(errs, fieldErr("tls_ca", "must be an absolute path to a PEM file"))
	}
	return errors.Join(errs...)
}

func (c CustomCredential) mode() InjectMode {
	if c.InjectMode == "" {
		return InjectHeader
	}
	return c.InjectMode
}

func (c CustomCredential) header() string {
	if c.InjectHeader == "" {
		return "Authorization"
	}
	return c.InjectHeader
}

func (c CustomCredential) format() string {
	switch {
	case c.CredentialFormat != "":
		return c.CredentialFormat
	case strings.EqualFold(c.header(), "Authorization"):
		return "Bearer " + Placeholder
	}
	return Placeholder
}

// Validate checks the rule's shape: a method token or "*", and an absolute
// path without whitespace or control characters.
func (r EndpointRule) Validate() error {
	if r.Method != "*" && (r.Method == "" || !isToken(r.Method)) {
		return errors.New("method must be an HTTP method such as GET, or *")
	}
	if !strings.HasPrefix(r.Path, "/") || strings.ContainsFunc(r.Path, func(c rune) bool { return c <= ' ' || c == 0x7f }) {
		return errors.New("path must start with '/' and contain no whitespace or control characters")
	}
	return nil
}

func isToken(s string) bool {
	for _, c := range []byte(s) {
		if !httpguts.IsTokenRune(rune(c)) {
			return false
		}
	}
	return s != ""
}

// reservedHeaders may not be injection targets: they frame the message,
// route it or belong to the proxy hop.
var reservedHeaders = map[string]bool{
	"Host": true, "Content-Length": true, "Transfer-Encoding": true, "Connection": true,
	"Keep-Alive": true, "Proxy-Connection": true, "Proxy-Authorization": true,
	"Proxy-Authenticate": true, "Te": true, "Trailer": true, "Upgrade": true,
	"Content-Type": true, "Expect": true,
}

func validateInjectHeader(h string) error {
	if !httpguts.ValidHeaderFieldName(h) {
		return errors.New("not a valid HTTP header name")
	}
	if ch := canonicalHeader(h); reservedHeaders[ch] {
		return fmt.Errorf("%s cannot carry a credential", ch)
	}
	return nil
}

// validateTemplate requires exactly one {} and no CR, LF or NUL.
func validateTemplate(t string) error {
	if strings.ContainsAny(t, "\r\n\x00") {
		return errors.New("must not contain CR, LF or NUL")
	}
	if n := strings.Count(t, Placeholder); n != 1 {
		return fmt.Errorf("must contain %s exactly once (found %d)", Placeholder, n)
	}
	return nil
}

func validatePathTemplate(t string) error {
	if err := validateTemplate(t); err != nil {
		return err
	}
	if !strings.HasPrefix(t, "/") {
		return errors.New("must start with '/'")
	}
	if strings.ContainsAny(t, "?#%\\ ") || hasControl(t) {
		return errors.New("must not contain '?', '#', '%', '\\', spaces or control characters")
	}
	return nil
}

func validQueryParamName(s string) bool {
	if s == "" || len(s) > 128 {
		return false
	}
	for _, c := range []byte(s) {
		if !isAlnum(c) && c != '_' && c != '-' {
			return false
		}
	}
	return true
}

// ValidateUpstream parses an upstream URL: https, or http only for a loopback
// host (localhost, 127.0.0.0/8, ::1); no userinfo, query or fragment; an
// optional clean base path. The result has no trailing '/'.
func ValidateUpstream(raw string) (*url.URL, error) {
	if raw == "" {
		return nil, errors.New("required, e.g. https://api.example.com")
	}
	if hasControl(raw) || strings.ContainsAny(raw, " \\") {
		return nil, errors.New("contains spaces, backslashes or control characters")
	}
	u, err := url.Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("not a URL: %w", err)
	}
	switch {
	case u.Scheme != "https" && u.Scheme != "http":
		return nil, fmt.Errorf("scheme must be https (http only for a loopback host), not %q", u.Scheme)
	case u.Opaque != "" || u.Host == "":
		return nil, errors.New("must be an absolute URL with a host")
	case u.User != nil:
		return nil, errors.New("must not contain user:password@; credentials come from credential_key")
	case u.RawQuery != "" || u.ForceQuery || u.Fragment != "" || u.RawFragment != "":
		return nil, errors.New("must not have a query or fragment")
	case u.RawPath != "":
		return nil, errors.New("base path must not contain percent-encoding")
	}
	host := u.Hostname()
	if host == "" || strings.HasSuffix(host, ".") {
		return nil, errors.New("host is empty or ends with '.'")
	}
	if p := u.Port(); p != "" {
		if n, err := strconv.Atoi(p); err != nil || n < 1 || n > 65535 {
			return nil, errors.New("port must be 1-65535")
		}
	}
	if u.Scheme == "http" && !isLoopbackHost(host) {
		return nil, errors.New("http is only allowed for loopback hosts (localhost, 127.0.0.0/8, ::1); use https")
	}
	if p := strings.TrimSuffix(u.Path, "/"); p != "" && path.Clean(p) != p {
		return nil, errors.New("base path must be clean (no '.', '..' or repeated '/')")
	}
	u.Path = strings.TrimSuffix(u.Path, "/")
	u.Host = strings.ToLower(u.Host)
	return u, nil
}

func isLoopbackHost(h string) bool {
	if strings.EqualFold(h, "localhost") {
		return true
	}
	ip := net.ParseIP(h)
	return ip != nil && ip.IsLoopback()
}

// ValidateName checks a credential name: it becomes the reverse-proxy path
// prefix (/<name>/) and the prefix of <NAME>_BASE_URL, so it is limited to
// letters, digits, '_' and '-', starting with a letter or digit.
func ValidateName(name string) error {
	if name == "" || len(name) > 64 || !isAlnum(name[0]) {
		return errors.New("credential name must start with a letter or digit and be at most 64 bytes")
	}
	for _, c := range []byte(name) {
		if !isAlnum(c) && c != '_' && c != '-' {
			return errors.New("credential name may contain only letters, digits, '_' and '-'")
		}
	}
	return nil
}

// envName upper-cases name and maps '-' to '_'.
func envName(name string) string {
	return strings.ToUpper(strings.ReplaceAll(name, "-", "_"))
}

// BaseURLVar is the child's base-URL variable for a credential name:
// "my-api" gives MY_API_BASE_URL.
func BaseURLVar(name string) string { return envName(name) + "_BASE_URL" }

// DefaultKeyVar is the phantom variable of a custom credential without
// env_var: "my-api" gives MY_API_API_KEY.
func DefaultKeyVar(name string) string { return envName(name) + "_API_KEY" }

// DefaultAccount is the keyring account of a preset: "google-ai" gives
// google_ai_api_key.
func DefaultAccount(name string) string {
	return strings.ToLower(strings.ReplaceAll(name, "-", "_")) + "_api_key"
}
