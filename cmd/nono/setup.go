package main

import (
	"errors"
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/nono-sandbox/nono/netprofiles"
	"github.com/nono-sandbox/nono/sandbox"
)

func newSetupCmd(g *globals) *cobra.Command {
	var checkOnly bool
	cmd := &cobra.Command{
		Use:   "setup --check-only",
		Short: "Check that this system can enforce nono's sandbox",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if !checkOnly {
				return errors.New("only 'nono setup --check-only' is available: it reports what this kernel can enforce and changes nothing")
			}
			return printCheck(cmd, g)
		},
	}
	cmd.Flags().BoolVar(&checkOnly, "check-only", false, "only verify sandbox support; create no files")
	return cmd
}

func printCheck(cmd *cobra.Command, g *globals) error {
	r := sandbox.Probe()
	w := cmd.OutOrStdout()
	p := g.printer
	yes := func(b bool) string {
		if b {
			return p.OK("yes")
		}
		return p.Err("no")
	}
	fmt.Fprintf(w, "Kernel: %s\n", r.Kernel)
	if r.LandlockABI == 0 {
		fmt.Fprintf(w, "Landlock: %s\n", p.Err("not available: nono will refuse to run"))
	} else {
		fmt.Fprintf(w, "Landlock: ABI %d\n", r.LandlockABI)
	}
	for _, f := range r.Landlock {
		fmt.Fprintf(w, "  %-46s %s\n", f.Name, yes(f.Available))
	}
	fmt.Fprintf(w, "seccomp filters: %s\n", yes(r.Seccomp))
	fmt.Fprintf(w, "seccomp user notification: %s\n", yes(r.SeccompNotif))
	fmt.Fprintf(w, "pidfd_getfd: %s\n", yes(r.PidfdGetfd))
	if r.WSL {
		fmt.Fprintf(w, "WSL2: %s\n", p.Warn("detected"))
	}
	fmt.Fprintln(w, "\nWhich layer enforces each rule here:")
	for _, e := range r.Layers() {
		state := p.OK("enforced")
		if !e.Enforced {
			state = p.Err("NOT ENFORCED")
		}
		fmt.Fprintf(w, "  %-48s %s by %s\n", e.Rule, state, e.Layer)
	}
	proxyOK := r.Seccomp && r.SeccompNotif && r.PidfdGetfd
	fmt.Fprintln(w, "\nNetwork modes here:")
	fmt.Fprintf(w, "  default (no network flag)   network open, no gateway\n")
	fmt.Fprintf(w, "  --block-net                 %s\n", pick(proxyOK, p.OK("available")+": only AF_UNIX sockets and --open-port loopback ports", p.Err("unavailable")+": needs seccomp user notification"))
	fmt.Fprintf(w, "  proxy mode (gateway)        %s\n", pick(proxyOK, p.OK("available")+": TCP only to 127.0.0.1:<gateway>, which allows listed hosts", p.Err("unavailable")+": needs seccomp user notification and pidfd_getfd"))
	fmt.Fprintf(w, "  network profiles            %s\n", strings.Join(netprofiles.Names(), ", "))
	if r.LandlockABI == 0 {
		return errors.New("this kernel cannot run nono: Landlock is missing")
	}
	return nil
}

func pick(cond bool, a, b string) string {
	if cond {
		return a
	}
	return b
}
