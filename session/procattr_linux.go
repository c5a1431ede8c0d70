package session

import (
	"os"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/nono-sandbox/nono/ui"
)

// newProcAttr puts the child in its own process group, so signals from a
// terminal reach the child exactly once and nono forwards only the ones sent
// to nono itself. When stdin is the terminal the child's group becomes the
// foreground group and *ttyFD is set.
func newProcAttr(stdin *os.File, ttyFD *int) *syscall.SysProcAttr {
	a := &syscall.SysProcAttr{Setpgid: true}
	if ui.IsTerminal(stdin) && isForeground(int(stdin.Fd())) {
		a.Foreground = true
		a.Ctty = int(stdin.Fd())
		*ttyFD = int(stdin.Fd())
	}
	return a
}

// isForeground reports whether nono's process group owns the terminal; only
// then may it hand the terminal to the child.
func isForeground(fd int) bool {
	pg, err := unix.IoctlGetInt(fd, unix.TIOCGPGRP)
	return err == nil && pg == unix.Getpgrp()
}
