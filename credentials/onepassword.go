package credentials

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"sync"
	"time"
	"unicode"
)

// OPServiceAccountTokenVar selects the 1Password SDK when set.
const OPServiceAccountTokenVar = "OP_SERVICE_ACCOUNT_TOKEN"

// OPSecretResolver is what nono-op needs from the 1Password SDK; the SDK's
// SecretsAPI satisfies it and tests supply a fake (see ServeOPHelper).
type OPSecretResolver interface {
	Resolve(ctx context.Context, secretReference string) (string, error)
}

// OnePassword loads op:// refs: through the 1Password SDK when a service
// account token is present, otherwise through `op read` from PATH (which
// uses the desktop app or an `op signin` session).
//
// The SDK does not run in nono: it lives in the helper executable nono-op
// (cmd/nono-op), started on the first SDK load and kept for the following
// ones, until Close. See ServeOPHelper for the protocol.
type OnePassword struct {
	// Token returns the service account token ("" selects the CLI).
	// It defaults to reading OP_SERVICE_ACCOUNT_TOKEN.
	Token func() string
	// Executable returns the running program, next to which nono-op is
	// looked for first; defaults to os.Executable.
	Executable func() (string, error)
	// LookPath finds the CLI, and nono-op when it is not next to the
	// executable; defaults to exec.LookPath.
	LookPath func(string) (string, error)

	mu     sync.Mutex
	helper *opHelper
}

// NewOnePassword returns a OnePassword wired to the environment, nono-op
// and PATH.
func NewOnePassword() *OnePassword { return &OnePassword{} }

// Load implements Loader.
func (o *OnePassword) Load(ctx context.Context, ref Ref) (*Secret, error) {
	token := os.Getenv(OPServiceAccountTokenVar)
	if o.Token != nil {
		token = o.Token()
	}
	if token != "" {
		return o.loadSDK(ctx, ref, token)
	}
	return o.loadCLI(ctx, ref)
}

func (o *OnePassword) loadSDK(ctx context.Context, ref Ref, token string) (*Secret, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.helper == nil {
		path, err := o.findOPHelper()
		if err != nil {
			return nil, err
		}
		if o.helper, err = startOPHelper(ctx, path, token); err != nil {
			return nil, err
		}
	}
	h := o.helper
	s, err := h.resolve(ctx, ref)
	if h.killed.Load() {
		// A failed exchange, or ctx ended just as the answer arrived:
		// either way this helper is gone and the next load starts another.
		h.abort()
		o.helper = nil
	}
	return s, err
}

// Close ends nono-op if it runs. Call it once every ref is loaded, before
// the sandboxed child starts; Load may be called again afterwards and
// starts a new helper.
func (o *OnePassword) Close() error {
	o.mu.Lock()
	defer o.mu.Unlock()
	h := o.helper
	o.helper = nil
	if h == nil {
		return nil
	}
	return h.close()
}

// opWaitDelay bounds how long Load waits for `op` to release its pipes after
// it was killed on timeout.
const opWaitDelay = 2 * time.Second

func (o *OnePassword) loadCLI(ctx context.Context, ref Ref) (*Secret, error) {
	lookPath := o.LookPath
	if lookPath == nil {
		lookPath = exec.LookPath
	}
	bin, err := lookPath("op")
	if err != nil {
		return nil, fmt.Errorf("1Password CLI `op` not found on PATH; install it (https://developer.1password.com/docs/cli/get-started/) or set %s to use the SDK: %w",
			OPServiceAccountTokenVar, err)
	}
	var stdout limitedBuffer
	stdout.limit = MaxSecretSize
	var stderr limitedBuffer
	stderr.limit = 4096
	cmd := exec.CommandContext(ctx, bin, "read", "--", ref.URI)
	cmd.Stdin = nil
	cmd.Stdout = &stdout
	cmd.Stderr = &stderr
	cmd.WaitDelay = opWaitDelay
	runErr := cmd.Run()
	defer stdout.wipe()
	if runErr != nil {
		if ctx.Err() != nil {
			return nil, fmt.Errorf("`op read %s` did not finish: %w", ref.URI, ctx.Err())
		}
		msg := scrubLine(stderr.buf.Bytes(), stdout.buf.Bytes())
		if msg == "" {
			msg = "no error output"
		}
		return nil, fmt.Errorf("`op read %s` failed (%v): %s", ref.URI, exitSummary(runErr), msg)
	}
	if stdout.over {
		return nil, fmt.Errorf("`op read %s` printed more than %d bytes", ref.URI, MaxSecretSize)
	}
	out := trimNewline(bytes.Clone(stdout.buf.Bytes()))
	s, err := NewSecret(out)
	if err != nil {
		return nil, fmt.Errorf("`op read %s`: %w", ref.URI, err)
	}
	return s, nil
}

func exitSummary(err error) string {
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return ee.ProcessState.String()
	}
	return err.Error()
}

// scrubLine returns the first non-empty line of b made safe by scrubText,
// with any copy of secretOut (what the command printed on stdout) and of
// each redact string removed, shortened to 200 runes.
func scrubLine(b, secretOut []byte, redact ...string) string {
	line := ""
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		if t := strings.TrimSpace(sc.Text()); t != "" {
			line = t
			break
		}
	}
	return scrubText(line, 200, append(redact, strings.TrimSpace(string(secretOut)))...)
}

// scrubText removes terminal control sequences and non-printable characters
// from s (line breaks and tabs become spaces), replaces every redact string
// of at least 4 bytes with "[redacted]", and shortens the result to
// maxRunes runes.
func scrubText(s string, maxRunes int, redact ...string) string {
	s = ansiCSI().ReplaceAllString(s, "")
	s = strings.Map(func(r rune) rune {
		switch {
		case r == '\n' || r == '\r' || r == '\t':
			return ' '
		case r == unicode.ReplacementChar || !unicode.IsPrint(r):
			return -1
		}
		return r
	}, s)
	for _, x := range redact {
		if len(x) >= 4 {
			s = strings.ReplaceAll(s, x, redacted)
		}
	}
	s = strings.TrimSpace(s)
	if r := []rune(s); len(r) > maxRunes {
		s = string(r[:maxRunes]) + "…"
	}
	return s
}

// ansiCSI matches terminal control sequences such as colours.
var ansiCSI = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`\x1b\[[0-9;?]*[ -/]*[@-~]`) })

// limitedBuffer keeps at most limit bytes and remembers overflow. It grows
// once to its limit so the secret is not scattered over discarded arrays.
type limitedBuffer struct {
	buf   bytes.Buffer
	limit int
	over  bool
}

func (l *limitedBuffer) Write(p []byte) (int, error) {
	if l.buf.Cap() == 0 {
		l.buf.Grow(l.limit)
	}
	room := l.limit - l.buf.Len()
	if len(p) > room {
		l.over = true
		l.buf.Write(p[:max(room, 0)])
		return len(p), nil
	}
	l.buf.Write(p)
	return len(p), nil
}

func (l *limitedBuffer) wipe() {
	b := l.buf.Bytes()
	clear(b[:cap(b)])
	l.buf.Reset()
}
