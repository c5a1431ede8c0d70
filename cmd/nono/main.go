package main

import (
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/nono-sandbox/nono/sandbox"
	"github.com/nono-sandbox/nono/session"
)

// version and commit are set at build time with -ldflags -X.
var (
	version = "0.1.0-dev"
	commit  = "unknown"
)

func main() {
	if len(os.Args) == 2 && os.Args[1] == session.RelayArg {
		os.Exit(session.Relay())
	}
	os.Exit(execute(os.Args[1:]))
}

// execute runs the CLI and maps every outcome to the documented exit codes:
// 0 success, 1 nono error, the child's own code, 128+N for a signal, 126 when
// the sandbox could not be set up, 127 when the command could not be executed.
func execute(args []string) int {
	args, err := joinTwoValueFlags(args)
	if err != nil {
		fmt.Fprintf(os.Stderr, "nono: %s\n", err)
		return 1
	}
	root := newRootFor(args)
	root.SetArgs(args)
	err = root.Execute()
	if err == nil {
		return 0
	}
	var ex *session.ExitError
	if errors.As(err, &ex) {
		return ex.Code
	}
	msg := strings.TrimSpace(err.Error())
	var setup *sandbox.SetupError
	var execErr *sandbox.ExecError
	switch {
	case errors.As(err, &setup):
		fmt.Fprintf(os.Stderr, "nono: %s\n", msg)
		return 126
	case errors.As(err, &execErr):
		fmt.Fprintf(os.Stderr, "nono: %s\n", msg)
		return 127
	}
	fmt.Fprintf(os.Stderr, "nono: %s\n", msg)
	return 1
}
