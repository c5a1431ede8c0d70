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

// OPSecretResolver is what OnePassword needs from the 1Password SDK; the
// SDK's SecretsAPI satisfies it and tests supply a fake.
type OPSecretResolver interface {
	Resolve(ctx context.Context, secretReference string) (string, error)
}

// OnePassword loads op:// refs: through the 1Password SDK when a service
// account token is present, otherwise through `op read` from PATH (which
// uses the desktop app or an `op signin` session).
type OnePassword struct {
	// Token returns the service account token ("" selects the CLI).
	// It defaults to reading OP_SERVICE_ACCOUNT_TOKEN.
	Token func() string
	// NewSDK builds the SDK resolver; defaults to the real SDK client.
	NewSDK func(ctx context.Context, token string) (OPSecretResolver, error)
	// LookPath finds the CLI; defaults to exec.LookPath.
	LookPath func(string) (string, error)

	mu  sync.Mutex
	sdk OPSecretResolver
}

// NewOnePassword returns a OnePassword wired to the environment, the real
// SDK and PATH.
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
	sdk := o.sdk
	if sdk == nil {
		newSDK := o.NewSDK
		if newSDK == nil {
			newSDK = newOPSDK
		}
		var err error
		if sdk, err = newSDK(ctx, token); err != nil {
			o.mu.Unlock()
			return nil, fmt.Errorf("1Password SDK (%s is set): %w", OPServiceAccountTokenVar, err)
		}
		o.sdk = sdk
	}
	o.mu.Unlock()
	v, err := sdk.Resolve(ctx, ref.URI)
	if err != nil {
		return nil, fmt.Errorf("1Password SDK could not resolve %s: %w", ref.URI, err)
	}
	s, err := NewSecret([]byte(v))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", ref.URI, err)
	}
	return s, nil
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

// scrubLine returns the first non-empty line of b with control and
// non-printable characters removed, shortened to 200 runes, and with any
// copy of secretOut (what the command printed on stdout) redacted.
func scrubLine(b, secretOut []byte) string {
	line := ""
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		if t := strings.TrimSpace(sc.Text()); t != "" {
			line = t
			break
		}
	}
	line = ansiCSI().ReplaceAllString(line, "")
	line = strings.Map(func(r rune) rune {
		if r == unicode.ReplacementChar || !unicode.IsPrint(r) {
			return -1
		}
		return r
	}, line)
	if s := strings.TrimSpace(string(secretOut)); len(s) >= 4 {
		line = strings.ReplaceAll(line, s, redacted)
	}
	if r := []rune(line); len(r) > 200 {
		line = string(r[:200]) + "…"
	}
	return line
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
