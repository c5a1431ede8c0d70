package session

import (
	"errors"
	"io"
	"os"
	"os/exec"
	"syscall"
	"time"
)

// The footer scans the child's stderr, so when stderr is not a terminal
// the child writes into a pipe that nono copies to the real stderr. A
// process the command left running in the background (`server &`) keeps
// that pipe open after the command exits. Waiting for it would hold nono,
// and the shell or harness waiting on nono, for as long as that process
// lives; closing the pipe would make its next write to stderr fail (EPIPE,
// or death by SIGPIPE). Instead nono hands the pipe to a small relay
// process, a re-exec of itself, which copies the rest to the real stderr
// until the last writer is gone, and exits without waiting for it.

// RelayArg, as nono's only argument, makes it the stderr relay: it copies
// descriptor 3 to its stderr until end of file. cmd/nono dispatches on it
// before parsing flags.
const RelayArg = "__nono-stderr-relay"

// Relay is the relay's main. It exits 0 at end of file and 1 if either
// side fails (the real stderr closed, say).
func Relay() int {
	in := os.NewFile(3, "child-stderr")
	if in == nil {
		return 1
	}
	if _, err := io.Copy(os.Stderr, in); err != nil {
		return 1
	}
	return 0
}

// stderrGrace is how long nono waits, after the command exits, for its
// stderr pipe to reach end of file before handing it to a relay. Output
// the command wrote before exiting is already in the pipe, and a short
// tail from descendants that are about to exit still reaches the footer's
// scan.
const stderrGrace = 150 * time.Millisecond

// finishStderr waits for the tee of the child's stderr (reading r) to reach
// end of file. If something the command started still holds the pipe after
// stderrGrace, the tee is stopped and r is handed to a relay process, so
// nono can exit now without cutting that process's stderr off.
func finishStderr(r, stderr *os.File, copyDone <-chan struct{}) error {
	select {
	case <-copyDone:
		return nil
	case <-time.After(stderrGrace):
	}
	// Stop the tee between two reads; what it has not read stays in the
	// pipe, in order, for the relay.
	if err := r.SetReadDeadline(time.Now()); err != nil {
		<-copyDone
		return nil
	}
	<-copyDone
	return startRelay(r, stderr)
}

// startRelay starts the relay on r and does not wait for it. It gets its
// own process group, as the command's background processes have, so a
// Ctrl-C meant for the next foreground job does not cut their output off.
func startRelay(r, stderr *os.File) error {
	if err := r.SetReadDeadline(time.Time{}); err != nil && !errors.Is(err, os.ErrNoDeadline) {
		return err
	}
	// /proc/self/exe still works if nono's file was replaced meanwhile.
	cmd := exec.Command("/proc/self/exe", RelayArg)
	cmd.Env = []string{}
	cmd.Stderr = stderr
	cmd.ExtraFiles = []*os.File{r}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		return err
	}
	return cmd.Process.Release()
}
