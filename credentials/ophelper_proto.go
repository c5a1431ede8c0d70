package credentials

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
)

// The nono-op protocol, spoken between nono and its 1Password SDK helper
// over the helper's stdin and stdout. It is defined here, once, and both
// sides use these functions.
//
//	helper → nono   greeting frame: OK "nono-op/1" once the SDK client exists,
//	                or ER <why> when it could not be created (the helper then exits)
//	nono → helper   request: one op:// ref as ParseRef accepts it, then "\n"
//	helper → nono   answer frame: OK <secret value> or ER <SDK error message>
//
// The helper exits when its stdin reaches EOF. A frame is a 12-byte header
// ("OK" or "ER", a space, the payload length as exactly 8 decimal digits,
// "\n") followed by exactly that many payload bytes. An OK payload holds at
// most MaxSecretSize bytes, an ER payload at most maxOPErrorLen. Anything
// else is a protocol error after which nono kills the helper.
const (
	// OPHelperName is the helper executable nono looks for.
	OPHelperName = "nono-op"
	// opGreeting is the greeting payload; its suffix is the protocol
	// version, bumped on any incompatible change.
	opGreeting    = "nono-op/1"
	opHeaderLen   = 12
	maxOPErrorLen = 1024
)

// errOPHelperClosed is returned by readOPFrame when the helper closed its
// stdout at a frame boundary (it exited).
var errOPHelperClosed = errors.New("the helper closed its output")

// writeOPFrame writes one frame. The header and the payload are written
// separately so the payload (a secret) is not copied again.
func writeOPFrame(w io.Writer, ok bool, payload []byte) error {
	status, limit := "ER", maxOPErrorLen
	if ok {
		status, limit = "OK", MaxSecretSize
	}
	if len(payload) > limit {
		return fmt.Errorf("%s frame of %d bytes exceeds the %d-byte limit", status, len(payload), limit)
	}
	if _, err := fmt.Fprintf(w, "%s %08d\n", status, len(payload)); err != nil {
		return fmt.Errorf("write frame header: %w", err)
	}
	if _, err := w.Write(payload); err != nil {
		return fmt.Errorf("write frame payload: %w", err)
	}
	return nil
}

// readOPFrame reads one frame. nono passes the helper's raw stdout pipe, so
// the secret lands only in the returned payload, which the caller owns and
// must wipe. Errors never echo what was read: a broken helper might have
// written a secret where the header should be.
func readOPFrame(r io.Reader) (ok bool, payload []byte, err error) {
	var hdr [opHeaderLen]byte
	if n, err := io.ReadFull(r, hdr[:]); err != nil {
		if n == 0 && errors.Is(err, io.EOF) {
			return false, nil, errOPHelperClosed
		}
		return false, nil, fmt.Errorf("truncated frame header (%d of %d bytes)", n, opHeaderLen)
	}
	limit := maxOPErrorLen
	switch string(hdr[:3]) {
	case "OK ":
		ok, limit = true, MaxSecretSize
	case "ER ":
	default:
		return false, nil, errors.New("malformed frame header (unknown status)")
	}
	if hdr[opHeaderLen-1] != '\n' {
		return false, nil, errors.New("malformed frame header (no newline)")
	}
	n := 0
	for _, c := range hdr[3 : opHeaderLen-1] {
		if c < '0' || c > '9' {
			return false, nil, errors.New("malformed frame header (length is not 8 decimal digits)")
		}
		n = n*10 + int(c-'0')
	}
	if n > limit {
		return false, nil, fmt.Errorf("frame announces %d bytes, more than the %d-byte limit", n, limit)
	}
	payload = make([]byte, n)
	if got, err := io.ReadFull(r, payload); err != nil {
		clear(payload)
		return false, nil, fmt.Errorf("truncated frame (%d of %d payload bytes)", got, n)
	}
	return ok, payload, nil
}

// writeOPRequest asks the helper for one op:// ref.
func writeOPRequest(w io.Writer, ref Ref) error {
	if ref.Scheme != SchemeOnePassword || ref.URI == "" || hasControl(ref.URI) {
		return errors.New("not a valid op:// ref")
	}
	if _, err := io.WriteString(w, ref.URI+"\n"); err != nil {
		return fmt.Errorf("write request: %w", err)
	}
	return nil
}

// readOPRequest reads one request line from br, which must have been
// created with newOPRequestReader. It returns io.EOF at a clean end of input.
func readOPRequest(br *bufio.Reader) (Ref, error) {
	line, err := br.ReadSlice('\n')
	switch {
	case err == nil:
	case errors.Is(err, io.EOF) && len(line) == 0:
		return Ref{}, io.EOF
	case errors.Is(err, io.EOF):
		return Ref{}, errors.New("request not ended by a newline")
	case errors.Is(err, bufio.ErrBufferFull):
		return Ref{}, fmt.Errorf("request longer than %d bytes", maxRefLen)
	default:
		return Ref{}, fmt.Errorf("read request: %w", err)
	}
	ref, err := ParseRef(string(line[:len(line)-1]))
	if err != nil {
		return Ref{}, fmt.Errorf("request: %w", err)
	}
	if ref.Scheme != SchemeOnePassword {
		return Ref{}, fmt.Errorf("request is a %s:// ref, not op://", ref.Scheme)
	}
	return ref, nil
}

func newOPRequestReader(r io.Reader) *bufio.Reader {
	return bufio.NewReaderSize(r, maxRefLen+1)
}

// ServeOPHelper is the helper's side of the nono-op protocol: it builds the
// resolver once with newResolver (the 1Password SDK client in nono-op, a
// fake in tests), greets, then answers every request read from in until in
// reaches EOF. If the resolver cannot be built, the greeting carries the
// error and ServeOPHelper returns it. Messages sent to nono have the token
// and any resolved value redacted. It returns nil at a clean EOF.
func ServeOPHelper(ctx context.Context, in io.Reader, out io.Writer, token string,
	newResolver func(ctx context.Context, token string) (OPSecretResolver, error)) error {
	if token == "" {
		msg := OPServiceAccountTokenVar + " is not set in nono-op's environment"
		_ = writeOPFrame(out, false, []byte(msg))
		return errors.New(msg)
	}
	res, err := newResolver(ctx, token)
	if err != nil {
		msg := opErrorPayload(err, token, "")
		if werr := writeOPFrame(out, false, msg); werr != nil {
			return fmt.Errorf("report SDK client error: %w", werr)
		}
		return fmt.Errorf("1Password SDK client: %s", msg)
	}
	if err := writeOPFrame(out, true, []byte(opGreeting)); err != nil {
		return fmt.Errorf("greet: %w", err)
	}
	br := newOPRequestReader(in)
	for {
		ref, err := readOPRequest(br)
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			_ = writeOPFrame(out, false, []byte("nono-op: "+err.Error()))
			return err
		}
		if err := answerOP(ctx, out, res, ref, token); err != nil {
			return fmt.Errorf("answer %s: %w", ref.URI, err)
		}
	}
}

// answerOP resolves one ref and writes the answer frame.
func answerOP(ctx context.Context, out io.Writer, res OPSecretResolver, ref Ref, token string) error {
	v, err := res.Resolve(ctx, ref.URI)
	if err != nil {
		return writeOPFrame(out, false, opErrorPayload(err, token, v))
	}
	if len(v) > MaxSecretSize {
		return writeOPFrame(out, false, fmt.Appendf(nil, "the secret is larger than %d bytes", MaxSecretSize))
	}
	// The SDK's string cannot be wiped; the copy written to the pipe can.
	b := []byte(v)
	defer clear(b)
	return writeOPFrame(out, true, b)
}

// opErrorPayload is err's message with the token and value redacted,
// shortened to fit an ER frame.
func opErrorPayload(err error, token, value string) []byte {
	msg := err.Error()
	if token != "" {
		msg = strings.ReplaceAll(msg, token, redacted)
	}
	if len(value) >= 4 {
		msg = strings.ReplaceAll(msg, value, redacted)
	}
	if len(msg) > maxOPErrorLen {
		msg = msg[:maxOPErrorLen]
	}
	return []byte(msg)
}
