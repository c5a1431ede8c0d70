package policy

import (
	"path/filepath"
	"sort"
	"strings"
)

// strippedEnv are inherited variables that can inject code into the child or
// leak meta-secrets; they never pass (nono-cli.md §5).
var strippedEnv = map[string]bool{
	"BASH_ENV": true, "ENV": true, "CDPATH": true, "GLOBIGNORE": true, "PROMPT_COMMAND": true, "IFS": true,
	"PYTHONSTARTUP": true, "PYTHONPATH": true, "NODE_OPTIONS": true, "NODE_PATH": true,
	"PERL5OPT": true, "PERL5LIB": true, "RUBYOPT": true, "RUBYLIB": true, "GEM_PATH": true, "GEM_HOME": true,
	"JAVA_TOOL_OPTIONS": true, "_JAVA_OPTIONS": true, "DOTNET_STARTUP_HOOKS": true, "GOFLAGS": true,
	"OP_SERVICE_ACCOUNT_TOKEN": true, "OP_CONNECT_TOKEN": true, "OP_CONNECT_HOST": true,
	// nono internals, re-set by nono where they apply.
	"NONO_CAP_FILE": true, "NONO_SUPERVISOR_PATH": true, "NONO_DETACHED_LAUNCH": true,
	"NONO_DETACHED_SESSION_ID": true, "NONO_DETACHED_CWD_PROMPT_RESPONSE": true, "NONO_PROXY_TOKEN": true,
}

var strippedEnvPrefixes = []string{"LD_", "DYLD_", "BASH_FUNC_", "OP_SESSION_"}

// IsDangerousEnv reports whether an inherited variable is always stripped.
func IsDangerousEnv(key string) bool {
	if strippedEnv[key] {
		return true
	}
	for _, p := range strippedEnvPrefixes {
		if strings.HasPrefix(key, p) {
			return true
		}
	}
	return false
}

// envPatternMatch matches an exact name, a PREFIX* pattern or "*".
func envPatternMatch(pattern, key string) bool {
	if prefix, ok := strings.CutSuffix(pattern, "*"); ok {
		return strings.HasPrefix(key, prefix)
	}
	return pattern == key
}

func matchesAny(patterns []string, key string) bool {
	for _, p := range patterns {
		if envPatternMatch(p, key) {
			return true
		}
	}
	return false
}

// ChildEnv filters the host environment (KEY=VALUE list) for the child:
// the built-in blocklist first, then the profile's deny_vars, then allow_vars
// (absent: everything passes; empty: nothing passes), then set_vars are
// applied (they replace inherited values; PATH and NONO_* are never set).
// Credentials and proxy variables are added later by the caller.
func ChildEnv(host []string, p *Profile) []string {
	var env Environment
	if p != nil {
		env = p.Environment
	}
	var out []string
	for _, kv := range host {
		key, _, ok := strings.Cut(kv, "=")
		if !ok || key == "" || IsDangerousEnv(key) || matchesAny(env.DenyVars, key) {
			continue
		}
		if env.AllowVars != nil && !matchesAny(env.AllowVars, key) {
			continue
		}
		if _, overridden := env.SetVars[key]; overridden && key != "PATH" && !strings.HasPrefix(key, "NONO_") {
			continue
		}
		out = append(out, kv)
	}
	keys := make([]string, 0, len(env.SetVars))
	for k := range env.SetVars {
		if k == "" || k == "PATH" || strings.HasPrefix(k, "NONO_") || strings.ContainsAny(k, "=\x00") {
			continue
		}
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		out = append(out, k+"="+env.SetVars[k])
	}
	return out
}

// CheckCommand is the deprecated startup-only command check: prog's base
// name is refused if a dangerous_commands group, the profile's commands.deny
// or blockCmds lists it, unless the profile's commands.allow or allowCmds
// exempts it. Child processes are not checked.
func (r *Resolved) CheckCommand(prog string, allowCmds, blockCmds []string) error {
	base := filepath.Base(prog)
	if contains(r.AllowCommands, base) || contains(allowCmds, base) {
		return nil
	}
	if contains(r.BlockCommands, base) || contains(blockCmds, base) {
		return &CommandBlockedError{Command: base}
	}
	return nil
}

// CommandBlockedError reports a command refused by the startup blocklist.
type CommandBlockedError struct{ Command string }

func (e *CommandBlockedError) Error() string {
	return "Command '" + e.Command + "' is blocked: command blocking is deprecated since v0.33.0 and only checks the " +
		"directly-invoked startup command. Child processes can bypass it, so it is not a security boundary. " +
		"Use --allow-command " + e.Command + " to run it anyway."
}
