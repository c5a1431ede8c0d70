package credentials

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// stubOP is a fake `op` CLI: it prints a secret for the known refs and fails
// like op does otherwise.
const stubOP = `#!/bin/sh
if [ "$1" != read ] || [ "$2" != -- ]; then echo "[ERROR] unexpected arguments: $*" >&2; exit 2; fi
case "$3" in
"op://Development/OpenAI/credential") printf 'sk-op-secret\n' ;;
"op://Dev/Multi/field") printf 'a\nb\n' ;;
"op://Dev/Leaky/field") printf 'leak-value-123'; printf '\033[31m[ERROR] 2025/01/01 failed near leak-value-123\033[0m\nsecond line\n' >&2; exit 1 ;;
*) printf '\n[ERROR] 2025/01/01 10:00:00 could not read secret %s: "Missing" isn'"'"'t an item in the "Dev" vault\nmore detail\n' "$3" >&2; exit 1 ;;
esac
`

func installStubOP(t *testing.T) {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "op"), []byte(stubOP), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", dir+string(os.PathListSeparator)+os.Getenv("PATH"))
	t.Setenv(OPServiceAccountTokenVar, "")
}

func TestOnePasswordCLI(t *testing.T) {
	installStubOP(t)
	op := NewOnePassword()
	ctx := context.Background()

	s, err := op.Load(ctx, MustParseRef("op://Development/OpenAI/credential"))
	if err != nil || string(s.Bytes()) != "sk-op-secret" {
		t.Fatalf("op read: %v, %v", s, err)
	}

	_, err = op.Load(ctx, MustParseRef("op://Dev/Missing/field"))
	if err == nil || !strings.Contains(err.Error(), `"Missing" isn't an item in the "Dev" vault`) || strings.Contains(err.Error(), "more detail") {
		t.Fatalf("missing item: err = %v (want op's first stderr line only)", err)
	}

	_, err = op.Load(ctx, MustParseRef("op://Dev/Multi/field"))
	if !errors.Is(err, ErrUnsafeSecret) {
		t.Fatalf("multi-line secret: err = %v", err)
	}

	_, err = op.Load(ctx, MustParseRef("op://Dev/Leaky/field"))
	if err == nil || strings.Contains(err.Error(), "leak-value-123") || strings.Contains(err.Error(), "\x1b") || !strings.Contains(err.Error(), redacted) {
		t.Fatalf("stderr not scrubbed: %q", err)
	}
}

func TestOnePasswordCLINotInstalled(t *testing.T) {
	t.Setenv("PATH", t.TempDir())
	t.Setenv(OPServiceAccountTokenVar, "")
	_, err := NewOnePassword().Load(context.Background(), MustParseRef("op://a/b/c"))
	if err == nil || !strings.Contains(err.Error(), "`op` not found on PATH") || !strings.Contains(err.Error(), OPServiceAccountTokenVar) {
		t.Fatalf("err = %v", err)
	}
}

func TestScrubLine(t *testing.T) {
	got := scrubLine([]byte("\n\n  \x1b[1mError:\x07 "+strings.Repeat("x", 300)+"\nnext"), nil)
	if strings.ContainsAny(got, "\x1b\x07") || !strings.HasPrefix(got, "Error: xxx") || len([]rune(got)) != 201 {
		t.Fatalf("scrubLine = %q", got)
	}
}
