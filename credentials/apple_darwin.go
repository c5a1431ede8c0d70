package credentials

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os/exec"
)

// securityPath is macOS's Keychain CLI.
const securityPath = "/usr/bin/security"

// loadApplePassword reads an internet password (what the Passwords app and
// Safari store) with `security find-internet-password -s server -a account -w`.
func loadApplePassword(ctx context.Context, ref Ref) (*Secret, error) {
	var stdout limitedBuffer
	stdout.limit = MaxSecretSize
	var stderr limitedBuffer
	stderr.limit = 4096
	cmd := exec.CommandContext(ctx, securityPath, "find-internet-password", "-s", ref.Service, "-a", ref.Account, "-w")
	cmd.Stdout = &stdout
	cmd.Stderr = &stderr
	cmd.WaitDelay = opWaitDelay
	err := cmd.Run()
	defer stdout.wipe()
	if err != nil {
		if ctx.Err() != nil {
			return nil, fmt.Errorf("%s: keychain did not answer: %w", ref.Describe(), ctx.Err())
		}
		var ee *exec.ExitError
		if errors.As(err, &ee) && ee.ExitCode() == 44 { // errSecItemNotFound
			return nil, fmt.Errorf("%w: no internet password for %s; save it in the Passwords app", ErrNotFound, ref.Describe())
		}
		return nil, fmt.Errorf("%s: security failed (%v): %s", ref.Describe(), exitSummary(err), scrubLine(stderr.buf.Bytes(), stdout.buf.Bytes()))
	}
	if stdout.over {
		return nil, fmt.Errorf("%s: password longer than %d bytes", ref.Describe(), MaxSecretSize)
	}
	s, err := NewSecret(trimNewline(bytes.Clone(stdout.buf.Bytes())))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", ref.Describe(), err)
	}
	return s, nil
}
