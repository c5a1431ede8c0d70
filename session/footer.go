package session

import (
	"bytes"
	"fmt"
	"io"
	"regexp"
	"sort"
	"strings"
	"sync"

	"github.com/nono-sandbox/nono/policy"
	"github.com/nono-sandbox/nono/proxy"
	"github.com/nono-sandbox/nono/sandbox"
)

// tail keeps the last n bytes written to it.
type tail struct {
	mu  sync.Mutex
	n   int
	buf []byte
}

func newTail(n int) *tail { return &tail{n: n} }

func (t *tail) Write(b []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf = append(t.buf, b...)
	if len(t.buf) > t.n {
		t.buf = append(t.buf[:0], t.buf[len(t.buf)-t.n:]...)
	}
	return len(b), nil
}

func (t *tail) Bytes() []byte {
	t.mu.Lock()
	defer t.mu.Unlock()
	return append([]byte(nil), t.buf...)
}

// The footer's patterns are compiled on first use: most runs exit 0 and
// never need them, and compiling at init costs every start.
var (
	denialRe = sync.OnceValue(func() *regexp.Regexp {
		return regexp.MustCompile(`(?i)(permission denied|operation not permitted|read-only file system|EACCES|EPERM)`)
	})
	netRe = sync.OnceValue(func() *regexp.Regexp {
		return regexp.MustCompile(`(?i)(could not resolve|name or service not known|temporary failure in name resolution|network is unreachable|failed to connect|connection refused|getaddrinfo)`)
	})
	pathRe = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`(?:^|[\s'"‘“(:=])(/[^\s'"’”:),]+)`) })
)

// denial is one path the child was likely refused.
type denial struct {
	path string
	op   string
	why  policy.WhyResult
	// prot: the deny rule that refused it, when one did. Flags like
	// --read cannot help there (nono refuses a grant that overlaps a deny
	// rule), so the footer names the rule and its bypass instead.
	prot *policy.Protection
	// writeOnly: the grant covering the path allows writing but not
	// reading (the temp directories of system_write_linux). Opening a file
	// there for reading and writing, as mkstemp and compilers do, is
	// refused although "write" is granted.
	writeOnly string
	// userWriteOnly: that grant is the user's or the profile's (--write),
	// not the system temp directories.
	userWriteOnly bool
}

// writeOnlyGrant returns the grant that lets path be written but not read,
// if that is what covers it, and whether the user or profile made it.
func (p *Plan) writeOnlyGrant(path string) (string, bool) {
	if policy.WhyPath(p.resolved, path, "read").Status == policy.StatusAllowed {
		return "", false
	}
	w := policy.WhyPath(p.resolved, path, "write")
	if w.Status != policy.StatusAllowed || w.Reason != policy.ReasonGrantedPath || w.Access != "write" {
		return "", false
	}
	return w.GrantedPath, w.Source == policy.SourceUser || w.Source == policy.SourceProfile
}

// footer explains a non-zero exit: what happened, which denials the child
// printed, the policy in force, and the flags that would grant more.
func (p *Plan) footer(ex sandbox.Exit, stderrTail []byte) {
	pr := p.opts.Printer
	if pr.Silent {
		return
	}
	w := pr.W
	line := func(format string, a ...any) {
		fmt.Fprintf(w, "%s "+format+"\n", append([]any{pr.Dim("[nono]")}, a...)...)
	}
	fmt.Fprintln(w)
	switch {
	case ex.Signal != 0:
		line("Command killed by signal %d (%s) (exit code %d).", int(ex.Signal), ex.Signal, ex.Code)
		if ex.Signal == 31 {
			line("SIGSYS means a blocked system call: nono's seccomp filter refuses this architecture or ABI.")
		}
	default:
		line("Command exited with code %d.", ex.Code)
	}
	denials, netHints := p.scanStderr(stderrTail)
	p.mu.Lock()
	kernel := append([]sandbox.Denial(nil), p.denials...)
	p.mu.Unlock()
	for i, d := range kernel {
		if i == 5 {
			line("... and %d more refused network operations", len(kernel)-5)
			break
		}
		line("Refused %s to %s: %s", d.Op, pr.Err(d.Target), d.Reason)
	}
	var gwDenied, hostFixes []string
	if p.gwEvents != nil {
		for _, e := range p.gwEvents.denials() {
			gwDenied = append(gwDenied, describeEvent(e))
			if e.Reason == proxy.ReasonFiltered && e.Host != "" {
				// A normalised host name (ASCII, validated): safe to echo.
				hostFixes = append(hostFixes, "--allow-domain "+e.Host)
			}
		}
	}
	for i, d := range dedup(gwDenied) {
		if i == 5 {
			line("... and more gateway denials")
			break
		}
		line("Gateway refused %s", pr.Err(d))
	}
	if len(denials) == 0 && len(netHints) == 0 && len(kernel) == 0 && len(gwDenied) == 0 {
		if p.stderrScanned {
			line("No sandbox denials were seen on stderr; the failure may be unrelated to the sandbox.")
		} else {
			line("stderr was a terminal and was not scanned; if the command reported 'Permission denied', the hints below apply.")
		}
	}
	var writeOnly []string // write-only grants that refused a read+write open
	for _, d := range denials {
		switch {
		case d.writeOnly != "" && d.userWriteOnly:
			line("Denied %s of %s: %s is granted write-only, so a file there cannot be opened for reading", d.op, pr.Err(d.path), d.writeOnly)
		case d.writeOnly != "":
			writeOnly = append(writeOnly, d.writeOnly)
			line("Denied %s of %s: %s is granted write-only, so a file there cannot be opened for reading", d.op, pr.Err(d.path), d.writeOnly)
		case d.why.Status == "denied" && d.prot != nil:
			line("Denied %s of %s: %s", d.op, pr.Err(d.path), d.prot.Cause())
		case d.why.Status == "denied":
			line("Denied %s of %s: %s", d.op, pr.Err(d.path), d.why.Reason)
		default:
			line("%s of %s was refused, but the policy grants it (the cause may be outside nono).", d.op, d.path)
		}
	}
	if len(netHints) > 0 {
		switch p.spec.Net {
		case sandbox.NetBlock:
			line("Network access is blocked (--block-net); the command printed: %s", netHints[0])
		default:
			line("The command reported a network failure: %s", netHints[0])
		}
	}
	line("Sandbox policy:")
	p.writeSummary(w, "    ", false)
	fixes := append([]string(nil), hostFixes...)
	var cautions []string // one per suggested bypass
	for _, d := range denials {
		switch {
		case d.writeOnly != "" && d.userWriteOnly:
			fixes = append(fixes, "--allow "+d.writeOnly+"     (read and write, instead of --write)")
		case d.writeOnly != "":
			// One hint below, not a grant per temporary file name.
		case d.prot != nil && d.prot.Fix != "":
			fixes = append(fixes, d.prot.Fix)
			cautions = append(cautions, d.prot.Caution())
		case d.why.SuggestedFlag != "":
			fixes = append(fixes, d.why.SuggestedFlag)
		}
	}
	fixes = dedup(fixes)
	if len(fixes) > 5 {
		fixes = fixes[:5]
	}
	line("To grant additional access, re-run with:")
	netOnly := len(denials) == 0 && (len(netHints) > 0 || len(kernel) > 0 || len(gwDenied) > 0)
	if len(fixes) > 0 {
		for _, f := range fixes {
			fmt.Fprintf(w, "    %s\n", pr.Accent(f))
		}
	} else if !netOnly || p.spec.Net == sandbox.NetAllow {
		// Path hints, unless everything seen was a network failure that
		// the network lines below address.
		fmt.Fprintf(w, "    --allow <path>     read+write access to directory\n")
		fmt.Fprintf(w, "    --read <path>      read-only access to directory\n")
		fmt.Fprintf(w, "    --write <path>     write-only access to directory\n")
	}
	if p.spec.Net == sandbox.NetBlock {
		fmt.Fprintf(w, "    --allow-net        unrestricted network for this session\n")
	}
	if p.spec.Net == sandbox.NetProxy && len(hostFixes) == 0 {
		fmt.Fprintf(w, "    --allow-domain H   let the gateway reach host H (or *.suffix, or a host group)\n")
		if len(p.spec.OpenPorts) == 0 {
			fmt.Fprintf(w, "    --open-port N      loopback TCP port N for local services\n")
		}
	}
	for _, c := range dedup(cautions) {
		line("%s", c)
	}
	for _, dir := range dedup(writeOnly) {
		line("%s is write-only on purpose: the command may create files there but not read other programs' files. "+
			"Most temporary-file code (mkstemp, compilers, tempfile) opens for reading and writing, so give the command a temporary directory of its own: "+
			"mkdir -p ~/.cache/nono-tmp, then TMPDIR=~/.cache/nono-tmp nono run --allow ~/.cache/nono-tmp ...", dir)
	}
	if len(hostFixes) > 0 {
		line("Explain a host with: nono why --host %s (suppress this footer with --no-diagnostics)", strings.TrimPrefix(hostFixes[0], "--allow-domain "))
		return
	}
	if netOnly {
		line("Explain a host with: nono why --host <host> (suppress this footer with --no-diagnostics)")
		return
	}
	line("Explain any path with: nono why --path <path> --op read|write (suppress this footer with --no-diagnostics)")
}

func (p *Plan) scanStderr(b []byte) ([]denial, []string) {
	var out []denial
	var nets []string
	seen := map[string]bool{}
	var lines []string
	for _, raw := range bytes.Split(b, []byte("\n")) {
		if l := strings.TrimSpace(string(raw)); l != "" {
			lines = append(lines, l)
		}
	}
	add := func(path, ctx string, onlyDenied bool) {
		path = strings.TrimRight(path, ".;")
		if seen[path] || len(out) >= 8 {
			return
		}
		lc := strings.ToLower(ctx)
		op := "read"
		for _, w := range []string{"read-only", "write", "create", "mkdir", "rename", "unlink", "open for writing"} {
			if strings.Contains(lc, w) {
				op = "write"
				break
			}
		}
		d := denial{path: path, op: op, why: policy.WhyPath(p.resolved, path, op)}
		d.writeOnly, d.userWriteOnly = p.writeOnlyGrant(path)
		if onlyDenied && d.why.Status != policy.StatusDenied {
			return
		}
		seen[path] = true
		if d.why.Status == policy.StatusDenied && d.why.Reason == policy.ReasonFilesystemDeny {
			if prot, ok := policy.ProtectionFor(p.resolved, path, op); ok {
				d.prot = &prot
			}
		}
		out = append(out, d)
	}
	for i, l := range lines {
		if netRe().MatchString(l) && len(nets) < 3 {
			nets = append(nets, clip(l, 160))
		}
		if !denialRe().MatchString(l) {
			continue
		}
		ms := pathRe().FindAllStringSubmatch(l, -1)
		for _, m := range ms {
			add(m[1], l, false)
		}
		if len(ms) > 0 {
			continue
		}
		// Some tools report an error over several lines, the errno on one
		// and the path on another (npm: "code EACCES", "syscall mkdir",
		// "path /home/u/.npm/_cacache"). Paths from the three lines either
		// side count, but only when the policy really denies them, so an
		// unrelated path nearby is not reported.
		lo, hi := max(0, i-3), min(len(lines), i+4)
		ctx := strings.Join(lines[lo:hi], " ")
		for _, n := range lines[lo:hi] {
			for _, m := range pathRe().FindAllStringSubmatch(n, -1) {
				add(m[1], ctx, true)
			}
		}
	}
	return out, nets
}

func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

func dedup(in []string) []string {
	seen := map[string]bool{}
	var out []string
	for _, s := range in {
		if !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	return out
}

// writeSummary lists the capabilities: user and profile grants always,
// group and system grants only when verbose.
func (p *Plan) writeSummary(w io.Writer, indent string, all bool) {
	pr := p.opts.Printer
	hidden := 0
	gs := append([]sandbox.Grant(nil), p.spec.Grants...)
	sort.SliceStable(gs, func(i, j int) bool { return gs[i].Path < gs[j].Path })
	for _, g := range gs {
		user := g.Source == "user" || g.Source == "profile"
		if !user && !all && pr.Verbose == 0 {
			hidden++
			continue
		}
		kind := "dir"
		if g.File {
			kind = "file"
		}
		src := ""
		if !user {
			src = " " + pr.Dim("["+g.Source+"]")
		}
		fmt.Fprintf(w, "%s[%s] %s (%s)%s\n", indent, g.Access, g.Path, kind, src)
	}
	if hidden > 0 {
		fmt.Fprintf(w, "%s%s\n", indent, pr.Dim(fmt.Sprintf("+ %d system/group paths (-v to show)", hidden)))
	}
	for _, s := range p.spec.UnixSockets {
		mode := "connect"
		if s.Bind {
			mode = "connect+bind"
		}
		fmt.Fprintf(w, "%s[sock] %s (%s)\n", indent, s.Path, mode)
	}
	fmt.Fprintf(w, "%s[net] %s\n", indent, p.netSummary())
	if n := len(p.resolved.Denies); n > 0 {
		fmt.Fprintf(w, "%s%s\n", indent, pr.Dim(fmt.Sprintf("protected: %d sensitive paths are never granted (nono profile groups to list)", n)))
	}
}

func (p *Plan) netSummary() string {
	switch p.spec.Net {
	case sandbox.NetBlock:
		if len(p.spec.OpenPorts) > 0 {
			return fmt.Sprintf("blocked (except loopback ports %v)", p.spec.OpenPorts)
		}
		return "blocked"
	case sandbox.NetProxy:
		where := "127.0.0.1 (ephemeral port)"
		if p.spec.ProxyPort != 0 {
			where = fmt.Sprintf("127.0.0.1:%d", p.spec.ProxyPort)
		}
		what := fmt.Sprintf("%d allowed host entr%s", len(p.gateway.allow), map[bool]string{true: "y", false: "ies"}[len(p.gateway.allow) == 1])
		if n := len(p.gateway.implicit); n > 0 {
			what += fmt.Sprintf(" + %d credential upstream%s", n, map[bool]string{true: "", false: "s"}[n == 1])
		}
		if p.gateway.allowPublic {
			what = "every public host, filtered by the upstream proxy"
		}
		if p.gateway.profile != "" {
			what = "network profile " + p.gateway.profile + ", " + what
		}
		extra := ""
		if len(p.spec.OpenPorts) > 0 {
			extra += fmt.Sprintf(", loopback ports %v", p.spec.OpenPorts)
		}
		if len(p.spec.ListenPorts) > 0 {
			extra += fmt.Sprintf(", listen %v", p.spec.ListenPorts)
		}
		if p.gateway.upstream != nil {
			extra += ", chained via " + p.gateway.upstream.Addr()
		}
		return fmt.Sprintf("proxy %s (%s%s)", where, what, extra)
	}
	return "allowed"
}
