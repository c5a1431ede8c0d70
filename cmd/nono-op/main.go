package main

import (
	"context"
	"fmt"
	"os"

	"github.com/nono-sandbox/nono/credentials/opsdk"
)

// version and commit are set at build time with -ldflags -X.
var (
	version = "0.1.0-dev"
	commit  = "unknown"
)

func main() {
	switch {
	case len(os.Args) == 2 && os.Args[1] == "--version":
		fmt.Printf("nono-op %s (commit %s)\n", version, commit)
		return
	case len(os.Args) > 1:
		fmt.Fprintln(os.Stderr, "usage: nono-op [--version]\nnono-op is started by nono to resolve op:// refs with the 1Password SDK; it is not meant to be run by hand.")
		os.Exit(2)
	}
	if err := opsdk.Serve(context.Background(), os.Stdin, os.Stdout, version); err != nil {
		fmt.Fprintf(os.Stderr, "nono-op: %v\n", err)
		os.Exit(1)
	}
}
