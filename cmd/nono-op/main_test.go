package main

import (
	"context"
	"errors"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nono-sandbox/nono/credentials"
)

// TestRealHelperBogusToken builds the real nono-op and loads an op:// ref
// through it with a malformed service account token: the SDK must refuse
// it with an error that names OP_SERVICE_ACCOUNT_TOKEN, not the token,
// within the timeout and without touching the network (the SDK's HTTP
// client would go through HTTPS_PROXY, a listener that counts connections).
func TestRealHelperBogusToken(t *testing.T) {
	if testing.Short() {
		t.Skip("builds nono-op with the 1Password SDK")
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, credentials.OPHelperName)
	build := exec.Command("go", "build", "-trimpath", "-o", bin, ".")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	if out, err := exec.Command(bin, "--version").Output(); err != nil || !strings.HasPrefix(string(out), "nono-op ") {
		t.Fatalf("nono-op --version: %q, %v", out, err)
	}
	if err := os.WriteFile(filepath.Join(dir, "nono"), nil, 0o755); err != nil {
		t.Fatal(err)
	}

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	var conns atomic.Int32
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			conns.Add(1)
			c.Close()
		}
	}()
	t.Setenv("HTTPS_PROXY", "http://"+ln.Addr().String())
	t.Setenv("NO_PROXY", "")

	const token = "ops_notarealtoken"
	op := &credentials.OnePassword{
		Token:      func() string { return token },
		Executable: func() (string, error) { return filepath.Join(dir, "nono"), nil },
		LookPath:   func(string) (string, error) { return "", errors.New("PATH must not be searched") },
	}
	defer op.Close()
	r := &credentials.Resolver{Backends: map[credentials.Scheme]credentials.Loader{credentials.SchemeOnePassword: op}, Timeout: 60 * time.Second}
	start := time.Now()
	s, err := r.Load(context.Background(), credentials.MustParseRef("op://Vault/Item/field"))
	t.Logf("refused after %v: %v", time.Since(start).Round(time.Millisecond), err)
	if err == nil {
		t.Fatalf("a bogus token resolved to %v", s)
	}
	if errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("nono-op did not answer in time: %v", err)
	}
	msg := err.Error()
	if !strings.Contains(msg, credentials.OPServiceAccountTokenVar) || !strings.Contains(msg, "token") || strings.Contains(msg, "notarealtoken") {
		t.Fatalf("error should name %s and not show the token: %v", credentials.OPServiceAccountTokenVar, msg)
	}
	if n := conns.Load(); n != 0 {
		t.Fatalf("the SDK made %d network connections for a malformed token", n)
	}
}
