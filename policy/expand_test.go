package policy

import (
	"strings"
	"testing"
)

func TestExpandVars(t *testing.T) {
	env := map[string]string{"HOME": "/home/u", "TMPDIR": "/var/tmp/", "XDG_DATA_HOME": "/data", "EMPTY": ""}
	x := Expander{Env: func(k string) (string, bool) { v, ok := env[k]; return v, ok }, Workdir: "/work", UID: 1000}
	ok := []struct{ in, want string }{
		{"~", "/home/u"},
		{"~/.ssh", "/home/u/.ssh"},
		{"~user/x", "~user/x"},
		{"$HOME/x", "/home/u/x"},
		{"${HOME}/x", "/home/u/x"},
		{"$WORKDIR/src", "/work/src"},
		{"$TMPDIR/openclaw-$UID", "/var/tmp/openclaw-1000"},
		{"$XDG_CONFIG_HOME/nono", "/home/u/.config/nono"},
		{"$XDG_DATA_HOME", "/data"},
		{"$XDG_STATE_HOME", "/home/u/.local/state"},
		{"$XDG_CACHE_HOME", "/home/u/.cache"},
		{"$NONO_CONFIG/profiles", "/home/u/.config/nono/profiles"},
		{"cost$", "cost$"},
		{"a$1b", "a$1b"},
		{"a/$/b", "a/$/b"},
		{"/plain/path", "/plain/path"},
	}
	for _, c := range ok {
		got, err := x.Expand(c.in)
		if err != nil || got != c.want {
			t.Errorf("Expand(%q) = %q, %v; want %q", c.in, got, err, c.want)
		}
	}
	bad := []struct{ in, want string }{
		{"$XDG_RUNTIME_DIR/s", "$XDG_RUNTIME_DIR is not set"},
		{"$FOO/x", "$FOO is not a supported variable"},
		{"$HOMEX", "$HOMEX is not a supported variable"},
		{"${HOME", "unterminated ${"},
		{"${}", "invalid variable name"},
		{"${a-b}", "invalid variable name"},
	}
	for _, c := range bad {
		if got, err := x.Expand(c.in); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("Expand(%q) = %q, %v; want error %q", c.in, got, err, c.want)
		}
	}
	// Unset or relative variables are errors, never empty paths.
	env["TMPDIR"] = "rel/tmp"
	if _, err := x.Expand("$TMPDIR/x"); err == nil || !strings.Contains(err.Error(), "$TMPDIR is not an absolute path") {
		t.Errorf("relative TMPDIR: %v", err)
	}
	delete(env, "TMPDIR")
	if got, _ := x.Expand("$TMPDIR"); got != "/tmp" {
		t.Errorf("default TMPDIR = %q", got)
	}
	env["XDG_CACHE_HOME"] = "cache"
	if _, err := x.Expand("$XDG_CACHE_HOME"); err == nil || !strings.Contains(err.Error(), "$XDG_CACHE_HOME is not an absolute path") {
		t.Errorf("relative XDG: %v", err)
	}
	env["XDG_CACHE_HOME"] = "" // empty counts as unset: default applies
	if got, err := x.Expand("$XDG_CACHE_HOME"); err != nil || got != "/home/u/.cache" {
		t.Errorf("empty XDG: %q %v", got, err)
	}
	delete(env, "HOME")
	if _, err := x.Expand("~/x"); err == nil || !strings.Contains(err.Error(), "$HOME is not set") {
		t.Errorf("unset HOME: %v", err)
	}
	if _, err := x.Expand("$XDG_CONFIG_HOME"); err == nil {
		t.Errorf("XDG default without HOME succeeded")
	}
	// ExpandPath anchors relative paths at $WORKDIR.
	env["HOME"] = "/home/u"
	if got, _ := x.ExpandPath("sub/../file"); got != "/work/file" {
		t.Errorf("ExpandPath relative = %q", got)
	}
	if _, err := (Expander{Env: x.Env}).ExpandPath("rel"); err == nil {
		t.Errorf("relative path without workdir accepted")
	}
	if got, err := x.expandLenient("$NOTAVAR and $HOME"); err != nil || got != "$NOTAVAR and /home/u" {
		t.Errorf("lenient = %q %v", got, err)
	}
}
