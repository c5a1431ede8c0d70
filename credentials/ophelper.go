package credentials

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sync/atomic"
	"time"
)

// opHelperEnvVars are the only variables of nono's environment that reach
// nono-op besides the token: the SDK's HTTP client honours the proxy
// variables and the system roots' SSL_CERT_* overrides, and reports the
// local time zone offset.
var opHelperEnvVars = []string{
	"HOME", "PATH", "TZ", "ZONEINFO",
	"HTTPS_PROXY", "https_proxy", "NO_PROXY", "no_proxy",
	"SSL_CERT_FILE", "SSL_CERT_DIR",
}

// opHelperEnv is the helper's whole environment.
func opHelperEnv(token string) []string {
	env := []string{OPServiceAccountTokenVar + "=" + token}
	for _, k := range opHelperEnvVars {
		if v, ok := os.LookupEnv(k); ok {
			env = append(env, k+"="+v)
		}
	}
	return env
}

// opHelperShutdown bounds how long Close waits for nono-op to exit after
// its stdin closed before killing it.
const opHelperShutdown = 2 * time.Second

// opHelper is one running nono-op process. Its methods are called with
// OnePassword.mu held, one exchange at a time.
type opHelper struct {
	path   string
	cmd    *exec.Cmd
	cancel context.CancelFunc // kills the process
	stdin  io.WriteCloser
	stdout io.ReadCloser
	stderr *limitedBuffer // read only after wait
	token  string         // redacted from diagnostics
	killed atomic.Bool
	done   bool
}

// findOPHelper returns nono-op next to the running executable (symlinks
// resolved), else from PATH. It never falls back to the op CLI: the user
// asked for the SDK by setting the token.
func (o *OnePassword) findOPHelper() (string, error) {
	executable := o.Executable
	if executable == nil {
		executable = os.Executable
	}
	where := ""
	if exe, err := executable(); err == nil {
		if exe, err = filepath.EvalSymlinks(exe); err == nil {
			dir := filepath.Dir(exe)
			where = " (in " + dir + ")"
			p := filepath.Join(dir, OPHelperName)
			if fi, err := os.Stat(p); err == nil && fi.Mode().IsRegular() && fi.Mode().Perm()&0o111 != 0 {
				return p, nil
			}
		}
	}
	lookPath := o.LookPath
	if lookPath == nil {
		lookPath = exec.LookPath
	}
	if p, err := lookPath(OPHelperName); err == nil {
		return p, nil
	}
	return "", fmt.Errorf("%s is set, which selects the 1Password SDK; nono runs the SDK in its helper %s, "+
		"which is neither next to nono%s nor on PATH. Build both with `go tool task build` (into bin/), "+
		"or run `go install github.com/nono-sandbox/nono/cmd/nono-op@latest` to install it next to a go-installed nono; "+
		"or unset %s to read op:// refs with the `op` CLI instead",
		OPServiceAccountTokenVar, OPHelperName, where, OPServiceAccountTokenVar)
}

// startOPHelper starts nono-op with a minimal environment and waits, within
// ctx, for its greeting: the SDK client exists once it arrives.
func startOPHelper(ctx context.Context, path, token string) (*opHelper, error) {
	hctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(hctx, path)
	cmd.Env = opHelperEnv(token)
	cmd.WaitDelay = opWaitDelay
	h := &opHelper{path: path, cmd: cmd, cancel: cancel, token: token, stderr: &limitedBuffer{limit: 4096}}
	cmd.Stderr = h.stderr
	var err error
	if h.stdin, err = cmd.StdinPipe(); err != nil {
		cancel()
		return nil, fmt.Errorf("1Password SDK helper %s: %w", path, err)
	}
	if h.stdout, err = cmd.StdoutPipe(); err != nil {
		cancel()
		return nil, fmt.Errorf("1Password SDK helper %s: %w", path, err)
	}
	if err := cmd.Start(); err != nil {
		cancel()
		return nil, fmt.Errorf("start the 1Password SDK helper %s: %w", path, err)
	}
	ok, payload, err := h.exchange(ctx, nil)
	defer clear(payload)
	switch {
	case err != nil:
		return nil, h.fail(ctx, "starting", err)
	case !ok:
		h.abort()
		return nil, fmt.Errorf("1Password SDK (%s is set): %s", OPServiceAccountTokenVar, h.scrub(payload))
	case string(payload) != opGreeting:
		h.abort()
		return nil, fmt.Errorf("%s does not speak protocol %s; use the nono-op built with this nono", path, opGreeting)
	}
	return h, nil
}

// exchange sends a request for ref (none for the greeting) and reads the
// answer. If ctx ends first, the helper is killed, which ends the read.
func (h *opHelper) exchange(ctx context.Context, ref *Ref) (ok bool, payload []byte, err error) {
	stop := context.AfterFunc(ctx, h.kill)
	defer stop()
	if ref != nil {
		if err := writeOPRequest(h.stdin, *ref); err != nil {
			return false, nil, err
		}
	}
	return readOPFrame(h.stdout)
}

// resolve asks the helper for ref. A nil error with ok false is the SDK's
// refusal, whose message is in the returned text; the helper stays usable.
func (h *opHelper) resolve(ctx context.Context, ref Ref) (*Secret, error) {
	ok, payload, err := h.exchange(ctx, &ref)
	if err != nil {
		clear(payload)
		return nil, h.fail(ctx, "resolving "+ref.URI, err)
	}
	if !ok {
		return nil, fmt.Errorf("1Password SDK could not resolve %s: %s", ref.URI, h.scrub(payload))
	}
	s, err := NewSecret(payload)
	if err != nil {
		clear(payload)
		return nil, fmt.Errorf("%s: %w", ref.URI, err)
	}
	return s, nil
}

// kill ends the process; a pending read returns once its stdout closes.
func (h *opHelper) kill() {
	h.killed.Store(true)
	h.cancel()
	_ = h.stdout.Close()
}

// abort kills the helper and reaps it.
func (h *opHelper) abort() {
	h.kill()
	h.wait()
}

func (h *opHelper) wait() error {
	if h.done {
		return nil
	}
	h.done = true
	err := h.cmd.Wait()
	h.cancel()
	return err
}

// fail turns a failed exchange into an error: the helper is killed and
// reaped, and the error says why, with the first line of its stderr.
func (h *opHelper) fail(ctx context.Context, what string, err error) error {
	h.abort()
	if ctx.Err() != nil {
		return fmt.Errorf("1Password SDK helper %s did not finish %s: %w", h.path, what, ctx.Err())
	}
	msg := fmt.Sprintf("1Password SDK helper %s failed while %s: %v", h.path, what, err)
	if ps := h.cmd.ProcessState; ps != nil {
		msg += " (" + ps.String() + ")"
	}
	if line := scrubLine(h.stderr.buf.Bytes(), nil, h.token); line != "" {
		msg += ": " + line
	}
	return errors.New(msg)
}

// close ends the helper: EOF on its stdin asks it to exit; it is killed if
// it has not within opHelperShutdown.
func (h *opHelper) close() error {
	if h.done {
		return nil
	}
	_ = h.stdin.Close()
	t := time.AfterFunc(opHelperShutdown, h.kill)
	defer t.Stop()
	if err := h.wait(); err != nil && !h.killed.Load() {
		msg := fmt.Sprintf("1Password SDK helper %s did not exit cleanly: %v", h.path, err)
		if line := scrubLine(h.stderr.buf.Bytes(), nil, h.token); line != "" {
			msg += ": " + line
		}
		return errors.New(msg)
	}
	return nil
}

// scrub makes a message from the helper safe to show.
func (h *opHelper) scrub(msg []byte) string {
	s := scrubText(string(msg), 300, h.token)
	if s == "" {
		s = "no error message"
	}
	return s
}
