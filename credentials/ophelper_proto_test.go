package credentials

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestOPFrameRoundTrip(t *testing.T) {
	frames := []struct {
		ok      bool
		payload []byte
	}{
		{true, []byte(opGreeting)},
		{true, []byte("sk-value")},
		{true, nil},
		{true, bytes.Repeat([]byte("m"), MaxSecretSize)},
		{false, []byte("secret reference not found")},
		{false, bytes.Repeat([]byte("e"), maxOPErrorLen)},
	}
	var buf bytes.Buffer
	for _, f := range frames {
		if err := writeOPFrame(&buf, f.ok, f.payload); err != nil {
			t.Fatalf("write %d bytes: %v", len(f.payload), err)
		}
	}
	if !bytes.HasPrefix(buf.Bytes(), []byte("OK 00000009\nnono-op/1OK 00000008\nsk-value")) {
		t.Fatalf("encoding = %q...", buf.Bytes()[:40])
	}
	for i, f := range frames {
		ok, payload, err := readOPFrame(&buf)
		if err != nil || ok != f.ok || !bytes.Equal(payload, f.payload) {
			t.Fatalf("frame %d: ok %v, %d bytes, err %v", i, ok, len(payload), err)
		}
	}
	if _, _, err := readOPFrame(&buf); !errors.Is(err, errOPHelperClosed) {
		t.Fatalf("at EOF: err = %v", err)
	}
}

func TestOPFrameLimits(t *testing.T) {
	if err := writeOPFrame(io.Discard, true, make([]byte, MaxSecretSize+1)); err == nil {
		t.Error("wrote an OK frame larger than MaxSecretSize")
	}
	if err := writeOPFrame(io.Discard, false, make([]byte, maxOPErrorLen+1)); err == nil {
		t.Error("wrote an ER frame larger than maxOPErrorLen")
	}
	for _, hdr := range []string{fmt.Sprintf("OK %08d\n", MaxSecretSize+1), fmt.Sprintf("ER %08d\n", maxOPErrorLen+1), "OK 99999999\n"} {
		// No payload follows: the length must be refused before reading.
		_, _, err := readOPFrame(strings.NewReader(hdr))
		if err == nil || !strings.Contains(err.Error(), "limit") {
			t.Errorf("%q: err = %v", hdr, err)
		}
	}
}

func TestOPFrameMalformed(t *testing.T) {
	const leak = "sk-leaky-value-42"
	for _, in := range []string{
		leak + "\n",
		"ok 00000001\nx",
		"OK 0000001x\nx",
		"OK -0000001\nx",
		"OK 00000001 x",
		"OK  0000001\nx",
		"OKK00000001\nx",
		"XX 00000001\nx",
		"OK 000",
		"OK 00000005\nabc",
		"ER 00000010\nshort",
	} {
		ok, payload, err := readOPFrame(strings.NewReader(in))
		if err == nil || ok || payload != nil {
			t.Errorf("%q: accepted (ok %v, %q)", in, ok, payload)
			continue
		}
		if strings.Contains(err.Error(), leak) || strings.Contains(err.Error(), "abc") {
			t.Errorf("%q: error echoes the input: %v", in, err)
		}
	}
}

func FuzzOPFrame(f *testing.F) {
	f.Add([]byte("OK 00000003\nabc"))
	f.Add([]byte("ER 00000000\n"))
	f.Add([]byte("OK 00065536\n"))
	f.Add([]byte("OK 0000000\n\nabc"))
	f.Fuzz(func(t *testing.T, data []byte) {
		ok, payload, err := readOPFrame(bytes.NewReader(data))
		if err != nil {
			return
		}
		limit := maxOPErrorLen
		if ok {
			limit = MaxSecretSize
		}
		if len(payload) > limit {
			t.Fatalf("payload of %d bytes exceeds %d", len(payload), limit)
		}
		var again bytes.Buffer
		if err := writeOPFrame(&again, ok, payload); err != nil {
			t.Fatalf("re-encode: %v", err)
		}
		if !bytes.Equal(again.Bytes(), data[:again.Len()]) {
			t.Fatalf("re-encoding %q differs from the input %q", again.Bytes(), data)
		}
	})
}

func TestOPRequest(t *testing.T) {
	var buf bytes.Buffer
	for _, ref := range []string{"op://V/I/f", "op://Dev Vault/My Item/sec tion/field"} {
		if err := writeOPRequest(&buf, MustParseRef(ref)); err != nil {
			t.Fatal(err)
		}
	}
	br := newOPRequestReader(&buf)
	for _, want := range []string{"op://V/I/f", "op://Dev Vault/My Item/sec tion/field"} {
		if ref, err := readOPRequest(br); err != nil || ref.URI != want || ref.Scheme != SchemeOnePassword {
			t.Fatalf("read %q: %+v, %v", want, ref, err)
		}
	}
	if _, err := readOPRequest(br); !errors.Is(err, io.EOF) {
		t.Fatalf("at EOF: err = %v", err)
	}

	if err := writeOPRequest(io.Discard, MustParseRef("env://HOME")); err == nil {
		t.Error("wrote a request for an env:// ref")
	}
	if err := writeOPRequest(io.Discard, Ref{Scheme: SchemeOnePassword, URI: "op://V/I/f\nop://V/J/f"}); err == nil {
		t.Error("wrote a request with a newline in the ref")
	}

	for _, in := range []string{
		"env://HOME\n",
		"op://V/only-two\n",
		"op://V/I/f",          // no newline before EOF
		"op://V/I/f\r\n",      // CR is a control character
		"sk-leaky-value-42\n", // a bare name is a keyring ref
		"op://V/I/" + strings.Repeat("f", maxRefLen) + "\n",
	} {
		ref, err := readOPRequest(newOPRequestReader(strings.NewReader(in)))
		if err == nil || errors.Is(err, io.EOF) {
			t.Errorf("%.40q: accepted as %+v (err %v)", in, ref, err)
		} else if strings.Contains(err.Error(), "leaky") {
			t.Errorf("%q: error echoes the input: %v", in, err)
		}
	}
}

// TestServeOPHelper drives the helper's serve loop in-process: greeting,
// values, refusals, redaction and the end at EOF.
func TestServeOPHelper(t *testing.T) {
	const token = "fake-ok-token"
	in := strings.NewReader("op://V/I/f\nop://V/Missing/f\nop://V/Leak/f\nop://V/Big/f\nop://V/Max/f\n")
	var out bytes.Buffer
	err := ServeOPHelper(context.Background(), in, &out, token, newFakeOPResolver)
	if err != nil {
		t.Fatalf("serve: %v", err)
	}
	want := []struct {
		ok   bool
		text string
	}{
		{true, opGreeting},
		{true, "sdk-secret"},
		{false, "secret reference not found"},
		{false, "denied"},
		{false, "larger than 65536 bytes"},
		{true, strings.Repeat("m", MaxSecretSize)},
	}
	for i, w := range want {
		ok, payload, err := readOPFrame(&out)
		if err != nil || ok != w.ok || !strings.Contains(string(payload), w.text) {
			t.Fatalf("frame %d: ok %v, %.60q, %v; want ok %v with %q", i, ok, payload, err, w.ok, w.text)
		}
		if !ok && (strings.Contains(string(payload), token) || strings.Contains(string(payload), "leaked-value")) {
			t.Fatalf("frame %d leaks the token or the value: %q", i, payload)
		}
	}
	if out.Len() != 0 {
		t.Fatalf("%d bytes left after the last answer", out.Len())
	}

	// A request that is not an op:// ref ends the loop with an error.
	out.Reset()
	err = ServeOPHelper(context.Background(), strings.NewReader("env://HOME\n"), &out, token, newFakeOPResolver)
	if err == nil {
		t.Fatal("served an env:// request")
	}

	// Client creation failure: reported once in the greeting, token redacted.
	out.Reset()
	err = ServeOPHelper(context.Background(), strings.NewReader("op://V/I/f\n"), &out, "fake-init-fail-S3CR3T",
		func(_ context.Context, tok string) (OPSecretResolver, error) {
			return nil, errors.New("invalid service account token " + tok)
		})
	ok, payload, rerr := readOPFrame(&out)
	if err == nil || rerr != nil || ok || !strings.Contains(string(payload), "invalid service account token") ||
		strings.Contains(string(payload), "S3CR3T") || strings.Contains(err.Error(), "S3CR3T") || out.Len() != 0 {
		t.Fatalf("init failure: err %v, frame ok %v %q (%v), %d bytes more", err, ok, payload, rerr, out.Len())
	}

	out.Reset()
	if err := ServeOPHelper(context.Background(), strings.NewReader(""), &out, "", newFakeOPResolver); err == nil ||
		!strings.Contains(out.String(), OPServiceAccountTokenVar) {
		t.Fatalf("no token: err %v, out %q", err, out.String())
	}
}

// fakeOPResolver stands in for the 1Password SDK behind ServeOPHelper, in
// process and inside the fake nono-op (ophelper_test.go).
type fakeOPResolver struct{ token string }

func newFakeOPResolver(_ context.Context, token string) (OPSecretResolver, error) {
	return fakeOPResolver{token: token}, nil
}

func (f fakeOPResolver) Resolve(ctx context.Context, ref string) (string, error) {
	switch ref {
	case "op://V/I/f":
		return "sdk-secret", nil
	case "op://V/Bad/f":
		return "x\r\nX-Injected: 1", nil
	case "op://V/Max/f":
		return strings.Repeat("m", MaxSecretSize), nil
	case "op://V/Big/f":
		return strings.Repeat("b", MaxSecretSize+1), nil
	case "op://V/Pid/f":
		return strconv.Itoa(os.Getpid()), nil
	case "op://V/Env/f":
		return strings.Join(os.Environ(), " "), nil
	case "op://V/Leak/f":
		return "leaked-value", errors.New("\x1b[31mdenied\x1b[0m: leaked-value, token " + f.token + "\nsecond line")
	case "op://V/Hang/f":
		time.Sleep(fakeHang)
	}
	return "", errors.New("secret reference not found")
}

// fakeHang is how long a hanging fake sleeps: long enough that only a kill
// ends it within the tests' bounds, short enough that a missing kill fails
// the test instead of hanging it.
const fakeHang = 20 * time.Second
