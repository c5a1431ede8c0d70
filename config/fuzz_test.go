package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// FuzzLoad: config.toml is hand-edited. Loading never panics, a refusal
// names the file and is one line, and an accepted file has a supported
// version.
func FuzzLoad(f *testing.F) {
	for _, s := range []string{
		"", "[meta]\nversion = 1\n", "[ui]\ntheme = \"latte\"\n", "[ui]\ntheme = 3\n", "[meta]\nversion = 2\n",
		"[defaults]\nprofile = \"claude-code\"\n[updates]\ncheck = false\n", "[ui\n", "x = 1\n", "[ui]\ncolour = \"red\"\n",
		"[meta]\nversion = 99999999999999999999\n", "\xff\xfe", "[ui]\ntheme = \"\\u0000\"\n", "[[ui]]\n",
	} {
		f.Add(s)
	}
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, content string) {
		p := filepath.Join(dir, "config.toml")
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		c, err := Load(p, true)
		if err != nil {
			msg := err.Error()
			if !strings.Contains(msg, p) {
				t.Fatalf("error does not name the file: %q", msg)
			}
			if strings.Contains(msg, "\n") {
				t.Fatalf("error is not one line: %q", msg)
			}
			return
		}
		if c.Meta.Version != 0 && c.Meta.Version != 1 {
			t.Fatalf("accepted version %d", c.Meta.Version)
		}
	})
}
