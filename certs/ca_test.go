package certs

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

func newCA(t testing.TB, hosts ...string) *CA {
	t.Helper()
	ca, err := NewSessionCA(hosts, time.Now())
	if err != nil {
		t.Fatalf("NewSessionCA(%q): %v", hosts, err)
	}
	t.Cleanup(ca.Close)
	return ca
}

func hello(name string) *tls.ClientHelloInfo { return &tls.ClientHelloInfo{ServerName: name} }

var oidNameConstraints = asn1.ObjectIdentifier{2, 5, 29, 30}

func TestCAProperties(t *testing.T) {
	now := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	ca, err := NewSessionCA([]string{"API.openai.com.", "*.githubusercontent.com", "api.openai.com", "bücher.example"}, now)
	if err != nil {
		t.Fatal(err)
	}
	defer ca.Close()
	// Parse the DER afresh, as a client would.
	c, err := x509.ParseCertificate(ca.der)
	if err != nil {
		t.Fatal(err)
	}
	if !c.IsCA || !c.BasicConstraintsValid || c.MaxPathLen != 0 || !c.MaxPathLenZero {
		t.Errorf("basic constraints: IsCA=%v MaxPathLen=%d zero=%v", c.IsCA, c.MaxPathLen, c.MaxPathLenZero)
	}
	pub, ok := c.PublicKey.(*ecdsa.PublicKey)
	if !ok || pub.Curve != elliptic.P256() {
		t.Errorf("key is %T, want ECDSA P-256", c.PublicKey)
	}
	if !c.NotBefore.Before(now) || c.NotBefore.Before(now.Add(-time.Hour)) {
		t.Errorf("NotBefore %v is not slightly before %v", c.NotBefore, now)
	}
	if !c.NotAfter.Equal(now.Add(24 * time.Hour)) {
		t.Errorf("NotAfter %v, want now+24h", c.NotAfter)
	}
	if c.KeyUsage&x509.KeyUsageCertSign == 0 {
		t.Error("no keyCertSign")
	}
	want := []string{"api.openai.com", ".githubusercontent.com", "xn--bcher-kva.example"}
	if !slices.Equal(c.PermittedDNSDomains, want) {
		t.Errorf("PermittedDNSDomains = %q, want %q", c.PermittedDNSDomains, want)
	}
	if !c.PermittedDNSDomainsCritical {
		t.Error("name constraints are not critical")
	}
	if len(c.ExcludedIPRanges) != 2 {
		t.Errorf("ExcludedIPRanges = %v, want all IPv4 and IPv6", c.ExcludedIPRanges)
	}
	found := false
	for _, e := range c.Extensions {
		if e.Id.Equal(oidNameConstraints) {
			found = true
			if !e.Critical {
				t.Error("name constraints extension is not marked critical")
			}
		}
	}
	if !found {
		t.Error("no name constraints extension")
	}
}

func TestNewSessionCARefuses(t *testing.T) {
	for _, hosts := range [][]string{
		nil,
		{},
		{""},
		{"127.0.0.1"},
		{"::1"},
		{"[::1]"},
		{"127.1"},
		{"a..b"},
		{"-a.com"},
		{"a_b.com"},
		{"a b.com"},
		{"evil.com\x00.api.openai.com"},
		{"*"},
		{"*.*.com"},
		{strings.Repeat("a", 64) + ".com"},
	} {
		if ca, err := NewSessionCA(hosts, time.Now()); err == nil {
			ca.Close()
			t.Errorf("NewSessionCA(%q) succeeded", hosts)
		}
	}
}

func TestGetCertificateNames(t *testing.T) {
	ca := newCA(t, "api.openai.com", "*.example.org")
	for _, name := range []string{"api.openai.com", "API.OpenAI.com", "api.openai.com.", "a.example.org", "x.y.example.org"} {
		cert, err := ca.GetCertificate(hello(name))
		if err != nil {
			t.Errorf("GetCertificate(%q): %v", name, err)
			continue
		}
		want := strings.TrimSuffix(strings.ToLower(name), ".")
		if !slices.Equal(cert.Leaf.DNSNames, []string{want}) || cert.Leaf.Subject.CommonName != want {
			t.Errorf("leaf for %q has names %q / %q", name, cert.Leaf.DNSNames, cert.Leaf.Subject.CommonName)
		}
		if len(cert.Certificate) != 2 || string(cert.Certificate[1]) != string(ca.der) {
			t.Errorf("chain for %q is not [leaf, CA]", name)
		}
	}
	for _, name := range []string{
		"", "evil.com", "x.api.openai.com", "openai.com", "api.openai.com.evil.com",
		"example.org", "aexample.org", "127.0.0.1", "::1", "api.openai.com..",
		"api\x00.openai.com", "api.openai.com\n", "xn--api.openai.com",
	} {
		if _, err := ca.GetCertificate(hello(name)); err == nil {
			t.Errorf("GetCertificate(%q) minted a leaf", name)
		}
	}
	// A CA for api.openai.com can never mint for evil.com.
	only := newCA(t, "api.openai.com")
	_, err := only.GetCertificate(hello("evil.com"))
	if !errors.Is(err, ErrNameNotAllowed) {
		t.Fatalf("evil.com: got %v, want ErrNameNotAllowed", err)
	}
	if n := only.cache.len(); n != 0 {
		t.Fatalf("refused name cached: %d", n)
	}
}

func TestLeafIsCachedAndVerifies(t *testing.T) {
	ca := newCA(t, "api.openai.com")
	a, err := ca.GetCertificate(hello("api.openai.com"))
	if err != nil {
		t.Fatal(err)
	}
	b, err := ca.GetCertificate(hello("API.OPENAI.COM"))
	if err != nil || a != b {
		t.Fatalf("second lookup minted again (%p vs %p, %v)", a, b, err)
	}
	roots := x509.NewCertPool()
	roots.AddCert(ca.Certificate())
	if _, err := a.Leaf.Verify(x509.VerifyOptions{DNSName: "api.openai.com", Roots: roots}); err != nil {
		t.Fatalf("leaf does not verify: %v", err)
	}
	if !a.Leaf.NotAfter.Equal(ca.Certificate().NotAfter) || a.Leaf.NotBefore.Before(ca.Certificate().NotBefore) {
		t.Errorf("leaf validity %v..%v outside CA validity", a.Leaf.NotBefore, a.Leaf.NotAfter)
	}
	if len(a.Leaf.AuthorityKeyId) == 0 {
		t.Error("leaf has no AuthorityKeyId")
	}
}

func TestLeafCacheBounded(t *testing.T) {
	ca := newCA(t, "*.example.org")
	ca.cache = newLeafCache(8)
	first, err := ca.GetCertificate(hello("keep.example.org"))
	if err != nil {
		t.Fatal(err)
	}
	for i := range 100 {
		if i%4 == 0 { // keep "keep" recently used
			if c, _ := ca.GetCertificate(hello("keep.example.org")); c != first {
				t.Fatal("recently used leaf was evicted")
			}
		}
		if _, err := ca.GetCertificate(hello(fmt.Sprintf("h%d.example.org", i))); err != nil {
			t.Fatal(err)
		}
		if n := ca.cache.len(); n > 8 {
			t.Fatalf("cache grew to %d entries, bound is 8", n)
		}
	}
	if ca.cache.get("h0.example.org") != nil {
		t.Error("least recently used leaf was not evicted")
	}
	if ca.cache.get("h99.example.org") == nil {
		t.Error("newest leaf missing")
	}
	if ca.cache.len() != 8 || len(ca.cache.m) != 8 {
		t.Errorf("list %d / map %d out of sync", ca.cache.len(), len(ca.cache.m))
	}
}

func TestDefaultCacheBound(t *testing.T) {
	ca := newCA(t, "a.example")
	if ca.cache.max != DefaultLeafCacheSize || DefaultLeafCacheSize > 4096 {
		t.Fatalf("default bound %d", ca.cache.max)
	}
}

func TestConcurrentGetCertificate(t *testing.T) {
	ca := newCA(t, "*.example.org")
	var wg sync.WaitGroup
	certs := make([]*tls.Certificate, 16)
	for i := range certs {
		wg.Go(func() {
			c, err := ca.GetCertificate(hello(fmt.Sprintf("h%d.example.org", i%2)))
			if err != nil {
				t.Error(err)
			}
			certs[i] = c
		})
	}
	wg.Wait()
	for i := range certs {
		if certs[i] == nil || certs[i] != certs[i%2] {
			t.Fatal("concurrent callers got different leaves for one name")
		}
	}
	if certs[0] == certs[1] {
		t.Fatal("two names share a leaf")
	}
}

// forge signs a certificate with the CA key directly, bypassing the name
// check, as an attacker holding a leaked CA key would.
func forge(t *testing.T, ca *CA, parent *x509.Certificate, signer *ecdsa.PrivateKey, tmpl *x509.Certificate) (*x509.Certificate, *ecdsa.PrivateKey) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl.SerialNumber = big.NewInt(time.Now().UnixNano())
	tmpl.NotBefore = ca.cert.NotBefore
	tmpl.NotAfter = ca.cert.NotAfter
	if tmpl.KeyUsage == 0 {
		tmpl.KeyUsage = x509.KeyUsageDigitalSignature
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, &key.PublicKey, signer)
	if err != nil {
		t.Fatal(err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return c, key
}

// TestNameConstraintsEnforcedByVerifier proves the constraint, not only our
// minting check, limits the CA: leaves forged with the CA key for other names
// or IPs, or through a forged intermediate, fail x509 verification.
func TestNameConstraintsEnforcedByVerifier(t *testing.T) {
	ca := newCA(t, "api.openai.com")
	roots := x509.NewCertPool()
	roots.AddCert(ca.Certificate())

	evil, _ := forge(t, ca, ca.cert, ca.key, &x509.Certificate{Subject: pkix.Name{CommonName: "evil.com"}, DNSNames: []string{"evil.com"}})
	_, err := evil.Verify(x509.VerifyOptions{DNSName: "evil.com", Roots: roots})
	var inv x509.CertificateInvalidError
	if !errors.As(err, &inv) || inv.Reason != x509.CANotAuthorizedForThisName {
		t.Errorf("forged evil.com leaf: got %v, want CANotAuthorizedForThisName", err)
	}

	ip, _ := forge(t, ca, ca.cert, ca.key, &x509.Certificate{Subject: pkix.Name{CommonName: "x"}, IPAddresses: []net.IP{net.ParseIP("169.254.169.254")}})
	if _, err := ip.Verify(x509.VerifyOptions{DNSName: "169.254.169.254", Roots: roots}); err == nil {
		t.Error("forged IP leaf verified")
	}

	// A leaf that sneaks an extra forbidden SAN next to the allowed one.
	mixed, _ := forge(t, ca, ca.cert, ca.key, &x509.Certificate{DNSNames: []string{"api.openai.com", "evil.com"}})
	if _, err := mixed.Verify(x509.VerifyOptions{DNSName: "api.openai.com", Roots: roots}); err == nil {
		t.Error("leaf with a forbidden extra SAN verified")
	}

	// MaxPathLen 0: an intermediate forged under the CA cannot issue.
	inter, interKey := forge(t, ca, ca.cert, ca.key, &x509.Certificate{
		Subject: pkix.Name{CommonName: "forged intermediate"}, IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	})
	leaf, _ := forge(t, ca, inter, interKey, &x509.Certificate{DNSNames: []string{"api.openai.com"}})
	inters := x509.NewCertPool()
	inters.AddCert(inter)
	if _, err := leaf.Verify(x509.VerifyOptions{DNSName: "api.openai.com", Roots: roots, Intermediates: inters}); err == nil {
		t.Error("leaf under a forged intermediate verified despite MaxPathLen 0")
	}

	// Control: a forged leaf for the permitted name does verify, so the
	// failures above are due to the constraints.
	good, _ := forge(t, ca, ca.cert, ca.key, &x509.Certificate{DNSNames: []string{"api.openai.com"}})
	if _, err := good.Verify(x509.VerifyOptions{DNSName: "api.openai.com", Roots: roots}); err != nil {
		t.Errorf("control leaf failed: %v", err)
	}
}

func TestExpiredCAMintsNothing(t *testing.T) {
	ca, err := NewSessionCA([]string{"api.openai.com"}, time.Now().Add(-25*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	defer ca.Close()
	if _, err := ca.GetCertificate(hello("api.openai.com")); err == nil || !strings.Contains(err.Error(), "expired") {
		t.Fatalf("expired CA: %v", err)
	}
}

func TestClose(t *testing.T) {
	ca, err := NewSessionCA([]string{"api.openai.com"}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := ca.GetCertificate(hello("api.openai.com"))
	if err != nil {
		t.Fatal(err)
	}
	key := ca.key
	ca.Close()
	ca.Close() // idempotent
	if ca.key != nil || key.D.Sign() != 0 {
		t.Error("CA key not wiped")
	}
	if lk := leaf.PrivateKey.(*ecdsa.PrivateKey); lk.D.Sign() != 0 {
		t.Error("leaf key not wiped")
	}
	if ca.cache.len() != 0 {
		t.Error("cache not emptied")
	}
	if _, err := ca.GetCertificate(hello("api.openai.com")); err == nil {
		t.Error("closed CA minted a leaf")
	}
}

// TestTLSHandshake runs a real crypto/tls client that trusts only the
// written bundle against a tls.Server using the CA's config, on loopback.
func TestTLSHandshake(t *testing.T) {
	t.Setenv("SSL_CERT_FILE", filepath.Join(t.TempDir(), "absent.pem"))
	defaultSystemBundle = filepath.Join(t.TempDir(), "absent-too.pem")
	t.Cleanup(func() { defaultSystemBundle = "/etc/ssl/certs/ca-certificates.crt" })

	ca := newCA(t, "api.openai.com", "*.example.org")
	path, err := bundlePath(ca.WriteBundle(t.TempDir()))
	if !errors.Is(err, ErrNoSystemRoots) {
		t.Fatalf("WriteBundle: %v (want the no-system-roots warning)", err)
	}
	pemData, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(pemData) {
		t.Fatal("bundle has no certificates")
	}

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer conn.Close()
				s := tls.Server(conn, ca.TLSConfig())
				if s.Handshake() == nil {
					s.Write([]byte("ok"))
				}
			}()
		}
	}()

	dial := func(sni string, alpn []string) (*tls.Conn, error) {
		return tls.Dial("tcp", ln.Addr().String(), &tls.Config{ServerName: sni, RootCAs: roots, NextProtos: alpn})
	}
	for _, sni := range []string{"api.openai.com", "deep.sub.example.org"} {
		conn, err := dial(sni, []string{"h2", "http/1.1"})
		if err != nil {
			t.Fatalf("handshake for %s: %v", sni, err)
		}
		st := conn.ConnectionState()
		if st.NegotiatedProtocol != "h2" || st.Version < tls.VersionTLS12 {
			t.Errorf("%s: ALPN %q version %x", sni, st.NegotiatedProtocol, st.Version)
		}
		buf := make([]byte, 2)
		if _, err := conn.Read(buf); err != nil || string(buf) != "ok" {
			t.Errorf("%s: read %q %v", sni, buf, err)
		}
		conn.Close()
	}
	if conn, err := dial("api.openai.com", []string{"http/1.1"}); err != nil || conn.ConnectionState().NegotiatedProtocol != "http/1.1" {
		t.Errorf("http/1.1 ALPN: %v", err)
	} else {
		conn.Close()
	}
	for _, sni := range []string{"evil.com", "openai.com", "example.org"} {
		if conn, err := dial(sni, nil); err == nil {
			conn.Close()
			t.Errorf("handshake for %s succeeded outside the constraint", sni)
		}
	}
	// TLS 1.1 and older are refused.
	if conn, err := tls.Dial("tcp", ln.Addr().String(), &tls.Config{ServerName: "api.openai.com", RootCAs: roots, MaxVersion: tls.VersionTLS11}); err == nil {
		conn.Close()
		t.Error("TLS 1.1 handshake succeeded")
	}
}
