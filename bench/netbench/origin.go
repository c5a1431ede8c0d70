package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/binary"
	"encoding/pem"
	"fmt"
	"io"
	"log"
	"math/big"
	"net"
	"net/http"
	"os"
	"strconv"
	"time"
)

// originIP is loopback but not 127.0.0.1, which nono and srt put in the
// child's NO_PROXY (the client ignores NO_PROXY anyway).
const originIP = "127.0.0.2"

// originName resolves to originIP through the reverse benchmark's DNS
// responder (nono intercepts credential hosts, and it intercepts names only).
const originName = "origin.netbench.test"

// maxBulk bounds what one bulk request may ask for.
const maxBulk = 16 << 30

// origin is the stand-in internet: a raw TCP byte source for bulk transfer
// and a small HTTPS endpoint for latency.
type origin struct {
	bulkAddr, httpsAddr string
	caFile              string
	closers             []io.Closer
}

func (o *origin) Close() {
	for _, c := range o.closers {
		c.Close()
	}
}

func startOrigin(dir string, h2 bool) (*origin, error) {
	o := &origin{}
	bl, err := net.Listen("tcp4", originIP+":0")
	if err != nil {
		return nil, fmt.Errorf("listening on %s (loopback 127.0.0.2 must be usable): %w", originIP, err)
	}
	o.closers = append(o.closers, bl)
	o.bulkAddr = bl.Addr().String()
	go serveBulk(bl)

	cert, caPEM, err := selfSigned()
	if err != nil {
		bl.Close()
		return nil, err
	}
	o.caFile = dir + "/origin-ca.pem"
	if err := os.WriteFile(o.caFile, caPEM, 0o644); err != nil {
		bl.Close()
		return nil, err
	}
	hl, err := net.Listen("tcp4", originIP+":0")
	if err != nil {
		bl.Close()
		return nil, err
	}
	o.httpsAddr = hl.Addr().String()
	body := []byte("ok\n")
	srv := &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path == "/bulk" {
				serveBulkHTTPS(w, r)
				return
			}
			w.Header().Set("Content-Type", "text/plain")
			w.Write(body)
		}),
		TLSConfig:         &tls.Config{Certificates: []tls.Certificate{cert}},
		TLSNextProto:      map[string]func(*http.Server, *tls.Conn, http.Handler){}, // HTTP/1.1 only
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       30 * time.Second,
		ErrorLog:          log.New(io.Discard, "", 0), // the dial phase connects and closes
	}
	if h2 {
		srv.TLSNextProto = nil // net/http offers h2 by ALPN
	}
	go srv.ServeTLS(hl, "", "")
	o.closers = append(o.closers, srv)
	return o, nil
}

// serveBulk answers each connection's 8-byte big-endian size with that many
// bytes, then waits for the client to close.
func serveBulk(l net.Listener) {
	buf := make([]byte, 1<<20)
	for {
		c, err := l.Accept()
		if err != nil {
			return
		}
		go func() {
			defer c.Close()
			_ = c.SetDeadline(time.Now().Add(10 * time.Minute))
			var hdr [8]byte
			if _, err := io.ReadFull(c, hdr[:]); err != nil {
				return
			}
			left := int64(binary.BigEndian.Uint64(hdr[:]))
			if left <= 0 || left > maxBulk {
				return
			}
			for left > 0 {
				n, err := c.Write(buf[:min(left, int64(len(buf)))])
				left -= int64(n)
				if err != nil {
					return
				}
			}
			// Let the client close first: a relay that drops bytes still
			// in flight when the origin closes would otherwise lose the
			// tail (seen with srt). The deadline above bounds the wait.
			_, _ = io.Copy(io.Discard, c)
		}()
	}
}

// bulkChunk is one write of the HTTPS bulk body.
var bulkChunk = make([]byte, 1<<20)

// serveBulkHTTPS answers GET /bulk?bytes=N with N bytes: the TLS version of
// serveBulk, which is what a real download through a CONNECT tunnel is.
func serveBulkHTTPS(w http.ResponseWriter, r *http.Request) {
	left, err := strconv.ParseInt(r.URL.Query().Get("bytes"), 10, 64)
	if err != nil || left <= 0 || left > maxBulk {
		http.Error(w, "bytes: 1.."+strconv.FormatInt(maxBulk, 10), http.StatusBadRequest)
		return
	}
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Header().Set("Content-Length", strconv.FormatInt(left, 10))
	for left > 0 {
		n, err := w.Write(bulkChunk[:min(left, int64(len(bulkChunk)))])
		left -= int64(n)
		if err != nil {
			return
		}
	}
}

// selfSigned makes a one-run CA and a leaf for originIP.
func selfSigned() (tls.Certificate, []byte, error) {
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, nil, err
	}
	now := time.Now()
	caTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "netbench CA"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		return tls.Certificate{}, nil, err
	}
	ca, _ := x509.ParseCertificate(caDER)
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, nil, err
	}
	leafTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: originIP},
		IPAddresses: []net.IP{net.ParseIP(originIP)},
		DNSNames:    []string{originName}, // the reverse benchmark's upstream name
		NotBefore:   now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, leafTmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		return tls.Certificate{}, nil, err
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key},
		pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}), nil
}
