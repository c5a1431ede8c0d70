package proxy

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"sync"
)

// errCompressedBody refuses a credential response body that arrives
// encoded: it could hide the secret from the scrubber.
var errCompressedBody = errors.New("the upstream sent an encoded body that cannot be checked for the injected secret")

// scrubReader masks every occurrence of the secret's wire forms in a
// response body with '*' of the same length, so Content-Length and framing
// stay valid. It holds back only a tail that could be the start of a
// needle, so streams (SSE) are delayed at most until their next bytes.
type scrubReader struct {
	src     io.ReadCloser
	needles [][]byte
	buf     []byte // masked bytes ready to hand out
	pending []byte // tail that may begin a needle
	chunk   []byte // read buffer, reused
	err     error
}

func newScrubReader(src io.ReadCloser, needles [][]byte) *scrubReader {
	return &scrubReader{src: src, needles: needles}
}

func (s *scrubReader) Read(p []byte) (int, error) {
	for len(s.buf) == 0 {
		if s.err != nil {
			if len(s.pending) > 0 {
				s.buf, s.pending = s.pending, nil
				break
			}
			s.release()
			return 0, s.err
		}
		if s.chunk == nil {
			s.chunk = *chunkPool.Get().(*[]byte)
		}
		n, err := s.src.Read(s.chunk)
		s.err = err
		// buf is drained before the next Read, so it may alias chunk; only a
		// held-back tail (rare, a few bytes) is copied.
		data := s.chunk[:n]
		if len(s.pending) > 0 {
			data = append(s.pending, data...)
			s.pending = nil
		}
		maskNeedles(data, s.needles)
		keep := 0
		if s.err == nil {
			keep = needlePrefixTail(data, s.needles)
		}
		s.buf = data[:len(data)-keep]
		if keep > 0 {
			s.pending = append([]byte(nil), data[len(data)-keep:]...)
		}
	}
	n := copy(p, s.buf)
	s.buf = s.buf[n:]
	return n, nil
}

var chunkPool = sync.Pool{New: func() any { b := make([]byte, 32<<10); return &b }}

func (s *scrubReader) release() {
	if s.chunk != nil && len(s.buf) == 0 {
		b := s.chunk
		s.chunk = nil
		chunkPool.Put(&b)
	}
}

func (s *scrubReader) Close() error {
	err := s.src.Close()
	s.buf = nil
	s.release()
	return err
}

// maskNeedles overwrites every needle occurrence in data with '*'.
func maskNeedles(data []byte, needles [][]byte) {
	for _, n := range needles {
		if len(n) == 0 {
			continue
		}
		for off := 0; ; {
			i := bytes.Index(data[off:], n)
			if i < 0 {
				break
			}
			for j := off + i; j < off+i+len(n); j++ {
				data[j] = '*'
			}
			off += i + len(n)
		}
	}
}

// needlePrefixTail is the length of the longest suffix of data that is a
// proper prefix of some needle.
func needlePrefixTail(data []byte, needles [][]byte) int {
	best := 0
	for _, n := range needles {
		max := len(n) - 1
		if max > len(data) {
			max = len(data)
		}
		for k := max; k > best; k-- {
			if data[len(data)-k] == n[0] && bytes.Equal(data[len(data)-k:], n[:k]) {
				best = k
				break
			}
		}
	}
	return best
}

// identityEncoding reports whether a Content-Encoding is absent or identity.
func identityEncoding(ce string) bool {
	ce = strings.TrimSpace(strings.ToLower(ce))
	return ce == "" || ce == "identity"
}
