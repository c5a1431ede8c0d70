package certs

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"strings"
	"sync"
	"time"

	"golang.org/x/net/idna"
)

const (
	// CAValidity is how long the session CA (and so every leaf) is valid.
	CAValidity = 24 * time.Hour
	// backdate tolerates clocks slightly behind ours.
	backdate = 5 * time.Minute
	// DefaultLeafCacheSize bounds the number of cached leaves.
	DefaultLeafCacheSize = 1024
)

// ErrNameNotAllowed is wrapped when a leaf is asked for a name outside the
// intercepted hosts; the caller must refuse the handshake.
var ErrNameNotAllowed = errors.New("name is not an intercepted host")

// CA is a session CA. It is safe for concurrent use.
type CA struct {
	mu     sync.RWMutex // guards key and closed
	key    *ecdsa.PrivateKey
	closed bool

	cert    *x509.Certificate
	der     []byte
	exact   map[string]bool
	suffixs []string // ".example.com" for a "*.example.com" host
	cache   *leafCache
}

// NewSessionCA creates a CA name-constrained to hosts, valid from now
// (backdated a few minutes) for CAValidity. A host is a DNS name (Unicode is
// converted to its ASCII form) or "*.suffix" for strict subdomains of suffix.
// IP literals are refused: names only.
func NewSessionCA(hosts []string, now time.Time) (*CA, error) {
	if len(hosts) == 0 {
		return nil, errors.New("session CA: no hosts to intercept; a CA without name constraints is never created")
	}
	c := &CA{exact: map[string]bool{}, cache: newLeafCache(DefaultLeafCacheSize)}
	var permitted []string
	seen := map[string]bool{}
	for _, h := range hosts {
		wild := strings.HasPrefix(h, "*.")
		name, err := idna.Lookup.ToASCII(strings.TrimSuffix(strings.TrimPrefix(h, "*."), "."))
		if err != nil {
			return nil, fmt.Errorf("session CA: intercepted host %q is not a valid DNS name: %w", h, err)
		}
		if name, err = canonicalName(name); err != nil {
			return nil, fmt.Errorf("session CA: intercepted host %q: %w", h, err)
		}
		constraint := name
		if wild {
			constraint = "." + name
			c.suffixs = append(c.suffixs, constraint)
		} else {
			c.exact[name] = true
		}
		if !seen[constraint] {
			seen[constraint] = true
			permitted = append(permitted, constraint)
		}
	}

	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("session CA: generate key: %w", err)
	}
	serial, err := randomSerial()
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject: pkix.Name{
			Organization: []string{"nono"},
			CommonName:   "nono session CA " + hex.EncodeToString(serial.Bytes()[:4]),
		},
		NotBefore:                   now.Add(-backdate),
		NotAfter:                    now.Add(CAValidity),
		KeyUsage:                    x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
		ExtKeyUsage:                 []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid:       true,
		IsCA:                        true,
		MaxPathLen:                  0,
		MaxPathLenZero:              true,
		PermittedDNSDomainsCritical: true,
		PermittedDNSDomains:         permitted,
		ExcludedIPRanges: []*net.IPNet{
			{IP: net.IPv4zero.To4(), Mask: net.CIDRMask(0, 32)},
			{IP: net.IPv6zero, Mask: net.CIDRMask(0, 128)},
		},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		wipeKey(key)
		return nil, fmt.Errorf("session CA: create certificate: %w", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		wipeKey(key)
		return nil, fmt.Errorf("session CA: parse own certificate: %w", err)
	}
	c.key, c.cert, c.der = key, cert, der
	return c, nil
}

// Certificate returns the parsed CA certificate (public data).
func (c *CA) Certificate() *x509.Certificate { return c.cert }

// CertPEM returns the CA certificate in PEM form.
func (c *CA) CertPEM() []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.der})
}

// TLSConfig returns a server config that mints leaves with GetCertificate,
// TLS 1.2 or later, offering h2 and http/1.1 by ALPN.
func (c *CA) TLSConfig() *tls.Config {
	return &tls.Config{
		MinVersion:     tls.VersionTLS12,
		GetCertificate: c.GetCertificate,
		NextProtos:     []string{"h2", "http/1.1"},
	}
}

// GetCertificate returns the leaf for the client's SNI, minting and caching
// it on first use. It fails for a missing SNI, an IP literal, a name outside
// the intercepted hosts, an expired or closed CA: the handshake then fails.
func (c *CA) GetCertificate(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
	name, err := c.allowedName(hello.ServerName)
	if err != nil {
		return nil, err
	}
	if cert := c.cache.get(name); cert != nil {
		if c.isClosed() {
			return nil, errClosed
		}
		return cert, nil
	}
	cert, err := c.mint(name, time.Now())
	if err != nil {
		return nil, err
	}
	return c.cache.add(name, cert), nil
}

var errClosed = errors.New("session CA is closed")

func (c *CA) isClosed() bool {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.closed
}

// allowedName canonicalises an SNI and checks it against the host list.
func (c *CA) allowedName(sni string) (string, error) {
	if sni == "" {
		return "", fmt.Errorf("TLS interception: the client sent no SNI: %w", ErrNameNotAllowed)
	}
	name, err := canonicalName(sni)
	if err != nil {
		return "", fmt.Errorf("TLS interception: SNI %q: %w", sni, err)
	}
	if c.exact[name] {
		return name, nil
	}
	for _, s := range c.suffixs {
		if strings.HasSuffix(name, s) {
			return name, nil
		}
	}
	return "", fmt.Errorf("TLS interception: SNI %q: %w", name, ErrNameNotAllowed)
}

func (c *CA) mint(name string, now time.Time) (*tls.Certificate, error) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	if c.closed {
		return nil, errClosed
	}
	if !now.Before(c.cert.NotAfter) {
		return nil, fmt.Errorf("session CA expired at %s; restart nono for a new one", c.cert.NotAfter.Format(time.RFC3339))
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("leaf for %q: generate key: %w", name, err)
	}
	serial, err := randomSerial()
	if err != nil {
		return nil, err
	}
	notBefore := now.Add(-backdate)
	if notBefore.Before(c.cert.NotBefore) {
		notBefore = c.cert.NotBefore
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: name},
		DNSNames:              []string{name},
		NotBefore:             notBefore,
		NotAfter:              c.cert.NotAfter,
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, c.cert, &key.PublicKey, c.key)
	if err != nil {
		return nil, fmt.Errorf("leaf for %q: create certificate: %w", name, err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("leaf for %q: parse: %w", name, err)
	}
	return &tls.Certificate{Certificate: [][]byte{der, c.der}, PrivateKey: key, Leaf: leaf}, nil
}

// Close wipes the CA key and the cached leaf keys as far as Go allows (the
// big.Int words of D; copies inside crypto internals are out of reach) and
// makes GetCertificate fail from then on.
func (c *CA) Close() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return
	}
	c.closed = true
	wipeKey(c.key)
	c.key = nil
	for _, leaf := range c.cache.purge() {
		if k, ok := leaf.PrivateKey.(*ecdsa.PrivateKey); ok {
			wipeKey(k)
		}
	}
}

func wipeKey(k *ecdsa.PrivateKey) {
	if k == nil || k.D == nil {
		return
	}
	clear(k.D.Bits())
	k.D.SetInt64(0)
}

func randomSerial() (*big.Int, error) {
	s, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return nil, fmt.Errorf("certificate serial: %w", err)
	}
	return s.Add(s, big.NewInt(1<<32)), nil // positive, and at least 5 bytes long
}

// canonicalName lower-cases an ASCII DNS name, drops one trailing dot, and
// refuses IP literals and anything that is not LDH labels.
func canonicalName(s string) (string, error) {
	s = strings.TrimSuffix(s, ".")
	if s == "" || len(s) > 253 {
		return "", errors.New("not a DNS name (empty or longer than 253 bytes)")
	}
	if net.ParseIP(s) != nil {
		return "", errors.New("IP literals are not intercepted; use a host name")
	}
	s = strings.ToLower(s)
	labels := strings.Split(s, ".")
	for _, l := range labels {
		if l == "" || len(l) > 63 || l[0] == '-' || l[len(l)-1] == '-' {
			return "", fmt.Errorf("not a DNS name: bad label %q", l)
		}
		for i := 0; i < len(l); i++ {
			if c := l[i]; !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-') {
				return "", fmt.Errorf("not a DNS name: character %q (only letters, digits, '-' and '.')", c)
			}
		}
	}
	if strings.Trim(labels[len(labels)-1], "0123456789") == "" {
		return "", errors.New("not a DNS name: the last label is numeric (an IP address in another spelling?)")
	}
	return s, nil
}
