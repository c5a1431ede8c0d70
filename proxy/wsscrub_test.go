package proxy

import (
	"bufio"
	"bytes"
	"crypto/sha1"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"testing/iotest"
	"time"

	"github.com/nono-sandbox/nono/credentials"
)

// wsFrame encodes one unmasked (server) frame.
func wsFrame(fin bool, op byte, payload []byte) []byte {
	b0 := op
	if fin {
		b0 |= 0x80
	}
	var f []byte
	switch n := len(payload); {
	case n < 126:
		f = []byte{b0, byte(n)}
	case n < 1<<16:
		f = []byte{b0, 126, 0, 0}
		binary.BigEndian.PutUint16(f[2:], uint16(n))
	default:
		f = make([]byte, 10)
		f[0], f[1] = b0, 127
		binary.BigEndian.PutUint64(f[2:], uint64(n))
	}
	return append(f, payload...)
}

func wsScrubAll(t *testing.T, in []byte, needles ...string) ([]byte, error) {
	t.Helper()
	var ns [][]byte
	for _, n := range needles {
		ns = append(ns, []byte(n))
	}
	// One byte per read from the source: every frame arrives in pieces.
	return io.ReadAll(newWSScrubReader(iotest.OneByteReader(bytes.NewReader(in)), ns))
}

func TestWSScrubMasksWholeMessages(t *testing.T) {
	const key = "sk-test-0123456789abcdefghij"
	stars := strings.Repeat("*", len(key))
	ping := wsFrame(true, 0x9, []byte("p:"+key))
	in := bytes.Join([][]byte{
		wsFrame(true, 0x1, []byte(`{"echo":"Bearer `+key+`"}`)), // one frame
		wsFrame(false, 0x1, []byte(`{"split":"`+key[:9])),       // a fragmented message:
		ping,                                   // a ping in between,
		wsFrame(false, 0x0, []byte(key[9:20])), // the key across
		wsFrame(true, 0x0, []byte(key[20:]+`"}`)),                                  // three fragments
		wsFrame(true, 0x2, bytes.Repeat([]byte("x"), 70000)),                       // a long binary frame
		wsFrame(true, 0x8, append([]byte{0x03, 0xe8}, []byte("bye "+key[:10])...)), // close, no full key
	}, nil)
	out, err := wsScrubAll(t, in, key)
	if err != nil {
		t.Fatal(err)
	}
	if len(out) != len(in) {
		t.Fatalf("length changed: %d -> %d", len(in), len(out))
	}
	if bytes.Contains(out, []byte(key)) || bytes.Contains(out, []byte(key[:9]+"\x00")) {
		t.Fatal("the key went through")
	}
	want := bytes.Join([][]byte{
		wsFrame(true, 0x1, []byte(`{"echo":"Bearer `+stars+`"}`)),
		wsFrame(true, 0x9, []byte("p:"+stars)), // the control frame is not held behind the message
		wsFrame(false, 0x1, []byte(`{"split":"`+stars[:9])),
		wsFrame(false, 0x0, []byte(stars[9:20])),
		wsFrame(true, 0x0, []byte(stars[20:]+`"}`)),
		wsFrame(true, 0x2, bytes.Repeat([]byte("x"), 70000)),
		wsFrame(true, 0x8, append([]byte{0x03, 0xe8}, []byte("bye "+key[:10])...)),
	}, nil)
	if !bytes.Equal(out, want) {
		t.Fatal("frames were not handed on as expected (order, headers or mask)")
	}
}

func TestWSScrubRefusesWhatItCannotCheck(t *testing.T) {
	masked := wsFrame(true, 0x1, []byte("hi"))
	masked[1] |= 0x80
	masked = append(masked[:2], append([]byte{1, 2, 3, 4}, masked[2:]...)...)
	rsv := wsFrame(true, 0x1, []byte("deflated"))
	rsv[0] |= 0x40
	huge := []byte{0x82, 127, 0, 0, 0, 0, 0x10, 0, 0, 0} // 256 MiB announced
	for name, c := range map[string]struct {
		in   []byte
		want error
	}{
		"masked server frame":        {masked, errWSMasked},
		"compressed (RSV1) frame":    {rsv, errWSExtension},
		"long control frame":         {wsFrame(true, 0x9, bytes.Repeat([]byte("p"), 126)), errWSControl},
		"fragmented control frame":   {wsFrame(false, 0x9, []byte("p")), errWSControl},
		"continuation without start": {wsFrame(true, 0x0, []byte("x")), errWSSequence},
		"new message inside another": {append(wsFrame(false, 0x1, []byte("a")), wsFrame(true, 0x1, []byte("b"))...), errWSSequence},
		"truncated payload":          {wsFrame(true, 0x1, []byte("hello"))[:4], io.ErrUnexpectedEOF},
		"stream ends mid-message":    {wsFrame(false, 0x1, []byte("a")), io.ErrUnexpectedEOF},
		"message too large to hold":  {huge, nil},
	} {
		t.Run(name, func(t *testing.T) {
			out, err := wsScrubAll(t, c.in, "sk-test")
			if err == nil {
				t.Fatalf("accepted, handed on %d bytes", len(out))
			}
			if c.want != nil && !errors.Is(err, c.want) {
				t.Fatalf("error %v, want %v", err, c.want)
			}
			if len(out) != 0 {
				t.Fatalf("handed on %d bytes of a frame it refused", len(out))
			}
		})
	}
	if out, err := wsScrubAll(t, nil, "sk-test"); err != nil || len(out) != 0 {
		t.Fatalf("clean end of stream: %q %v", out, err)
	}
}

func FuzzWSScrub(f *testing.F) {
	const key = "sk-fuzz-secret"
	f.Add(wsFrame(true, 1, []byte("a "+key)))
	f.Add(append(wsFrame(false, 1, []byte(key[:5])), wsFrame(true, 0, []byte(key[5:]))...))
	f.Add(wsFrame(true, 9, []byte(key)))
	f.Fuzz(func(t *testing.T, in []byte) {
		out, _ := io.ReadAll(newWSScrubReader(bytes.NewReader(in), [][]byte{[]byte(key)}))
		if len(out) > len(in) {
			t.Fatalf("output longer than input: %d > %d", len(out), len(in))
		}
		// What is handed on is whole, valid frames whose messages hold no
		// key, and checking it again changes nothing.
		msgs, err := wsMessages(out)
		if err != nil {
			t.Fatalf("handed-on bytes are not whole frames: %v", err)
		}
		for _, m := range msgs {
			if bytes.Contains(m, []byte(key)) {
				t.Fatalf("the key was handed on in a message")
			}
		}
		again, err := io.ReadAll(newWSScrubReader(bytes.NewReader(out), [][]byte{[]byte(key)}))
		if err != nil || !bytes.Equal(again, out) {
			t.Fatalf("not stable: %v", err)
		}
	})
}

// wsMessages splits well-formed server frames into the payload of each
// data message (fragments joined) and of each control frame.
func wsMessages(b []byte) ([][]byte, error) {
	var msgs [][]byte
	var cur []byte
	open := false
	for len(b) > 0 {
		if len(b) < 2 {
			return nil, io.ErrUnexpectedEOF
		}
		fin, op, n, hl := b[0]&0x80 != 0, b[0]&0x0f, uint64(b[1]&0x7f), 2
		if n == 126 || n == 127 {
			hl = 4
			if n == 127 {
				hl = 10
			}
			if len(b) < hl {
				return nil, io.ErrUnexpectedEOF
			}
			if hl == 4 {
				n = uint64(binary.BigEndian.Uint16(b[2:4]))
			} else {
				n = binary.BigEndian.Uint64(b[2:10])
			}
		}
		if uint64(len(b)-hl) < n {
			return nil, io.ErrUnexpectedEOF
		}
		p := b[hl : hl+int(n)]
		b = b[hl+int(n):]
		if op >= 8 {
			msgs = append(msgs, p)
			continue
		}
		cur = append(cur, p...)
		open = !fin
		if fin {
			msgs, cur = append(msgs, cur), nil
		}
	}
	if open {
		return nil, errors.New("a message was handed on before its last fragment")
	}
	return msgs, nil
}

// A credential-route WebSocket whose upstream echoes the injected header
// into frames (one message, a message fragmented through the key, a ping):
// the child never receives the key, and no extension (compression, which
// would hide it) reaches the upstream even when the client offers one.
func TestReverseWebSocketFramesAreScrubbed(t *testing.T) {
	const guid = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
	sawExt := make(chan string, 1)
	o := startTLSOrigin(t, func(w http.ResponseWriter, r *http.Request) {
		sawExt <- r.Header.Get("Sec-WebSocket-Extensions")
		auth := r.Header.Get("Authorization")
		sum := sha1.Sum([]byte(r.Header.Get("Sec-WebSocket-Key") + guid))
		c, brw, err := http.NewResponseController(w).Hijack()
		if err != nil {
			return
		}
		defer c.Close()
		brw.WriteString("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: " +
			base64.StdEncoding.EncodeToString(sum[:]) + "\r\n\r\n")
		brw.Write(wsFrame(true, 1, []byte("you sent: "+auth)))
		brw.Flush()
		time.Sleep(20 * time.Millisecond) // the rest in later TLS records
		brw.Write(wsFrame(false, 1, []byte(auth[:14])))
		brw.Flush()
		time.Sleep(20 * time.Millisecond)
		brw.Write(wsFrame(true, 9, []byte(auth[7:])))
		brw.Write(wsFrame(true, 0, []byte(auth[14:])))
		brw.Write(wsFrame(true, 8, []byte{0x03, 0xe8}))
		brw.Flush() // and close
	})
	g := startCredGateway(t, []CredentialRoute{credRouteTo(t, "svc", o, "", secretA, credentials.CustomCredential{})}, nil)
	c := g.dial(t)
	br := bufio.NewReader(c)
	io.WriteString(c, "GET /svc/v1/realtime HTTP/1.1\r\nHost: x\r\n"+phantomHeader+"\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n"+
		"Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Extensions: permessage-deflate\r\n\r\n")
	resp, err := http.ReadResponse(br, &http.Request{Method: http.MethodGet})
	if err != nil || resp.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("upgrade: %v %v", resp, err)
	}
	if ext := <-sawExt; ext != "" {
		t.Fatalf("the upstream was offered %q", ext)
	}
	got, _ := io.ReadAll(br)
	msgs, err := wsMessages(got)
	if err != nil {
		t.Fatalf("frames the child got: %v", err)
	}
	for _, m := range msgs {
		if bytes.Contains(m, []byte(secretA)) {
			t.Fatalf("the key reached the child: %q", m)
		}
	}
	if len(msgs) != 4 || string(msgs[2]) != "Bearer "+strings.Repeat("*", len(secretA)) {
		t.Fatalf("messages after the scrub: %q", msgs)
	}
	if !bytes.Contains(got, []byte("you sent: Bearer *")) || !bytes.Contains(got, []byte{0x88, 2, 0x03, 0xe8}) {
		t.Fatalf("frames missing after the scrub: %q", got)
	}
	c.Close()
	e := g.audit.next(t, func(e Event) bool { return e.Mode == ModeReverse })
	if e.Status != http.StatusSwitchingProtocols || e.BytesDown < int64(len(got)) {
		t.Fatalf("audit %+v (child got %d bytes)", e, len(got))
	}
}

// Non-WebSocket upgrades cannot be checked, so a credential route refuses
// them rather than relaying them blind.
func TestReverseNonWebSocketUpgradeRefused(t *testing.T) {
	o := startTLSOrigin(t, func(w http.ResponseWriter, r *http.Request) {
		c, brw, err := http.NewResponseController(w).Hijack()
		if err != nil {
			return
		}
		defer c.Close()
		brw.WriteString("HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: echo\r\n\r\n")
		brw.Flush()
		io.Copy(c, brw)
	})
	g := startCredGateway(t, []CredentialRoute{credRouteTo(t, "svc", o, "", secretA, credentials.CustomCredential{})}, nil)
	resp, body := g.roundTrip(t, "GET /svc/up HTTP/1.1\r\nHost: x\r\n"+phantomHeader+"\r\nConnection: Upgrade\r\nUpgrade: echo\r\n\r\n")
	// Refused by the transport (an h2 upstream cannot take it) or, over
	// HTTP/1.1, by the 101 check; either way nothing is relayed.
	if resp.StatusCode != http.StatusBadGateway || strings.Contains(body, secretA) {
		t.Fatalf("non-WebSocket upgrade on a credential route: %d %q", resp.StatusCode, body)
	}
}
