package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func write(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "config.toml")
	if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestLoad(t *testing.T) {
	c, err := Load(write(t, "[meta]\nversion = 1\n[ui]\ntheme = \"latte\"\n[defaults]\nprofile = \"python-dev\"\n[updates]\ncheck = false\n"), true)
	if err != nil {
		t.Fatal(err)
	}
	if c.UI.Theme != "latte" || c.Defaults.Profile != "python-dev" || c.Updates.Check == nil || *c.Updates.Check {
		t.Errorf("%+v", c)
	}
	// A missing default file is an empty config; a missing --config file is an error.
	missing := filepath.Join(t.TempDir(), "nope.toml")
	if c, err := Load(missing, false); err != nil || c.UI.Theme != "" {
		t.Errorf("missing default: %v", err)
	}
	if _, err := Load(missing, true); err == nil || !strings.Contains(err.Error(), missing) {
		t.Errorf("missing explicit: %v", err)
	}
	if c, err := Load("", false); err != nil || c.Path != "" {
		t.Errorf("no path: %v", err)
	}
	for body, want := range map[string]string{
		"[ui]\ncolour = true\n":        `unknown key "ui.colour"`,
		"[ui]\ntheme = 3\n":            "theme",
		"[meta]\nversion = 2\n":        "version 2 is not supported",
		"[defaults\n":                  "config ",
		"[rollback]\nmax_sessions=1\n": `unknown key "rollback`,
	} {
		if _, err := Load(write(t, body), true); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: %v, want %q", body, err, want)
		}
	}
	dir := t.TempDir()
	if _, err := Load(dir, true); err == nil || !strings.Contains(err.Error(), "not a regular file") {
		t.Errorf("directory: %v", err)
	}
	big := write(t, "# "+strings.Repeat("x", maxSize)+"\n")
	if _, err := Load(big, true); err == nil || !strings.Contains(err.Error(), "larger than") {
		t.Errorf("big: %v", err)
	}
}

func TestDefaultPath(t *testing.T) {
	env := func(m map[string]string) func(string) (string, bool) {
		return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
	}
	for _, c := range []struct {
		vars map[string]string
		want string
	}{
		{map[string]string{"HOME": "/h"}, "/h/.config/nono/config.toml"},
		{map[string]string{"HOME": "/h", "XDG_CONFIG_HOME": "/x"}, "/x/nono/config.toml"},
		{map[string]string{"HOME": "/h", "XDG_CONFIG_HOME": "rel"}, "/h/.config/nono/config.toml"},
		{map[string]string{"HOME": "rel"}, ""},
		{map[string]string{}, ""},
	} {
		if got := DefaultPath(env(c.vars)); got != c.want {
			t.Errorf("%v: %q, want %q", c.vars, got, c.want)
		}
	}
}

// TestPickPrecedence: flag > env > config > profile > default, whatever
// the argument order, and unset or empty layers never win.
func TestPickPrecedence(t *testing.T) {
	all := []Layer{
		{FromDefault, "d", true}, {FromProfile, "p", true}, {FromConfig, "c", true}, {FromEnv, "e", true}, {FromFlag, "f", true},
	}
	want := []struct {
		v string
		s Source
	}{{"f", FromFlag}, {"e", FromEnv}, {"c", FromConfig}, {"p", FromProfile}, {"d", FromDefault}}
	for i, w := range want {
		// Drop the layers above w, in two different orders.
		var rest []Layer
		for _, l := range all {
			keep := true
			for _, above := range want[:i] {
				keep = keep && l.Source != above.s
			}
			if keep {
				rest = append(rest, l)
			}
		}
		rev := make([]Layer, len(rest))
		for j := range rest {
			rev[len(rest)-1-j] = rest[j]
		}
		for _, ls := range [][]Layer{rest, rev} {
			if v, s := Pick(ls...); v != w.v || s != w.s {
				t.Errorf("%v: got %s/%s, want %s/%s", ls, v, s, w.v, w.s)
			}
		}
	}
	if v, s := Pick(Layer{FromFlag, "", true}, Layer{FromEnv, "x", false}, Layer{FromConfig, "c", true}); v != "c" || s != FromConfig {
		t.Errorf("empty/unset layers won: %s/%s", v, s)
	}
	if v, s := Pick(); v != "" || s != FromDefault {
		t.Errorf("nothing: %s/%s", v, s)
	}
	if v, _ := Pick(Layer{"bogus", "b", true}); v != "" {
		t.Errorf("unknown source used: %s", v)
	}
}
