package e2e

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"net/http/cgi"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/net/dns/dnsmessage"
)

// originIP is where local "internet" servers listen. It is loopback but not
// 127.0.0.1, which the child's NO_PROXY keeps direct.
const originIP = "127.0.0.2"

// helperBin returns a helper program from e2e/helpers, built once per run
// (or prebuilt into NONO_E2E_HELPERS for the unprivileged run).
var (
	helperOnce sync.Map
)

func helperBin(t *testing.T, name string) string {
	t.Helper()
	if dir := os.Getenv("NONO_E2E_HELPERS"); dir != "" {
		return filepath.Join(dir, name)
	}
	v, _ := helperOnce.LoadOrStore(name, &sync.Once{})
	out := filepath.Join(os.TempDir(), "nono-e2e-helper-"+name)
	v.(*sync.Once).Do(func() {
		b := exec.Command("go", "build", "-o", out, "./helpers/"+name)
		b.Env = append(os.Environ(), "CGO_ENABLED=0")
		if o, err := b.CombinedOutput(); err != nil {
			t.Fatalf("building helper %s: %v\n%s", name, err, o)
		}
	})
	return out
}

// dnsServer answers A queries from a fixed table and counts every query.
type dnsServer struct {
	addr    string
	mu      sync.Mutex
	records map[string][]netip.Addr
	queries map[string]int
}

func startDNS(t *testing.T, records map[string]string) *dnsServer {
	t.Helper()
	pc, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pc.Close() })
	d := &dnsServer{addr: pc.LocalAddr().String(), records: map[string][]netip.Addr{}, queries: map[string]int{}}
	for name, ips := range records {
		for _, ip := range strings.Split(ips, ",") {
			d.records[strings.ToLower(name)+"."] = append(d.records[strings.ToLower(name)+"."], netip.MustParseAddr(ip))
		}
	}
	go func() {
		buf := make([]byte, 1500)
		for {
			n, from, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			var p dnsmessage.Parser
			h, err := p.Start(buf[:n])
			if err != nil {
				continue
			}
			q, err := p.Question()
			if err != nil {
				continue
			}
			name := strings.ToLower(q.Name.String())
			d.mu.Lock()
			d.queries[name]++
			addrs := d.records[name]
			d.mu.Unlock()
			resp := dnsmessage.Builder{}
			rh := dnsmessage.Header{ID: h.ID, Response: true, Authoritative: true}
			if len(addrs) == 0 {
				rh.RCode = dnsmessage.RCodeNameError
			}
			b := dnsmessage.NewBuilder(nil, rh)
			b.EnableCompression()
			b.StartQuestions()
			b.Question(q)
			b.StartAnswers()
			for _, a := range addrs {
				hdr := dnsmessage.ResourceHeader{Name: q.Name, Class: dnsmessage.ClassINET, TTL: 60}
				if a.Is4() && q.Type == dnsmessage.TypeA {
					b.AResource(hdr, dnsmessage.AResource{A: a.As4()})
				}
				if a.Is6() && q.Type == dnsmessage.TypeAAAA {
					b.AAAAResource(hdr, dnsmessage.AAAAResource{AAAA: a.As16()})
				}
			}
			_ = resp
			out, err := b.Finish()
			if err == nil {
				pc.WriteTo(out, from)
			}
		}
	}()
	return d
}

// add maps another name.
func (d *dnsServer) add(name, ip string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.records[strings.ToLower(name)+"."] = append(d.records[strings.ToLower(name)+"."], netip.MustParseAddr(ip))
}

func (d *dnsServer) count(name string) int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.queries[strings.ToLower(name)+"."]
}

// origin is a local TLS server standing in for an internet host, with its
// own CA (written to caFile for clients) and a git smart-HTTP endpoint.
type origin struct {
	ca       *x509.Certificate
	caKey    *ecdsa.PrivateKey
	port     int // https
	httpPort int // plain http, same handler
	caFile   string
	hits     atomic.Int64
	caPEM    []byte
}

func newCA(t *testing.T) (*x509.Certificate, *ecdsa.PrivateKey, []byte) {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "nono e2e origin CA"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	return cert, key, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}

func leafFor(t *testing.T, ca *x509.Certificate, caKey *ecdsa.PrivateKey, names []string, ips []net.IP) tls.Certificate {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()),
		Subject:      pkix.Name{CommonName: names[0]},
		DNSNames:     names,
		IPAddresses:  ips,
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

// startOrigin serves https on originIP. "/" answers "hello from origin";
// "/repo.git/..." is git http-backend over a bare repository.
func startOrigin(t *testing.T, e *env, names ...string) *origin {
	t.Helper()
	ca, caKey, caPEM := newCA(t)
	leaf := leafFor(t, ca, caKey, names, []net.IP{net.ParseIP(originIP)})
	o := &origin{caPEM: caPEM, ca: ca, caKey: caKey}
	o.caFile = filepath.Join(e.work, "origin-ca.pem")
	if err := os.WriteFile(o.caFile, caPEM, 0o644); err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	if repo := makeRepo(t, e); repo != "" {
		mux.Handle("/repo.git/", &cgi.Handler{
			Path: "/usr/lib/git-core/git-http-backend",
			Env:  []string{"GIT_PROJECT_ROOT=" + filepath.Dir(repo), "GIT_HTTP_EXPORT_ALL=1"},
		})
	}
	mux.HandleFunc("/reset", func(w http.ResponseWriter, r *http.Request) {
		// Half a body, then a TCP reset.
		w.Header().Set("Content-Length", "100000")
		w.Write([]byte(strings.Repeat("x", 1000)))
		w.(http.Flusher).Flush()
		c, _, err := http.NewResponseController(w).Hijack()
		if err == nil {
			if tc, ok := c.(*tls.Conn); ok {
				if nc, ok := tc.NetConn().(*net.TCPConn); ok {
					nc.SetLinger(0)
				}
			}
			c.Close()
		}
	})
	mux.HandleFunc("/hang", func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-time.After(30 * time.Second):
		}
	})
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		o.hits.Add(1)
		fmt.Fprintf(w, "hello from origin (host %s)", r.Host)
	})
	ln, err := net.Listen("tcp", originIP+":0")
	if err != nil {
		t.Fatal(err)
	}
	o.port = ln.Addr().(*net.TCPAddr).Port
	srv := &http.Server{Handler: mux, TLSConfig: &tls.Config{Certificates: []tls.Certificate{leaf}}}
	go srv.ServeTLS(ln, "", "")
	t.Cleanup(func() { srv.Close() })
	hln, err := net.Listen("tcp", originIP+":0")
	if err != nil {
		t.Fatal(err)
	}
	o.httpPort = hln.Addr().(*net.TCPAddr).Port
	hsrv := &http.Server{Handler: mux}
	go hsrv.Serve(hln)
	t.Cleanup(func() { hsrv.Close() })
	return o
}

// makeRepo creates a bare repository with one commit, or "" without git.
func makeRepo(t *testing.T, e *env) string {
	if _, err := os.Stat("/usr/lib/git-core/git-http-backend"); err != nil {
		return ""
	}
	src := filepath.Join(e.root, "src-repo")
	bare := filepath.Join(e.root, "git", "repo.git")
	run := func(dir string, args ...string) {
		c := exec.Command("git", args...)
		c.Dir = dir
		c.Env = append(os.Environ(), "HOME="+e.root, "GIT_AUTHOR_NAME=t", "GIT_AUTHOR_EMAIL=t@t", "GIT_COMMITTER_NAME=t", "GIT_COMMITTER_EMAIL=t@t")
		if out, err := c.CombinedOutput(); err != nil {
			t.Fatalf("git %v: %v\n%s", args, err, out)
		}
	}
	os.MkdirAll(src, 0o755)
	os.MkdirAll(filepath.Dir(bare), 0o755)
	run(src, "init", "-q", "-b", "main")
	os.WriteFile(filepath.Join(src, "README"), []byte("cloned through nono\n"), 0o644)
	run(src, "add", "README")
	run(src, "commit", "-q", "-m", "init")
	run(e.root, "clone", "-q", "--bare", src, bare)
	return bare
}

func (o *origin) url(host, path string) string {
	return fmt.Sprintf("https://%s:%d%s", host, o.port, path)
}

// tlsConfig serves name with a leaf from the origin's CA.
func (o *origin) tlsConfig(t *testing.T, name string) *tls.Config {
	return &tls.Config{Certificates: []tls.Certificate{leafFor(t, o.ca, o.caKey, []string{name}, nil)}}
}
