package session

import (
	"fmt"
	"io"
	"strings"

	"github.com/nono-sandbox/nono/sandbox"
)

// printDryRun shows what would be enforced and runs nothing.
func (p *Plan) printDryRun(w io.Writer) {
	fmt.Fprintln(w, "Capabilities that would be granted:")
	p.writeSummary(w, "  ", false)
	if p.gateway != nil {
		if p.gateway.allowPublic {
			fmt.Fprintf(w, "  Gateway allowlist: every public host, chained to the upstream proxy %s, which filters\n", p.gateway.upstream.Addr())
		} else {
			fmt.Fprintf(w, "  Gateway allowlist (%d):", len(p.gateway.allow))
			for i, h := range p.gateway.allow {
				if i%4 == 0 {
					fmt.Fprint(w, "\n    ")
				}
				fmt.Fprintf(w, "%s ", h)
			}
			fmt.Fprintln(w)
			if len(p.gateway.implicit) > 0 {
				fmt.Fprintf(w, "  Credential upstreams, reachable without an entry: %s\n", strings.Join(p.gateway.implicit, " "))
			}
		}
		if len(p.gateway.deny) > 0 {
			fmt.Fprintf(w, "  Gateway deny list: %s\n", strings.Join(p.gateway.deny, " "))
		}
		fmt.Fprintln(w, "  Always denied: cloud metadata, link-local, multicast; loopback/private only via exact entries")
	}
	if p.creds != nil {
		fmt.Fprintf(w, "  Would inject %d credential(s); secrets are loaded only when the command runs:\n", len(p.creds.routes)+len(p.creds.env))
		for _, d := range p.creds.describe() {
			fmt.Fprintf(w, "    %s\n", d)
		}
	}
	fmt.Fprintln(w)
	rep := sandbox.Probe()
	fmt.Fprintf(w, "Enforcement on this kernel (%s, Landlock ABI %d):\n", rep.Kernel, rep.LandlockABI)
	for _, e := range relevantLayers(rep, p.spec) {
		mark := "enforced"
		if !e.Enforced {
			mark = "NOT ENFORCED"
		}
		fmt.Fprintf(w, "  %-48s %s (%s)\n", e.Rule, mark, e.Layer)
	}
	fmt.Fprintln(w)
	mode := "supervised (nono stays as parent)"
	if p.opts.Mode == Direct {
		mode = "direct (nono execs into the command)"
	}
	fmt.Fprintf(w, "Mode: %s\n", mode)
	fmt.Fprintf(w, "Working directory: %s\n", p.dir)
	fmt.Fprintf(w, "Would execute: %s\n", shellQuote(p.opts.Command))
	if p.noProgram != nil {
		fmt.Fprintf(w, "  Note: %v; a real run would stop here with exit 127.\n", p.noProgram)
	}
}

// relevantLayers keeps the enforcement rows that matter for spec.
func relevantLayers(rep sandbox.Report, spec sandbox.Spec) []sandbox.Enforcement {
	var out []sandbox.Enforcement
	for _, e := range rep.Layers() {
		netRow := strings.Contains(e.Rule, "net") || strings.Contains(e.Rule, "TCP") ||
			strings.Contains(e.Rule, "UDP") || strings.Contains(e.Rule, "unix sockets")
		if netRow && spec.Net == sandbox.NetAllow {
			continue
		}
		out = append(out, e)
	}
	return out
}

func shellQuote(args []string) string {
	var b strings.Builder
	for i, a := range args {
		if i > 0 {
			b.WriteByte(' ')
		}
		if a != "" && !strings.ContainsAny(a, " \t\n'\"\\$`!*?[]{}();&|<>#~") {
			b.WriteString(a)
			continue
		}
		b.WriteString("'" + strings.ReplaceAll(a, "'", `'\''`) + "'")
	}
	return b.String()
}
