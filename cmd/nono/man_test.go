package main

import (
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/spf13/cobra/doc"
)

var manDir = flag.String("man-dir", "", "write the man pages here (go tool task man) instead of a scratch directory")

// TestManPages renders a man page for every command with cobra/doc. The
// `man` task runs it with -man-dir docs/man; it lives in a test so the nono
// binary does not carry the Markdown-to-roff renderer.
func TestManPages(t *testing.T) {
	dir := *manDir
	if dir == "" {
		dir = t.TempDir()
	} else if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	root := newRoot()
	root.DisableAutoGenTag = true // reproducible output
	hdr := &doc.GenManHeader{Title: "NONO", Section: "1", Source: "nono " + version, Manual: "nono manual"}
	if err := doc.GenManTree(root, hdr, dir); err != nil {
		t.Fatal(err)
	}
	for _, page := range []string{"nono.1", "nono-run.1", "nono-why.1", "nono-profile.1", "nono-profile-validate.1", "nono-completion.1"} {
		b, err := os.ReadFile(filepath.Join(dir, page))
		if err != nil {
			t.Fatalf("missing man page: %v", err)
		}
		if !strings.HasPrefix(string(b), ".nh") || !strings.Contains(string(b), ".SH NAME") {
			t.Errorf("%s is not a man page", page)
		}
	}
	main, _ := os.ReadFile(filepath.Join(dir, "nono.1"))
	if !strings.Contains(string(main), "config.toml") {
		t.Errorf("nono.1 lacks the configuration section")
	}
}
