package ui

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestResolveTheme(t *testing.T) {
	for _, n := range Themes {
		if got, ok := ResolveTheme(n); got != n || !ok {
			t.Errorf("%s: %s %v", n, got, ok)
		}
	}
	if got, ok := ResolveTheme(""); got != "mocha" || !ok {
		t.Errorf("default: %s", got)
	}
	if got, ok := ResolveTheme("neon"); got != "mocha" || ok {
		t.Errorf("unknown: %s %v", got, ok)
	}
}

// file returns a regular (non-terminal) file to print to.
func file(t *testing.T) *os.File {
	f, err := os.Create(filepath.Join(t.TempDir(), "out"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

func TestColourRules(t *testing.T) {
	f := file(t)
	t.Setenv("TERM", "xterm")
	os.Unsetenv("NO_COLOR")
	t.Setenv("CLICOLOR_FORCE", "")
	if p := NewPrinter(f, "latte", false, 0); p.OK("x") != "x" {
		t.Error("colour on a non-terminal")
	}
	t.Setenv("CLICOLOR_FORCE", "1")
	if p := NewPrinter(f, "latte", false, 0); p.OK("x") != "\x1b[38;2;64;160;43mx\x1b[0m" {
		t.Errorf("forced colour: %q", p.OK("x"))
	}
	if p := NewPrinter(f, "minimal", false, 0); p.OK("x") != "x" || p.Err("x") != "x" {
		t.Error("minimal has colour")
	}
	p := NewPrinter(f, "tokyo-night", false, 0).For(f)
	if p.Theme != "tokyo-night" || !strings.Contains(p.Err("x"), "38;2;247;118;142") {
		t.Errorf("For lost the theme: %+v %q", p, p.Err("x"))
	}
	t.Setenv("NO_COLOR", "1")
	if p := NewPrinter(f, "latte", false, 0); p.OK("x") != "x" {
		t.Error("NO_COLOR ignored")
	}
	t.Setenv("CLICOLOR_FORCE", "0")
	os.Unsetenv("NO_COLOR")
	if p := NewPrinter(f, "latte", false, 0); p.OK("x") != "x" {
		t.Error("CLICOLOR_FORCE=0 forced colour")
	}
}

func TestSilenceAndVerbosity(t *testing.T) {
	var b bytes.Buffer
	p := &Printer{W: &b, Silent: true, Verbose: 3}
	p.Printf("a")
	p.Warnf("b")
	p.Infof("c")
	if b.Len() != 0 {
		t.Errorf("silent printer wrote %q", b.String())
	}
	p = &Printer{W: &b, Verbose: 1}
	p.Infof("info;")
	p.Debugf("debug;")
	p.Warnf("careful")
	if b.String() != "info;warning: careful\n" {
		t.Errorf("got %q", b.String())
	}
}

func TestConfirm(t *testing.T) {
	for in, want := range map[string]bool{"y\n": true, "YES\n": true, "n\n": false, "\n": false, "": false, "yess\n": false} {
		var out bytes.Buffer
		if got := Confirm(strings.NewReader(in), &out, "Share?"); got != want || out.String() != "Share? [y/N] " {
			t.Errorf("%q: %v %q", in, got, out.String())
		}
	}
}
