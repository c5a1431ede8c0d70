//go:build !linux

package sandbox

import (
	"fmt"
	"os"
	"os/exec"
	"runtime"
)

// ErrNoLandlock: this platform has no sandbox backend in nono yet, so nono
// refuses to run anything rather than run it unconfined.
var ErrNoLandlock = fmt.Errorf("nono cannot sandbox on %s yet: its backend needs Linux (Landlock and seccomp; Seatbelt for macOS is not built); refusing to run unsandboxed", runtime.GOOS)

// ABI is 0: no Landlock here.
func ABI() int { return 0 }

// Probe reports a platform with nothing to enforce with.
func Probe() Report { return ProbeEnforcement() }

// ProbeEnforcement reports a platform with nothing to enforce with.
func ProbeEnforcement() Report { return Report{Kernel: runtime.GOOS} }

// SignalCatch catches nothing here; Start refuses before any child exists.
type SignalCatch struct{}

// CatchSignals returns a catch that holds nothing.
func CatchSignals() *SignalCatch { return &SignalCatch{} }

// Stop does nothing.
func (sc *SignalCatch) Stop() {}

// Child is never started here.
type Child struct {
	Cmd      *exec.Cmd
	Listener *os.File
}

// Start refuses: there is no sandbox backend on this platform.
func Start(spec *Spec, cmd *exec.Cmd, sc *SignalCatch) (*Child, error) {
	return nil, &SetupError{Err: ErrNoLandlock}
}

// Exec refuses: there is no sandbox backend on this platform.
func Exec(spec *Spec, path string, argv, env []string) error {
	return &SetupError{Err: ErrNoLandlock}
}

// Serve does nothing: no child was started.
func (c *Child) Serve(sink DenialSink) {}

// Stop does nothing: no child was started.
func (c *Child) Stop() {}

// Supervise refuses: no child was started.
func (c *Child) Supervise(ttyFD int) (Exit, error) { return Exit{}, ErrNoLandlock }
