package policy

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// Expander expands ~ and the supported $VARIABLES in profile and group paths.
// Env is consulted for every variable, so tests can be hermetic.
type Expander struct {
	Env     func(string) (string, bool) // os.LookupEnv in production
	Workdir string                      // absolute; value of $WORKDIR
	UID     int                         // value of $UID
}

// NewExpander returns an Expander with the process uid.
func NewExpander(env func(string) (string, bool), workdir string) Expander {
	if env == nil {
		env = os.LookupEnv
	}
	return Expander{Env: env, Workdir: workdir, UID: os.Getuid()}
}

// VarError is an expansion failure: the variable is unset, relative or unknown.
type VarError struct {
	Var     string // without $
	Reason  string
	Unknown bool // not a supported variable name
}

func (e *VarError) Error() string { return "$" + e.Var + " " + e.Reason }

func (x Expander) lookup(name string) (string, bool) {
	if x.Env == nil {
		return "", false
	}
	v, ok := x.Env(name)
	return v, ok && v != ""
}

func absVar(name, v string) (string, error) {
	if !filepath.IsAbs(v) {
		return "", &VarError{Var: name, Reason: fmt.Sprintf("is not an absolute path (%q)", v)}
	}
	if v != "/" {
		v = strings.TrimRight(v, "/")
	}
	return filepath.Clean(v), nil
}

// Home returns $HOME, which must be set and absolute.
func (x Expander) Home() (string, error) {
	v, ok := x.lookup("HOME")
	if !ok {
		return "", &VarError{Var: "HOME", Reason: "is not set"}
	}
	return absVar("HOME", v)
}

func (x Expander) xdg(name, def string) (string, error) {
	if v, ok := x.lookup(name); ok {
		return absVar(name, v)
	}
	home, err := x.Home()
	if err != nil {
		return "", err
	}
	return filepath.Join(home, def), nil
}

// Var returns the value of one supported variable.
func (x Expander) Var(name string) (string, error) {
	switch name {
	case "HOME":
		return x.Home()
	case "WORKDIR":
		if x.Workdir == "" {
			return "", &VarError{Var: "WORKDIR", Reason: "is not known"}
		}
		return absVar("WORKDIR", x.Workdir)
	case "TMPDIR":
		if v, ok := x.lookup("TMPDIR"); ok {
			return absVar("TMPDIR", v)
		}
		return "/tmp", nil
	case "UID":
		return strconv.Itoa(x.UID), nil
	case "XDG_CONFIG_HOME":
		return x.xdg(name, ".config")
	case "XDG_DATA_HOME":
		return x.xdg(name, ".local/share")
	case "XDG_STATE_HOME":
		return x.xdg(name, ".local/state")
	case "XDG_CACHE_HOME":
		return x.xdg(name, ".cache")
	case "XDG_RUNTIME_DIR":
		v, ok := x.lookup(name)
		if !ok {
			return "", &VarError{Var: name, Reason: "is not set"}
		}
		return absVar(name, v)
	case "NONO_CONFIG":
		c, err := x.xdg("XDG_CONFIG_HOME", ".config")
		if err != nil {
			return "", err
		}
		return filepath.Join(c, "nono"), nil
	}
	return "", &VarError{name, "is not a supported variable (use HOME, WORKDIR, TMPDIR, UID, XDG_CONFIG_HOME, XDG_DATA_HOME, XDG_STATE_HOME, XDG_CACHE_HOME, XDG_RUNTIME_DIR or NONO_CONFIG)", true}
}

func isNameByte(c byte, first bool) bool {
	return c == '_' || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (!first && c >= '0' && c <= '9')
}

// Expand replaces a leading ~ and every $NAME or ${NAME}. A '$' not followed
// by a name is kept literally. Unset, relative or unknown variables are errors.
func (x Expander) Expand(s string) (string, error) {
	return x.expand(s, false)
}

// expandLenient is Expand but keeps unknown variable names literally
// (used for environment.set_vars values).
func (x Expander) expandLenient(s string) (string, error) {
	return x.expand(s, true)
}

func (x Expander) expand(s string, lenient bool) (string, error) {
	if strings.IndexByte(s, '$') < 0 {
		// No variables (most policy paths): the loop below would copy
		// s byte by byte.
		if s == "~" || strings.HasPrefix(s, "~/") {
			home, err := x.Home()
			if err != nil {
				return "", err
			}
			return home + s[1:], nil
		}
		return s, nil
	}
	var b strings.Builder
	if s == "~" || strings.HasPrefix(s, "~/") {
		home, err := x.Home()
		if err != nil {
			return "", err
		}
		b.WriteString(home)
		s = s[1:]
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c != '$' || i+1 >= len(s) {
			b.WriteByte(c)
			continue
		}
		var name string
		end := i + 1
		if s[i+1] == '{' {
			close := strings.IndexByte(s[i+2:], '}')
			if close < 0 {
				return "", fmt.Errorf("unterminated ${ in %q", s)
			}
			name = s[i+2 : i+2+close]
			end = i + 2 + close + 1
			if name == "" || !isNameByte(name[0], true) || strings.IndexFunc(name, func(r rune) bool { return r > 127 || !isNameByte(byte(r), false) }) >= 0 {
				return "", fmt.Errorf("invalid variable name ${%s} in %q", name, s)
			}
		} else {
			if !isNameByte(s[i+1], true) {
				b.WriteByte(c)
				continue
			}
			for end < len(s) && isNameByte(s[end], false) {
				end++
			}
			name = s[i+1 : end]
		}
		v, err := x.Var(name)
		if err != nil {
			var ve *VarError
			if lenient && errors.As(err, &ve) && ve.Unknown {
				b.WriteString(s[i:end])
				i = end - 1
				continue
			}
			return "", err
		}
		b.WriteString(v)
		i = end - 1
	}
	return b.String(), nil
}

// ExpandPath expands s and makes it absolute relative to $WORKDIR.
func (x Expander) ExpandPath(s string) (string, error) {
	p, err := x.Expand(s)
	if err != nil {
		return "", err
	}
	if p == "" {
		return "", fmt.Errorf("empty path")
	}
	if !filepath.IsAbs(p) {
		wd, err := x.Var("WORKDIR")
		if err != nil {
			return "", fmt.Errorf("relative path %q needs a working directory: %w", s, err)
		}
		p = filepath.Join(wd, p)
	}
	return filepath.Clean(p), nil
}
