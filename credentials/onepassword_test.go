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

type fakeOPSDK struct {
	secrets map[string]string
	calls   int
}

func (f *fakeOPSDK) Resolve(_ context.Context, ref string) (string, error) {
	f.calls++
	v, ok := f.secrets[ref]
	if !ok {
		return "", errors.New("secret reference not found")
	}
	return v, nil
}

func TestOnePasswordSDK(t *testing.T) {
	fake := &fakeOPSDK{secrets: map[string]string{"op://V/I/f": "sdk-secret", "op://V/Bad/f": "x\r\ny"}}
	var gotToken string
	builds := 0
	op := &OnePassword{
		Token: func() string { return "ops_token" },
		NewSDK: func(_ context.Context, token string) (OPSecretResolver, error) {
			builds++
			gotToken = token
			return fake, nil
		},
		LookPath: func(string) (string, error) { t.Fatal("CLI used although a token is set"); return "", nil },
	}
	ctx := context.Background()
	for range 2 {
		s, err := op.Load(ctx, MustParseRef("op://V/I/f"))
		if err != nil || string(s.Bytes()) != "sdk-secret" {
			t.Fatalf("SDK load: %v, %v", s, err)
		}
	}
	if gotToken != "ops_token" || builds != 1 || fake.calls != 2 {
		t.Fatalf("token %q, builds %d, calls %d", gotToken, builds, fake.calls)
	}
	if _, err := op.Load(ctx, MustParseRef("op://V/Missing/f")); err == nil || !strings.Contains(err.Error(), "op://V/Missing/f") {
		t.Fatalf("missing: err = %v", err)
	}
	if _, err := op.Load(ctx, MustParseRef("op://V/Bad/f")); !errors.Is(err, ErrUnsafeSecret) {
		t.Fatalf("CRLF: err = %v", err)
	}

	failing := &OnePassword{
		Token: func() string { return "bad" },
		NewSDK: func(context.Context, string) (OPSecretResolver, error) {
			return nil, errors.New("invalid service account token")
		},
	}
	_, err := failing.Load(ctx, MustParseRef("op://V/I/f"))
	if err == nil || !strings.Contains(err.Error(), OPServiceAccountTokenVar) || strings.Contains(err.Error(), "bad\"") {
		t.Fatalf("SDK init failure: err = %v", err)
	}
}

func TestScrubLine(t *testing.T) {
	got := scrubLine([]byte("\n\n  \x1b[1mError:\x07 "+strings.Repeat("x", 300)+"\nnext"), nil)
	if strings.ContainsAny(got, "\x1b\x07") || !strings.HasPrefix(got, "Error: xxx") || len([]rune(got)) != 201 {
		t.Fatalf("scrubLine = %q", got)
	}
}
