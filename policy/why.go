package policy

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"

	"github.com/nono-sandbox/nono/sandbox"
)

// Why statuses and path reason codes (nono-cli.md §4).
const (
	StatusAllowed      = "allowed"
	StatusDenied       = "denied"
	StatusNotSandboxed = "not_sandboxed"

	ReasonFilesystemDeny     = "filesystem_deny"
	ReasonSensitivePath      = "sensitive_path"
	ReasonGrantedPath        = "granted_path"
	ReasonGrantedPathUnion   = "granted_path_union"
	ReasonInsufficientAccess = "insufficient_access"
	ReasonPathNotGranted     = "path_not_granted"
)

// WhyResult is the answer of `nono why`. Absent fields are omitted in JSON.
type WhyResult struct {
	Status             string              `json:"status"`
	Reason             string              `json:"reason,omitempty"`
	GrantedPath        string              `json:"granted_path,omitempty"`
	Access             string              `json:"access,omitempty"`
	Source             string              `json:"source,omitempty"`
	EndpointRules      []EndpointRule      `json:"endpoint_rules,omitempty"`
	Warning            string              `json:"warning,omitempty"`
	Details            string              `json:"details,omitempty"`
	PolicySource       string              `json:"policy_source,omitempty"`
	MatchingCapability *MatchingCapability `json:"matching_capability,omitempty"`
	SuggestedFlag      string              `json:"suggested_flag,omitempty"`
	Message            string              `json:"message,omitempty"`
}

// MatchingCapability is the grant that covers a path with too little access.
type MatchingCapability struct {
	Path   string `json:"path"`
	Access string `json:"access"`
	Source string `json:"source"`
}

// NotSandboxed is the answer of `why --self` outside a sandbox.
func NotSandboxed() WhyResult {
	return WhyResult{Status: StatusNotSandboxed, Message: "Not running inside a nono sandbox"}
}

// ParseOp maps a --op value ("" means read) to an access.
func ParseOp(op string) (sandbox.Access, error) {
	switch op {
	case "", "read":
		return sandbox.AccessRead, nil
	case "write":
		return sandbox.AccessWrite, nil
	case "readwrite":
		return sandbox.AccessReadWrite, nil
	}
	return 0, fmt.Errorf("invalid --op %q: use read, write or readwrite", op)
}

// accessLabel renders access as in granted_path answers.
func accessLabel(a sandbox.Access) string {
	if a == sandbox.AccessReadWrite {
		return "read+write"
	}
	return a.Word()
}

// WhyPath explains whether op ("read", "write", "readwrite"; an unknown op is
// treated as readwrite) on path is allowed under r.
func WhyPath(r *Resolved, path string, op string) WhyResult {
	need, err := ParseOp(op)
	if err != nil {
		need = sandbox.AccessReadWrite
	}
	q := canonicalLenient(r.queryAbs(path))
	_, statErr := os.Stat(q)
	exists := statErr == nil

	// 1. Recorded deny rules (after bypass removal), longest match.
	best := r.coveringDeny(q)
	if best != nil {
		return WhyResult{Status: StatusDenied, Reason: ReasonFilesystemDeny,
			Details:      "Path is covered by filesystem.deny rule: " + best.Path,
			PolicySource: "filesystem.deny"}
	}

	// 2. Sensitive paths of the embedded deny groups, unless bypassed.
	if g, ok := r.sensitiveGroup(q); ok {
		return WhyResult{Status: StatusDenied, Reason: ReasonSensitivePath,
			Details:      fmt.Sprintf("Blocked by policy group '%s': %s Use filesystem.bypass_protection to exempt specific paths when appropriate.", g.Name, g.Description),
			PolicySource: groupPrefix + g.Name}
	}

	// 3-5. Capabilities.
	covers := func(g sandbox.Grant) bool {
		if g.File {
			return g.Path == q
		}
		return within(q, g.Path)
	}
	var sufficient, any, reader, writer *sandbox.Grant
	longer := func(cur *sandbox.Grant, g *sandbox.Grant) bool { return cur == nil || len(g.Path) > len(cur.Path) }
	for i := range r.Grants {
		g := &r.Grants[i]
		if !covers(*g) {
			continue
		}
		if g.Access&need == need && longer(sufficient, g) {
			sufficient = g
		}
		if longer(any, g) {
			any = g
		}
		if g.Access&sandbox.AccessRead != 0 && longer(reader, g) {
			reader = g
		}
		if g.Access&sandbox.AccessWrite != 0 && longer(writer, g) {
			writer = g
		}
	}
	switch {
	case sufficient != nil:
		return WhyResult{Status: StatusAllowed, Reason: ReasonGrantedPath, GrantedPath: sufficient.Path,
			Access: accessLabel(sufficient.Access), Source: sufficient.Source}
	case need == sandbox.AccessReadWrite && reader != nil && writer != nil:
		return WhyResult{Status: StatusAllowed, Reason: ReasonGrantedPathUnion,
			GrantedPath: fmt.Sprintf("%s (read) + %s (write)", reader.Path, writer.Path),
			Access:      "readwrite", Source: reader.Source + " + " + writer.Source}
	case any != nil:
		return WhyResult{Status: StatusDenied, Reason: ReasonInsufficientAccess,
			Details:            fmt.Sprintf("Path is covered by %s with %s access, but %s was requested", any.Path, accessLabel(any.Access), accessLabel(need)),
			MatchingCapability: &MatchingCapability{Path: any.Path, Access: accessLabel(any.Access), Source: any.Source},
			SuggestedFlag:      r.suggestFlag(q, exists, need)}
	}
	return WhyResult{Status: StatusDenied, Reason: ReasonPathNotGranted,
		Details:       "Path is not covered by any capability: " + q,
		SuggestedFlag: r.suggestFlag(q, exists, need)}
}

func (r *Resolved) queryAbs(p string) string {
	if p == "~" || strings.HasPrefix(p, "~/") {
		if home, err := r.x.Home(); err == nil {
			p = home + p[1:]
		}
	}
	if !filepath.IsAbs(p) {
		cwd := r.cwd
		if cwd == "" {
			cwd, _ = os.Getwd()
		}
		p = filepath.Join(cwd, p)
	}
	return filepath.Clean(p)
}

// sensitiveGroup finds the platform deny group covering q (longest match).
func (r *Resolved) sensitiveGroup(q string) (Group, bool) {
	for _, b := range r.Bypassed {
		if within(q, b) {
			return Group{}, false
		}
	}
	var best Group
	bestLen := -1
	for _, g := range Groups() {
		if !g.AppliesTo(runtime.GOOS) {
			continue
		}
		for _, e := range g.Deny.Access {
			if !e.When.Matches(runtime.GOOS) {
				continue
			}
			abs, err := r.x.ExpandPath(e.Path)
			if err != nil {
				continue
			}
			for _, f := range denyForms(abs) {
				if within(q, f) && len(f) > bestLen {
					best, bestLen = g, len(f)
				}
			}
		}
	}
	return best, bestLen >= 0
}

// coveringDeny is the recorded deny rule covering the canonical path q,
// the longest when several do, or nil.
func (r *Resolved) coveringDeny(q string) *Deny {
	var best *Deny
	for i, d := range r.Denies {
		if within(q, d.Path) && (best == nil || len(d.Path) > len(best.Path)) {
			best = &r.Denies[i]
		}
	}
	return best
}

// grantFlag is the CLI flag that grants need on a directory, or on a file.
func grantFlag(need sandbox.Access, file bool) string {
	flag := map[sandbox.Access]string{sandbox.AccessRead: "--read", sandbox.AccessWrite: "--write", sandbox.AccessReadWrite: "--allow"}[need]
	if file {
		flag += "-file"
	}
	return flag
}

// suggestFlag proposes the CLI flag that would grant need on q.
func (r *Resolved) suggestFlag(q string, exists bool, need sandbox.Access) string {
	dirFlag, fileFlag := grantFlag(need, false), grantFlag(need, true)
	if exists {
		if st, err := os.Stat(q); err == nil && st.IsDir() {
			return dirFlag + " " + shellQuote(q)
		}
		return fileFlag + " " + shellQuote(q)
	}
	parent := filepath.Dir(q)
	for parent != "/" {
		if _, err := os.Stat(parent); err == nil {
			break
		}
		parent = filepath.Dir(parent)
	}
	if r.sensitiveRoot(parent) {
		return fileFlag + " " + shellQuote(q)
	}
	return dirFlag + " " + shellQuote(parent)
}

// sensitiveRoot reports whether granting dir would be refused or far too broad.
func (r *Resolved) sensitiveRoot(dir string) bool {
	if home, err := r.x.Home(); dir == "/" || (err == nil && dir == home) {
		return true
	}
	for _, d := range r.Denies {
		if within(d.Path, dir) || within(dir, d.Path) {
			return true
		}
	}
	for _, root := range r.ProtectedRoots {
		if within(root, dir) || within(dir, root) {
			return true
		}
	}
	_, sensitive := r.sensitiveGroup(dir)
	return sensitive
}

func shellQuote(s string) string {
	if s != "" && strings.IndexFunc(s, func(c rune) bool {
		return !(c == '/' || c == '.' || c == '_' || c == '-' || c == '+' || c == ':' || c == '@' || c == ',' ||
			(c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))
	}) < 0 {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// Text renders the result for humans.
func (w WhyResult) Text() string {
	var b strings.Builder
	switch w.Status {
	case StatusAllowed:
		b.WriteString("ALLOWED\n")
	case StatusDenied:
		b.WriteString("DENIED\n")
	case "approval_required":
		b.WriteString("APPROVAL REQUIRED\n")
	case StatusNotSandboxed:
		b.WriteString("NOT SANDBOXED\n")
	case "scope":
		b.WriteString("SCOPE\n")
	default:
		b.WriteString(strings.ToUpper(w.Status) + "\n")
	}
	line := func(label, v string) {
		if v != "" {
			fmt.Fprintf(&b, "  %s: %s\n", label, v)
		}
	}
	line("Reason", w.Reason)
	line("Granted by", w.GrantedPath)
	if m := w.MatchingCapability; m != nil {
		line("Granted by", m.Path)
		line("Access", m.Access)
		line("Source", m.Source)
	}
	line("Access", w.Access)
	line("Source", w.Source)
	for _, e := range w.EndpointRules {
		line("Endpoint", e.Method+" "+e.Path)
	}
	line("Details", w.Details)
	line("Policy", w.PolicySource)
	line("Suggested fix", w.SuggestedFlag)
	if w.Message != "" {
		fmt.Fprintf(&b, "  %s\n", w.Message)
	}
	if w.Warning != "" {
		fmt.Fprintf(&b, "Warning: %s\n", w.Warning)
	}
	return b.String()
}

// Protection is the deny rule that keeps a path from the sandbox, and the
// flags that would lift it for that one path.
type Protection struct {
	Deny Deny   // the covering rule (longest match)
	Fix  string // e.g. "--read-file ~/.ssh/id_rsa --bypass-protection ~/.ssh"; "" when nothing there exists to grant
}

// ProtectionFor finds the recorded deny rule covering path (as WhyPath
// resolves it) and the smallest change that lets op reach it: a grant of
// the path itself, plus --bypass-protection of the rule, since a bypass
// lifts only rules at or below it and grants nothing by itself. ok is
// false when no deny rule covers path.
func ProtectionFor(r *Resolved, path, op string) (Protection, bool) {
	need, err := ParseOp(op)
	if err != nil {
		need = sandbox.AccessReadWrite
	}
	q := canonicalLenient(r.queryAbs(path))
	best := r.coveringDeny(q)
	if best == nil {
		return Protection{}, false
	}
	pr := Protection{Deny: *best}
	// CLI grants must exist: a missing path is granted through its
	// nearest existing directory inside the rule (creating a file needs
	// write access to its directory anyway).
	target := q
	for {
		st, err := os.Stat(target)
		if err == nil {
			pr.Fix = grantFlag(need, !st.IsDir()) + " " + shellQuote(target) + " --bypass-protection " + shellQuote(best.Path)
			return pr, true
		}
		if target == best.Path || !within(target, best.Path) {
			return pr, true // nothing inside the rule exists to grant
		}
		target = filepath.Dir(target)
	}
}

// Cause says in words which rule keeps the path out.
func (p Protection) Cause() string {
	d := p.Deny
	if d.Group == "" {
		return "denied by the deny rule " + d.Path
	}
	desc := strings.TrimSuffix(d.Description, ".")
	if desc == "" {
		return "protected by nono's " + d.Group + " group"
	}
	return fmt.Sprintf("protected by nono's %s group — %s", d.Group, desc)
}

// Caution is the warning that goes with Fix.
func (p Protection) Caution() string {
	what := p.Deny.Group
	if what == "" {
		what = "the deny rule " + p.Deny.Path
	}
	return fmt.Sprintf("--bypass-protection lifts a protection nono applies on purpose (%s); grant only what the command must reach.", what)
}

// Text renders the protection for `nono why`, after WhyResult.Text.
func (p Protection) Text() string {
	var b strings.Builder
	fmt.Fprintf(&b, "  Cause: %s\n", p.Cause())
	if p.Fix != "" {
		fmt.Fprintf(&b, "  To lift it for this path: %s\n  %s\n", p.Fix, p.Caution())
	}
	return b.String()
}
