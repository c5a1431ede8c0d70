package proxy

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"slices"
)

// maxWSMessage bounds one data message (all its fragments) held while it
// is checked for the secret.
const maxWSMessage = 16 << 20

var (
	errWSMasked    = errors.New("websocket: the upstream sent a masked frame")
	errWSExtension = errors.New("websocket: the upstream used an extension (RSV bits) that was not negotiated")
	errWSControl   = errors.New("websocket: invalid control frame")
	errWSSequence  = errors.New("websocket: data frame out of sequence")
)

// wsScrubReader reads the upstream's side of an upgraded WebSocket on a
// credential route and masks the secret's wire forms in every message,
// like scrubReader does for response bodies. It works on whole messages,
// not on a byte stream: a data message (all of its fragments) is held
// until its final frame arrives, then its joined payload is masked in
// place and every frame is handed on with its header unchanged (the mask
// keeps lengths). So nothing is ever held waiting for bytes the upstream
// may not send, and a secret split across fragments is still found.
// Control frames (at most 125 bytes) are masked and handed on at once,
// also between the fragments of a held message, which RFC 6455 allows.
//
// Extensions are stripped from the upgrade request, so a frame with RSV
// bits (compressed data the mask could not see into) is an error, and so
// is a masked server frame; an error ends the connection.
type wsScrubReader struct {
	src     *bufio.Reader
	needles [][]byte
	out     []byte   // bytes ready to hand out
	msg     []byte   // raw frames of the data message being assembled
	spans   [][2]int // payload ranges within msg
	inMsg   bool     // a fragmented message is open
	err     error
}

func newWSScrubReader(src io.Reader, needles [][]byte) *wsScrubReader {
	return &wsScrubReader{src: bufio.NewReaderSize(src, 32<<10), needles: needles}
}

func (w *wsScrubReader) Read(p []byte) (int, error) {
	for len(w.out) == 0 {
		if w.err != nil {
			return 0, w.err
		}
		w.err = w.frame()
	}
	n := copy(p, w.out)
	w.out = w.out[n:]
	return n, nil
}

// frame reads one whole frame and queues what may be handed out.
func (w *wsScrubReader) frame() error {
	var h [14]byte
	if _, err := io.ReadFull(w.src, h[:2]); err != nil {
		if errors.Is(err, io.EOF) && (w.inMsg || len(w.msg) > 0) {
			return io.ErrUnexpectedEOF
		}
		return err
	}
	fin, op := h[0]&0x80 != 0, h[0]&0x0f
	if h[0]&0x70 != 0 {
		return errWSExtension
	}
	if h[1]&0x80 != 0 {
		return errWSMasked
	}
	hl, n := 2, uint64(h[1]&0x7f)
	switch n {
	case 126:
		hl = 4
	case 127:
		hl = 10
	}
	if hl > 2 {
		if _, err := io.ReadFull(w.src, h[2:hl]); err != nil {
			return unexpected(err)
		}
		if hl == 4 {
			n = uint64(binary.BigEndian.Uint16(h[2:4]))
		} else {
			n = binary.BigEndian.Uint64(h[2:10])
		}
	}
	if op >= 8 { // close, ping, pong
		if n > 125 || !fin {
			return errWSControl
		}
		f := make([]byte, hl+int(n))
		copy(f, h[:hl])
		if _, err := io.ReadFull(w.src, f[hl:]); err != nil {
			return unexpected(err)
		}
		maskNeedles(f[hl:], w.needles)
		w.out = f
		return nil
	}
	if (op == 0) != w.inMsg {
		return errWSSequence
	}
	if n > maxWSMessage || uint64(len(w.msg))+uint64(hl)+n > maxWSMessage {
		return fmt.Errorf("websocket: a message over %d MiB cannot be checked for the credential", maxWSMessage>>20)
	}
	start := len(w.msg) + hl
	w.msg = append(w.msg, h[:hl]...)
	w.msg = slices.Grow(w.msg, int(n))[:start+int(n)]
	if _, err := io.ReadFull(w.src, w.msg[start:]); err != nil {
		return unexpected(err)
	}
	w.spans = append(w.spans, [2]int{start, len(w.msg)})
	w.inMsg = !fin
	if fin {
		w.release()
	}
	return nil
}

// release masks the complete message and queues it.
func (w *wsScrubReader) release() {
	if len(w.spans) == 1 {
		maskNeedles(w.msg[w.spans[0][0]:w.spans[0][1]], w.needles)
	} else {
		var joined []byte
		for _, s := range w.spans {
			joined = append(joined, w.msg[s[0]:s[1]]...)
		}
		maskNeedles(joined, w.needles)
		for _, s := range w.spans {
			joined = joined[copy(w.msg[s[0]:s[1]], joined):]
		}
	}
	// A control frame queued by this same call cannot exist: out is empty
	// whenever frame runs.
	w.out, w.msg, w.spans = w.msg, nil, w.spans[:0]
}

func unexpected(err error) error {
	if errors.Is(err, io.EOF) {
		return io.ErrUnexpectedEOF
	}
	return err
}
