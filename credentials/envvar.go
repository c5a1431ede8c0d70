package credentials

import (
	"errors"
	"fmt"
	"strings"
)

// dangerousEnvVars may not receive a secret or phantom: setting them changes
// how the child loads code, finds programs, or reaches the network.
var dangerousEnvVars = map[string]bool{
	"PATH": true, "HOME": true, "SHELL": true, "USER": true, "LOGNAME": true, "TMPDIR": true,
	"IFS": true, "ENV": true, "BASH_ENV": true, "PS4": true, "PROMPT_COMMAND": true,
	"LD_PRELOAD": true, "LD_LIBRARY_PATH": true, "LD_AUDIT": true,
	"NODE_OPTIONS": true, "NODE_PATH": true, "NODE_EXTRA_CA_CERTS": true, "NODE_USE_ENV_PROXY": true,
	"PYTHONPATH": true, "PYTHONSTARTUP": true, "PYTHONHOME": true,
	"PERL5OPT": true, "PERL5LIB": true, "RUBYOPT": true, "RUBYLIB": true,
	"JAVA_TOOL_OPTIONS": true, "_JAVA_OPTIONS": true, "JDK_JAVA_OPTIONS": true,
	"GIT_SSH": true, "GIT_SSH_COMMAND": true, "GIT_EXEC_PATH": true, "GIT_CONFIG_GLOBAL": true,
	"GIT_SSL_CAINFO": true, "SSL_CERT_FILE": true, "SSL_CERT_DIR": true,
	"REQUESTS_CA_BUNDLE": true, "CURL_CA_BUNDLE": true,
	"HTTP_PROXY": true, "HTTPS_PROXY": true, "ALL_PROXY": true, "NO_PROXY": true,
}

// ValidateEnvVarName checks a destination variable for a secret or phantom:
// [A-Za-z_][A-Za-z0-9_]*, not reserved (NONO_*, LD_*, DYLD_*) and not one of
// the variables that alter loading, lookup or networking (PATH, NODE_OPTIONS,
// HTTPS_PROXY, ...).
func ValidateEnvVarName(name string) error {
	if !validEnvName(name) {
		return errors.New("environment variable name must match [A-Za-z_][A-Za-z0-9_]*")
	}
	up := strings.ToUpper(name)
	for _, p := range []string{"NONO_", "LD_", "DYLD_"} {
		if strings.HasPrefix(up, p) {
			return fmt.Errorf("environment variable %s is reserved (%s*)", name, p)
		}
	}
	if dangerousEnvVars[up] {
		return fmt.Errorf("environment variable %s cannot hold a credential: it changes how the child runs", name)
	}
	return nil
}

// EnvMapping puts the secret named by Ref into the child's environment as
// EnvVar (--env-credential, --env-credential-map).
type EnvMapping struct {
	Ref    Ref
	EnvVar string
}

// NewEnvMapping validates one --env-credential-map REF VAR pair.
func NewEnvMapping(ref, envVar string) (EnvMapping, error) {
	r, err := ParseRef(ref)
	if err != nil {
		return EnvMapping{}, err
	}
	if err := ValidateEnvVarName(envVar); err != nil {
		return EnvMapping{}, fmt.Errorf("--env-credential-map target: %w", err)
	}
	return EnvMapping{Ref: r, EnvVar: envVar}, nil
}

// ParseEnvCredentialList parses a --env-credential value: a comma-separated
// list whose entries are
//
//	account          keyring account; exported as UPPERCASE(account)
//	env://VAR        exported as VAR
//	REF=DEST         any ref, exported as DEST (required for file://, op://,
//	                 keyring:// and apple-password:// refs)
//
// The target is split at the last '='.
func ParseEnvCredentialList(s string) ([]EnvMapping, error) {
	var out []EnvMapping
	for i, entry := range strings.Split(s, ",") {
		entry = strings.TrimSpace(entry)
		if entry == "" {
			return nil, fmt.Errorf("--env-credential entry %d is empty", i+1)
		}
		refStr, dest := entry, ""
		if j := strings.LastIndexByte(entry, '='); j >= 0 {
			refStr, dest = entry[:j], entry[j+1:]
		}
		r, err := ParseRef(refStr)
		if err != nil {
			return nil, fmt.Errorf("--env-credential entry %d: %w", i+1, err)
		}
		if dest == "" {
			switch {
			case r.Bare:
				dest = strings.ToUpper(strings.NewReplacer("-", "_", ".", "_").Replace(r.Account))
			case r.Scheme == SchemeEnv:
				dest = r.Var
			default:
				return nil, fmt.Errorf("--env-credential entry %d: %s:// refs need an explicit target, e.g. %s://...=MY_VAR", i+1, r.Scheme, r.Scheme)
			}
		}
		if err := ValidateEnvVarName(dest); err != nil {
			return nil, fmt.Errorf("--env-credential entry %d: %w", i+1, err)
		}
		out = append(out, EnvMapping{Ref: r, EnvVar: dest})
	}
	return out, nil
}
