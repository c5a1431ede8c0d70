package endpoints

import (
	"fmt"
	"strings"

	"github.com/gobwas/glob"
	"golang.org/x/net/http/httpguts"
)

// Set is the compiled rule set of one service. The zero value and nil allow
// everything. A Set is immutable and safe for concurrent use.
type Set struct {
	rules []compiled
}

type compiled struct {
	rule Rule
	g    *glob.Pattern
}

// Compile validates and compiles one service's rules. No rules gives an
// allow-all set; any rule makes the set default-deny.
func Compile(rules []Rule) (*Set, error) {
	s := &Set{rules: make([]compiled, 0, len(rules))}
	for _, r := range rules {
		canon, err := NewRule(r.Method, r.Path)
		if err != nil {
			return nil, fmt.Errorf("endpoint rule %q: %w", r.String(), err)
		}
		canon.Service = r.Service
		g, err := compileGlob(canon.Path)
		if err != nil {
			return nil, fmt.Errorf("endpoint rule %q: %w", canon.String(), err)
		}
		s.rules = append(s.rules, compiled{rule: canon, g: g})
	}
	return s, nil
}

// Len is the number of rules; 0 means allow-all.
func (s *Set) Len() int {
	if s == nil {
		return 0
	}
	return len(s.rules)
}

// Rules returns a copy of the canonical rules, in order.
func (s *Set) Rules() []Rule {
	out := make([]Rule, 0, s.Len())
	for i := 0; i < s.Len(); i++ {
		out = append(out, s.rules[i].rule)
	}
	return out
}

// Allow decides a request. rawPath is the escaped request path without the
// query (e.g. the part of RequestURI before '?'); it may already be canonical.
// With rules, the path is canonicalised with NormalizePath; without rules,
// with NormalizePathEncodedSlash, and everything well-formed is allowed.
// An error means the method or path is malformed or ambiguous: refuse the
// request (400). matched is the first rule that allowed it, nil otherwise.
// The method is compared case-sensitively: "post" does not match "POST".
func (s *Set) Allow(method, rawPath string) (ok bool, matched *Rule, err error) {
	if method == "" || !httpguts.ValidHeaderFieldName(method) {
		return false, nil, fmt.Errorf("%w: request method %q is not an HTTP token", ErrAmbiguousPath, clip(method))
	}
	if s.Len() == 0 {
		if _, err := NormalizePathEncodedSlash(rawPath); err != nil {
			return false, nil, err
		}
		return true, nil, nil
	}
	p, err := NormalizePath(rawPath)
	if err != nil {
		return false, nil, err
	}
	for i := range s.rules {
		c := &s.rules[i]
		if (c.rule.Method == "*" || c.rule.Method == method) && c.g.Match(p) {
			r := c.rule
			return true, &r, nil
		}
	}
	return false, nil, nil
}

// compileGlob turns a canonical pattern into a gobwas glob with '/' as the
// separator and globstar on, adjusted so that:
//   - a whole-segment `*` matches one non-empty segment (`?*`);
//   - a trailing `/**` also matches the base itself (`{/**,}`);
//   - a middle `/**/` matches zero or more segments (gobwas globstar).
func compileGlob(pattern string) (*glob.Pattern, error) {
	segs := strings.Split(pattern[1:], "/")
	var b strings.Builder
	for i, s := range segs {
		switch {
		case s == "**" && i == len(segs)-1:
			b.WriteString("{/**,}")
		case s == "**":
			b.WriteString("/**")
		case s == "*":
			b.WriteString("/?*")
		default:
			b.WriteByte('/')
			for j, lit := range strings.Split(s, "*") {
				if j > 0 {
					b.WriteByte('*')
				}
				b.WriteString(glob.QuoteMeta(lit))
			}
		}
	}
	c := glob.Compiler{Separators: []rune{'/'}, Globstar: true}
	g, err := c.Compile(b.String())
	if err != nil {
		return nil, fmt.Errorf("compile path glob: %w", err)
	}
	return g, nil
}
