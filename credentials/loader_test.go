package credentials

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"
)

func load(t *testing.T, ref string) (*Secret, error) {
	t.Helper()
	r, err := ParseRef(ref)
	if err != nil {
		t.Fatalf("ParseRef(%q): %v", ref, err)
	}
	return NewResolver().Load(context.Background(), r)
}

func TestEnvBackend(t *testing.T) {
	t.Setenv("NONO_TEST_KEY", testValue)
	t.Setenv("NONO_TEST_EMPTY", "")
	t.Setenv("NONO_TEST_CRLF", "abc\r\nX-Injected: 1")
	s, err := load(t, "env://NONO_TEST_KEY")
	if err != nil || string(s.Bytes()) != testValue {
		t.Fatalf("env load = %v, %v", s, err)
	}
	for _, v := range []string{"NONO_TEST_EMPTY", "NONO_TEST_DEFINITELY_UNSET"} {
		if _, err := load(t, "env://"+v); !errors.Is(err, ErrNotFound) || !strings.Contains(err.Error(), v) {
			t.Errorf("env://%s: err = %v, want ErrNotFound naming the variable", v, err)
		}
	}
	_, err = load(t, "env://NONO_TEST_CRLF")
	if !errors.Is(err, ErrUnsafeSecret) || strings.Contains(err.Error(), "Injected") {
		t.Errorf("CRLF env secret: err = %v", err)
	}
}

func writeFile(t *testing.T, p string, data []byte) {
	t.Helper()
	if err := os.WriteFile(p, data, 0o600); err != nil {
		t.Fatal(err)
	}
}

func TestFileBackend(t *testing.T) {
	dir := t.TempDir()
	plain := filepath.Join(dir, "plain")
	writeFile(t, plain, []byte(testValue+"\n"))
	crlf := filepath.Join(dir, "crlf")
	writeFile(t, crlf, []byte(testValue+"\r\n"))
	twoNL := filepath.Join(dir, "twonl")
	writeFile(t, twoNL, []byte(testValue+"\n\n"))
	multi := filepath.Join(dir, "multi")
	writeFile(t, multi, []byte("line1\nline2\n"))
	big := filepath.Join(dir, "big")
	writeFile(t, big, bytes.Repeat([]byte("a"), MaxSecretSize+1))
	exact := filepath.Join(dir, "exact")
	writeFile(t, exact, bytes.Repeat([]byte("b"), MaxSecretSize))
	empty := filepath.Join(dir, "empty")
	writeFile(t, empty, nil)
	subdir := filepath.Join(dir, "sub")
	if err := os.Mkdir(subdir, 0o700); err != nil {
		t.Fatal(err)
	}
	linkFile := filepath.Join(dir, "link-to-plain")
	linkDir := filepath.Join(dir, "link-to-dir")
	linkDangling := filepath.Join(dir, "dangling")
	for target, link := range map[string]string{plain: linkFile, subdir: linkDir, filepath.Join(dir, "nope"): linkDangling} {
		if err := os.Symlink(target, link); err != nil {
			t.Fatal(err)
		}
	}
	fifo := filepath.Join(dir, "fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}

	for _, p := range []string{plain, crlf, linkFile} {
		s, err := load(t, "file://"+p)
		if err != nil || string(s.Bytes()) != testValue {
			t.Errorf("%s: got %v, %v", filepath.Base(p), s, err)
		}
	}
	if s, err := load(t, "file://"+exact); err != nil || s.Len() != MaxSecretSize {
		t.Errorf("exactly the size cap: %v", err)
	}
	fails := []struct {
		path string
		want string
		is   error
	}{
		{twoNL, "CR, LF or NUL", ErrUnsafeSecret},
		{multi, "CR, LF or NUL", ErrUnsafeSecret},
		{big, "limit", nil},
		{empty, "empty", ErrEmptySecret},
		{subdir, "not a regular file", nil},
		{linkDir, "not a regular file", nil},
		{fifo, "not a regular file", nil}, // non-blocking open: must not hang
		{linkDangling, "does not exist", ErrNotFound},
		{filepath.Join(dir, "missing"), "does not exist", ErrNotFound},
	}
	for _, f := range fails {
		_, err := load(t, "file://"+f.path)
		if err == nil || !strings.Contains(err.Error(), f.want) || f.is != nil && !errors.Is(err, f.is) {
			t.Errorf("%s: err = %v, want %q", filepath.Base(f.path), err, f.want)
		}
		if err != nil && strings.Contains(err.Error(), "line1") {
			t.Errorf("error leaks content: %v", err)
		}
	}
	if _, err := ParseRef("file://sub/relative"); err == nil {
		t.Errorf("relative file ref accepted")
	}
}

func TestApplePasswordOffMacOS(t *testing.T) {
	if runtime.GOOS == "darwin" {
		t.Skip("macOS has Apple Passwords")
	}
	_, err := load(t, "apple-password://github.com/alice@example.com")
	if !errors.Is(err, ErrUnsupportedPlatform) || !strings.Contains(err.Error(), "macOS") {
		t.Fatalf("err = %v", err)
	}
}

type mapLoader map[string]string

func (m mapLoader) Load(_ context.Context, ref Ref) (*Secret, error) {
	v, ok := m[ref.String()]
	if !ok {
		return nil, ErrNotFound
	}
	return NewSecret([]byte(v))
}

func TestLoadAllWipesOnFailure(t *testing.T) {
	var loaded []*Secret
	inner := mapLoader{"a_key": "value-a", "env://B": "value-b"}
	l := LoadFunc(func(ctx context.Context, ref Ref) (*Secret, error) {
		s, err := inner.Load(ctx, ref)
		if err == nil {
			loaded = append(loaded, s)
		}
		return s, err
	})
	refs := []NamedRef{
		{"alpha", MustParseRef("a_key")},
		{"beta", MustParseRef("env://B")},
		{"gamma", MustParseRef("op://Vault/Missing/field")},
	}
	got, err := LoadAll(context.Background(), l, refs)
	if err == nil || got != nil {
		t.Fatalf("LoadAll succeeded: %v", got)
	}
	if !errors.Is(err, ErrNotFound) || !strings.Contains(err.Error(), `"gamma"`) || !strings.Contains(err.Error(), "op://Vault/Missing/field") {
		t.Errorf("err = %v, want it to name credential and ref", err)
	}
	if len(loaded) != 2 {
		t.Fatalf("loaded %d secrets before failing", len(loaded))
	}
	for _, s := range loaded {
		if s.Len() != 0 {
			t.Errorf("secret not wiped after LoadAll failure")
		}
	}
}

func TestLoadAllSuccessAndDuplicates(t *testing.T) {
	calls := 0
	l := LoadFunc(func(ctx context.Context, ref Ref) (*Secret, error) {
		calls++
		return mapLoader{"a_key": "value-a"}.Load(ctx, ref)
	})
	got, err := LoadAll(context.Background(), l, []NamedRef{{"x", MustParseRef("a_key")}, {"y", MustParseRef("a_key")}})
	if err != nil {
		t.Fatal(err)
	}
	if calls != 1 || string(got["x"].Bytes()) != "value-a" || string(got["y"].Bytes()) != "value-a" {
		t.Fatalf("calls %d, got %v", calls, got)
	}
	got["x"].Wipe()
	if string(got["y"].Bytes()) != "value-a" {
		t.Fatalf("duplicate shares storage with the original")
	}
	WipeAll(got)
	if _, err := LoadAll(context.Background(), l, []NamedRef{{"x", MustParseRef("a_key")}, {"x", MustParseRef("a_key")}}); err == nil {
		t.Fatal("duplicate names accepted")
	}
}

func TestResolverTimeoutAndMissingBackend(t *testing.T) {
	block := LoadFunc(func(ctx context.Context, _ Ref) (*Secret, error) {
		<-ctx.Done()
		return nil, ctx.Err()
	})
	r := &Resolver{Backends: map[Scheme]Loader{SchemeEnv: block}, Timeout: time.Millisecond}
	if _, err := r.Load(context.Background(), MustParseRef("env://X")); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("err = %v, want deadline exceeded", err)
	}
	if _, err := r.Load(context.Background(), MustParseRef("file:///x")); err == nil || !strings.Contains(err.Error(), "no backend") {
		t.Errorf("missing backend: err = %v", err)
	}
	huge := LoadFunc(func(context.Context, Ref) (*Secret, error) {
		return NewSecret(bytes.Repeat([]byte("x"), MaxSecretSize+1))
	})
	r = &Resolver{Backends: map[Scheme]Loader{SchemeEnv: huge}}
	if _, err := r.Load(context.Background(), MustParseRef("env://X")); err == nil {
		t.Error("oversized secret accepted")
	}
}
