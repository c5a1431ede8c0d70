//go:build !linux

package session

import (
	"os"
	"syscall"
)

// newProcAttr: no child is ever started on this platform (sandbox.Start
// refuses first), so only the process group is asked for.
func newProcAttr(stdin *os.File, ttyFD *int) *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true}
}
