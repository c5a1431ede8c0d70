package certs

import (
	"strconv"
	"testing"
)

// BenchmarkMintLeaf measures the first handshake to a new host: key
// generation plus signing plus caching.
func BenchmarkMintLeaf(b *testing.B) {
	ca := newCA(b, "*.example.org")
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		if _, err := ca.GetCertificate(hello("h" + strconv.Itoa(i) + ".example.org")); err != nil {
			b.Fatal(err)
		}
		i++
	}
}

// BenchmarkCachedLeaf measures a repeat handshake to a known host.
func BenchmarkCachedLeaf(b *testing.B) {
	ca := newCA(b, "api.openai.com")
	h := hello("api.openai.com")
	if _, err := ca.GetCertificate(h); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ca.GetCertificate(h); err != nil {
			b.Fatal(err)
		}
	}
}
