package proxy

import (
	"bytes"
	"io"
	"strings"
	"testing"
	"testing/iotest"
)

func scrubAll(t *testing.T, in string, needles ...string) string {
	t.Helper()
	var ns [][]byte
	for _, n := range needles {
		ns = append(ns, []byte(n))
	}
	// One byte at a time: every needle straddles a read boundary.
	r := newScrubReader(io.NopCloser(iotest.OneByteReader(strings.NewReader(in))), ns)
	out, err := io.ReadAll(r)
	if err != nil {
		t.Fatal(err)
	}
	return string(out)
}

func TestScrubReaderMasksAcrossBoundaries(t *testing.T) {
	const secret = "sk-REAL-123456"
	cases := map[string]string{
		"you sent: Bearer " + secret + "\n":   "you sent: Bearer **************\n",
		secret + secret:                       strings.Repeat("*", 2*len(secret)),
		"sk-REAL-12345 (one short)":           "sk-REAL-12345 (one short)",
		"prefix-at-end sk-RE":                 "prefix-at-end sk-RE",
		"ssk-REAL-123456":                     "s**************",
		"data: {\"echo\":\"" + secret + "\"}": "data: {\"echo\":\"**************\"}",
	}
	for in, want := range cases {
		if got := scrubAll(t, in, secret); got != want {
			t.Errorf("scrub(%q) = %q, want %q", in, got, want)
		}
		if len(scrubAll(t, in, secret)) != len(in) {
			t.Errorf("length changed for %q", in)
		}
	}
	if got := scrubAll(t, "a Zm9vOnNrLVJFQUw= b", secret, "Zm9vOnNrLVJFQUw="); got != "a **************** b" {
		t.Errorf("second needle not masked: %q", got)
	}
}

func TestScrubReaderDoesNotHoldCompleteEvents(t *testing.T) {
	// A stream whose chunk ends without any needle prefix is passed on at
	// once: the reader must not wait for more bytes.
	pr, pw := io.Pipe()
	r := newScrubReader(pr, [][]byte{[]byte("sk-REAL")})
	go pw.Write([]byte("data: hello\n\n"))
	buf := make([]byte, 64)
	n, err := r.Read(buf)
	if err != nil || string(buf[:n]) != "data: hello\n\n" {
		t.Fatalf("got %q, %v", buf[:n], err)
	}
	pw.Close()
}

func FuzzScrubReader(f *testing.F) {
	f.Add([]byte("Bearer sk-REAL-123 and sk-REAL-12"), []byte("sk-REAL-123"))
	f.Fuzz(func(t *testing.T, body, secret []byte) {
		if len(secret) == 0 || len(secret) > 64 {
			return
		}
		r := newScrubReader(io.NopCloser(iotest.HalfReader(bytes.NewReader(body))), [][]byte{secret})
		out, err := io.ReadAll(r)
		if err != nil {
			t.Fatal(err)
		}
		if len(out) != len(body) {
			t.Fatalf("length %d != %d", len(out), len(body))
		}
		if bytes.Contains(out, secret) && !bytes.Contains(secret, []byte("*")) {
			t.Fatalf("secret survived: %q", out)
		}
	})
}
