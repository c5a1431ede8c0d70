package certs

import (
	"bytes"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"syscall"
)

// BundleFileName is the name WriteBundle gives the trust bundle in its dir.
const BundleFileName = "nono-ca-bundle.pem"

// defaultSystemBundle is the Debian/Ubuntu/Alpine system bundle; tests swap it.
var defaultSystemBundle = "/etc/ssl/certs/ca-certificates.crt"

const maxSystemBundle = 32 << 20

// ErrNoSystemRoots is returned, wrapped, by WriteBundle together with a valid
// path when no system roots could be read: the bundle was written with only
// the session CA. Treat it as a warning (intercepted hosts still work, other
// HTTPS from the child will fail to verify).
var ErrNoSystemRoots = errors.New("no system CA roots found; the trust bundle holds only the session CA")

// WriteBundle writes dir/BundleFileName: the CERTIFICATE blocks of the system
// bundle ($SSL_CERT_FILE of this process if set and readable, else
// /etc/ssl/certs/ca-certificates.crt) followed by the session CA. The file is
// created exclusively (an existing file or symlink is an error), mode 0400.
// Only certificates are copied, never other PEM blocks such as keys. dir
// must exist; make it private (0700) to the session. The file is returned
// still open (its Name is the path) so the caller can tie the child's read
// grant to it rather than to a name another sandbox could swap
// (sandbox.Grant.Handle); the caller closes it. A non-nil file comes with a
// nil error or ErrNoSystemRoots.
func (c *CA) WriteBundle(dir string) (*os.File, error) {
	roots, warn := systemRoots()
	var buf bytes.Buffer
	buf.Write(roots)
	buf.Write(c.CertPEM())

	path := filepath.Join(dir, BundleFileName)
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL|syscall.O_NOFOLLOW|syscall.O_CLOEXEC, 0o400)
	if err != nil {
		return nil, fmt.Errorf("write trust bundle: %w (the session directory must exist and not contain %s yet)", err, BundleFileName)
	}
	_, err = f.Write(buf.Bytes())
	if err == nil {
		err = f.Chmod(0o400) // independent of umask
	}
	if err == nil {
		err = f.Sync()
	}
	if err != nil {
		f.Close()
		os.Remove(path)
		return nil, fmt.Errorf("write trust bundle %s: %w", path, err)
	}
	return f, warn
}

// EnvVars points the common TLS stacks at the bundle: OpenSSL and Go
// (SSL_CERT_FILE), Python requests, Node (extra CAs), curl and git.
func EnvVars(path string) []string {
	return []string{
		"SSL_CERT_FILE=" + path,
		"REQUESTS_CA_BUNDLE=" + path,
		"NODE_EXTRA_CA_CERTS=" + path,
		"CURL_CA_BUNDLE=" + path,
		"GIT_SSL_CAINFO=" + path,
	}
}

// systemRoots returns the PEM certificates of the first readable system
// bundle with at least one certificate, or a wrapped ErrNoSystemRoots.
func systemRoots() ([]byte, error) {
	var tried []error
	var sources []string
	if env := os.Getenv("SSL_CERT_FILE"); env != "" {
		sources = append(sources, env)
	}
	sources = append(sources, defaultSystemBundle)
	for _, src := range sources {
		certs, err := readCertificates(src)
		if err == nil {
			return certs, nil
		}
		tried = append(tried, err)
	}
	return nil, fmt.Errorf("%w: %w", ErrNoSystemRoots, errors.Join(tried...))
}

func readCertificates(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxSystemBundle+1))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	if len(data) > maxSystemBundle {
		return nil, fmt.Errorf("%s is larger than %d bytes", path, maxSystemBundle)
	}
	var out bytes.Buffer
	n := 0
	for {
		var b *pem.Block
		b, data = pem.Decode(data)
		if b == nil {
			break
		}
		if b.Type != "CERTIFICATE" || len(b.Headers) != 0 {
			continue
		}
		if err := pem.Encode(&out, b); err != nil {
			return nil, err
		}
		n++
	}
	if n == 0 {
		return nil, fmt.Errorf("%s holds no PEM certificates", path)
	}
	return out.Bytes(), nil
}
