package certs

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// fakeSystemBundle writes a bundle with two roots from other CAs and, to
// check it is never copied, a private key block.
func fakeSystemBundle(t *testing.T) (path string, rootsPEM [][]byte) {
	t.Helper()
	var buf bytes.Buffer
	for _, h := range []string{"one.test", "two.test"} {
		other := newCA(t, h)
		p := other.CertPEM()
		rootsPEM = append(rootsPEM, p)
		buf.Write(p)
		buf.WriteString("junk between blocks\n")
	}
	k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	der, _ := x509.MarshalECPrivateKey(k)
	pem.Encode(&buf, &pem.Block{Type: "EC PRIVATE KEY", Bytes: der})
	path = filepath.Join(t.TempDir(), "system.pem")
	if err := os.WriteFile(path, buf.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	return path, rootsPEM
}

func TestWriteBundle(t *testing.T) {
	sys, roots := fakeSystemBundle(t)
	t.Setenv("SSL_CERT_FILE", sys)
	ca := newCA(t, "api.openai.com")
	dir := t.TempDir()
	path, err := bundlePath(ca.WriteBundle(dir))
	if err != nil {
		t.Fatalf("WriteBundle: %v", err)
	}
	if path != filepath.Join(dir, BundleFileName) {
		t.Errorf("path %q", path)
	}
	fi, err := os.Lstat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode() != 0o400 {
		t.Errorf("mode %v, want 0400", fi.Mode())
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range roots {
		if !bytes.Contains(data, r) {
			t.Error("a system root is missing from the bundle")
		}
	}
	if !bytes.HasSuffix(data, ca.CertPEM()) {
		t.Error("the bundle does not end with the session CA")
	}
	if strings.Contains(string(data), "PRIVATE KEY") || strings.Contains(string(data), "junk") {
		t.Error("non-certificate content was copied into the bundle")
	}
	if n := strings.Count(string(data), "BEGIN CERTIFICATE"); n != 3 {
		t.Errorf("%d certificates, want 3", n)
	}

	// Exclusive creation: a second write, or a planted symlink, fails.
	if _, err := bundlePath(ca.WriteBundle(dir)); err == nil {
		t.Error("second WriteBundle overwrote the bundle")
	}
	dir2 := t.TempDir()
	target := filepath.Join(dir2, "target")
	os.WriteFile(target, []byte("x"), 0o600)
	os.Symlink(target, filepath.Join(dir2, BundleFileName))
	if _, err := bundlePath(ca.WriteBundle(dir2)); err == nil {
		t.Error("WriteBundle followed a symlink")
	}
	if got, _ := os.ReadFile(target); string(got) != "x" {
		t.Error("symlink target was modified")
	}
	if _, err := bundlePath(ca.WriteBundle(filepath.Join(dir, "missing"))); err == nil {
		t.Error("WriteBundle into a missing directory succeeded")
	}
}

func TestWriteBundleFallsBackToDefault(t *testing.T) {
	sys, roots := fakeSystemBundle(t)
	t.Setenv("SSL_CERT_FILE", filepath.Join(t.TempDir(), "absent.pem"))
	defaultSystemBundle = sys
	t.Cleanup(func() { defaultSystemBundle = "/etc/ssl/certs/ca-certificates.crt" })
	ca := newCA(t, "api.openai.com")
	path, err := bundlePath(ca.WriteBundle(t.TempDir()))
	if err != nil {
		t.Fatal(err)
	}
	data, _ := os.ReadFile(path)
	if !bytes.Contains(data, roots[0]) {
		t.Error("default bundle not used")
	}
}

func TestWriteBundleWithoutSystemRoots(t *testing.T) {
	empty := filepath.Join(t.TempDir(), "empty.pem")
	os.WriteFile(empty, []byte("no pem here"), 0o600)
	t.Setenv("SSL_CERT_FILE", empty)
	defaultSystemBundle = filepath.Join(t.TempDir(), "absent.pem")
	t.Cleanup(func() { defaultSystemBundle = "/etc/ssl/certs/ca-certificates.crt" })
	ca := newCA(t, "api.openai.com")
	path, err := bundlePath(ca.WriteBundle(t.TempDir()))
	if !errors.Is(err, ErrNoSystemRoots) || path == "" {
		t.Fatalf("got %q, %v; want a path and ErrNoSystemRoots", path, err)
	}
	data, _ := os.ReadFile(path)
	if !bytes.Equal(data, ca.CertPEM()) {
		t.Error("bundle should hold exactly the session CA")
	}
}

func TestEnvVars(t *testing.T) {
	got := EnvVars("/s/b.pem")
	want := []string{"SSL_CERT_FILE", "REQUESTS_CA_BUNDLE", "NODE_EXTRA_CA_CERTS", "CURL_CA_BUNDLE", "GIT_SSL_CAINFO"}
	if len(got) != len(want) {
		t.Fatalf("got %q", got)
	}
	for i, w := range want {
		if got[i] != w+"=/s/b.pem" {
			t.Errorf("got %q, want %s=/s/b.pem", got[i], w)
		}
	}
}

// bundlePath closes the bundle WriteBundle returns and gives its path.
func bundlePath(f *os.File, err error) (string, error) {
	if f == nil {
		return "", err
	}
	f.Close()
	return f.Name(), err
}
