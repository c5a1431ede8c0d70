package credentials

import (
	"errors"
	"fmt"
	"path"
	"strings"
)

// Scheme names a secret backend.
type Scheme string

// The supported schemes. A bare account name ("openai_api_key") is
// SchemeKeyring with service DefaultKeyringService.
const (
	SchemeKeyring       Scheme = "keyring"
	SchemeEnv           Scheme = "env"
	SchemeFile          Scheme = "file"
	SchemeOnePassword   Scheme = "op"
	SchemeApplePassword Scheme = "apple-password"
)

// DefaultKeyringService is the keyring service of bare account refs.
const DefaultKeyringService = "nono"

// maxRefLen bounds a ref string; real refs are far shorter.
const maxRefLen = 1024

// Ref is a parsed, validated secret reference. A Ref names where a secret
// lives; it is not itself secret, so its String form may appear in errors.
type Ref struct {
	Scheme Scheme
	// Bare is true for a bare keyring account ("openai_api_key").
	Bare bool
	// Service and Account: keyring service/account, or the Apple Passwords
	// server/account.
	Service string
	Account string
	// Var is the environment variable of an env:// ref.
	Var string
	// Path is the absolute, clean path of a file:// ref.
	Path string
	// URI is the full op:// reference handed to 1Password.
	URI string
}

// String renders the ref in the form ParseRef accepts.
func (r Ref) String() string {
	switch r.Scheme {
	case SchemeKeyring:
		if r.Bare {
			return r.Account
		}
		return "keyring://" + r.Service + "/" + r.Account
	case SchemeEnv:
		return "env://" + r.Var
	case SchemeFile:
		return "file://" + r.Path
	case SchemeOnePassword:
		return r.URI
	case SchemeApplePassword:
		return "apple-password://" + r.Service + "/" + r.Account
	}
	return "<invalid ref>"
}

// Describe renders the ref for humans, e.g. "keyring service nono account
// openai_api_key".
func (r Ref) Describe() string {
	switch r.Scheme {
	case SchemeKeyring:
		return fmt.Sprintf("keyring service %s account %s", r.Service, r.Account)
	case SchemeApplePassword:
		return fmt.Sprintf("Apple Passwords server %s account %s", r.Service, r.Account)
	}
	return r.String()
}

// RefError is a malformed ref. It names the scheme and the rule broken but
// never echoes the input, which may be a secret pasted by mistake.
type RefError struct {
	Scheme string // "" for a bare name
	Reason string
}

func (e *RefError) Error() string {
	if e.Scheme == "" {
		return "invalid credential ref: " + e.Reason
	}
	return fmt.Sprintf("invalid %s:// credential ref: %s", e.Scheme, e.Reason)
}

// ErrUnsupportedScheme is wrapped by ParseRef for unknown schemes.
var ErrUnsupportedScheme = errors.New("unsupported credential ref scheme")

const supportedForms = "use a keyring account name, keyring://service/account, env://VAR, file:///abs/path, op://vault/item/field or apple-password://server/account"

// ParseRef parses one secret reference:
//
//	openai_api_key                     keyring service "nono", account openai_api_key
//	keyring://service/account          keyring, explicit service
//	env://VAR                          the parent's environment
//	file:///abs/path                   a regular file (<= 64 KiB, one trailing newline trimmed)
//	op://vault/item[/section]/field    1Password
//	apple-password://server/account    macOS Passwords (internet password)
func ParseRef(s string) (Ref, error) {
	if len(s) > maxRefLen {
		return Ref{}, &RefError{Reason: fmt.Sprintf("longer than %d bytes", maxRefLen)}
	}
	scheme, rest, ok := strings.Cut(s, "://")
	if !ok {
		if !validAccount(s) {
			return Ref{}, &RefError{Reason: "not a keyring account name (letters, digits, '_', '-', '.', starting with a letter, digit or '_'; at most 256 bytes) and no scheme://; " + supportedForms}
		}
		if looksLikeKey(s) {
			return Ref{}, &RefError{Reason: "this looks like an API key itself, not the name of a keyring account; store the key in the keyring and pass the account name (value not shown)"}
		}
		return Ref{Scheme: SchemeKeyring, Bare: true, Service: DefaultKeyringService, Account: s}, nil
	}
	if hasControl(s) {
		return Ref{}, &RefError{Scheme: printableScheme(scheme), Reason: "contains control characters"}
	}
	switch Scheme(scheme) {
	case SchemeKeyring:
		svc, acct, err := twoSegments(rest)
		if err != nil {
			return Ref{}, &RefError{Scheme: scheme, Reason: "want keyring://service/account: " + err.Error()}
		}
		return Ref{Scheme: SchemeKeyring, Service: svc, Account: acct}, nil
	case SchemeApplePassword:
		srv, acct, err := twoSegments(rest)
		if err != nil {
			return Ref{}, &RefError{Scheme: scheme, Reason: "want apple-password://server/account: " + err.Error()}
		}
		return Ref{Scheme: SchemeApplePassword, Service: srv, Account: acct}, nil
	case SchemeEnv:
		if !validEnvName(rest) {
			return Ref{}, &RefError{Scheme: scheme, Reason: "want env://VAR with VAR matching [A-Za-z_][A-Za-z0-9_]*"}
		}
		return Ref{Scheme: SchemeEnv, Var: rest}, nil
	case SchemeFile:
		p, err := filePath(rest)
		if err != nil {
			return Ref{}, &RefError{Scheme: scheme, Reason: err.Error()}
		}
		return Ref{Scheme: SchemeFile, Path: p}, nil
	case SchemeOnePassword:
		if err := checkOPRef(rest); err != nil {
			return Ref{}, &RefError{Scheme: scheme, Reason: err.Error()}
		}
		return Ref{Scheme: SchemeOnePassword, URI: s}, nil
	}
	return Ref{}, fmt.Errorf("%w %q: %s", ErrUnsupportedScheme, printableScheme(scheme), supportedForms)
}

// MustParseRef is ParseRef for compile-time constants; it panics on error.
func MustParseRef(s string) Ref {
	r, err := ParseRef(s)
	if err != nil {
		panic(err)
	}
	return r
}

func validAccount(s string) bool {
	if s == "" || len(s) > 256 || !isAlnum(s[0]) && s[0] != '_' {
		return false
	}
	for _, c := range []byte(s) {
		if !isAlnum(c) && c != '_' && c != '-' && c != '.' {
			return false
		}
	}
	return true
}

// keyPrefixes begin well-known API key formats (OpenAI, Anthropic, GitHub,
// GitLab, Slack, Google).
var keyPrefixes = []string{
	"sk-", "sk_", "ghp_", "gho_", "ghu_", "ghs_", "ghr_", "github_pat_",
	"glpat-", "xoxb-", "xoxp-", "AIza",
}

// looksLikeKey catches a secret pasted where an account name belongs, so it
// is not echoed back in "no secret stored for account ..." errors.
func looksLikeKey(s string) bool {
	if len(s) > 64 {
		return true
	}
	for _, p := range keyPrefixes {
		if strings.HasPrefix(s, p) {
			return true
		}
	}
	return false
}

func isAlnum(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
}

// validEnvName reports whether s is a portable environment variable name.
func validEnvName(s string) bool {
	if s == "" || len(s) > 256 || s[0] >= '0' && s[0] <= '9' {
		return false
	}
	for _, c := range []byte(s) {
		if !isAlnum(c) && c != '_' {
			return false
		}
	}
	return true
}

func hasControl(s string) bool {
	for _, c := range []byte(s) {
		if c < 0x20 || c == 0x7f {
			return true
		}
	}
	return false
}

// printableScheme returns the scheme if it looks like an RFC 3986 scheme,
// otherwise a placeholder, so that errors never echo arbitrary input.
func printableScheme(s string) string {
	if s == "" || len(s) > 16 || looksLikeKey(s) {
		return "?"
	}
	for i, c := range []byte(s) {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || i > 0 && (c >= '0' && c <= '9' || c == '+' || c == '-' || c == '.')) {
			return "?"
		}
	}
	return s
}

// twoSegments splits "a/b" into two non-empty segments without '?' or '#'.
func twoSegments(rest string) (string, string, error) {
	if strings.ContainsAny(rest, "?#") {
		return "", "", errors.New("'?' and '#' are not allowed")
	}
	a, b, ok := strings.Cut(rest, "/")
	if !ok || a == "" || b == "" || strings.Contains(b, "/") {
		return "", "", errors.New("need exactly two non-empty segments")
	}
	return a, b, nil
}

func filePath(rest string) (string, error) {
	if !strings.HasPrefix(rest, "/") {
		return "", errors.New("path must be absolute (file:///abs/path); a host or relative path is not allowed")
	}
	if strings.ContainsAny(rest, "?#") {
		return "", errors.New("'?' and '#' are not allowed")
	}
	for seg := range strings.SplitSeq(rest, "/") {
		if seg == ".." {
			return "", errors.New("'..' segments are not allowed")
		}
	}
	if p := path.Clean(rest); p != rest {
		return "", errors.New("path is not clean (repeated '/', '.' or trailing '/')")
	}
	if rest == "/" {
		return "", errors.New("path names the root directory")
	}
	return rest, nil
}

// checkOPRef validates the part after "op://": vault/item[/section]/field.
func checkOPRef(rest string) error {
	if strings.ContainsAny(rest, "?#") {
		return errors.New("query and fragment are not supported; want op://vault/item[/section]/field")
	}
	segs := strings.Split(rest, "/")
	if len(segs) < 3 || len(segs) > 4 {
		return errors.New("want op://vault/item[/section]/field")
	}
	for _, s := range segs {
		if strings.TrimSpace(s) == "" {
			return errors.New("empty segment; want op://vault/item[/section]/field")
		}
	}
	return nil
}
