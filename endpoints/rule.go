package endpoints

import (
	"fmt"
	"strings"

	"golang.org/x/net/http/httpguts"
)

// Rule allows one method on the request paths matching one glob.
type Rule struct {
	// Service is the credential/route name from `SERVICE:METHOD:PATH`;
	// empty for structured rules, whose service is the one they belong to.
	Service string
	// Method is an upper-case HTTP token or "*" (any method).
	Method string
	// Path is the canonical glob pattern; see the package documentation.
	Path string
}

// String is the audit label of the rule, e.g. "POST /v1/chat/completions".
func (r Rule) String() string {
	return r.Method + " " + r.Path
}

const (
	maxServiceLen = 64
	// maxGlobstars bounds backtracking when a request path is matched.
	maxGlobstars = 4
)

// ParseRule parses `SERVICE:METHOD:PATH`, as given to --allow-endpoint. It
// splits at the first two ':' so the path may contain ':'.
func ParseRule(s string) (Rule, error) {
	service, rest, ok1 := strings.Cut(s, ":")
	method, path, ok2 := strings.Cut(rest, ":")
	if !ok1 || !ok2 {
		return Rule{}, fmt.Errorf("endpoint rule %q: want SERVICE:METHOD:PATH, e.g. openai:POST:/v1/chat/completions", clip(s))
	}
	switch {
	case service == "":
		return Rule{}, fmt.Errorf("endpoint rule %q: the service name is empty; write SERVICE:METHOD:PATH", clip(s))
	case method == "":
		return Rule{}, fmt.Errorf("endpoint rule %q: the method is empty; use an HTTP method such as GET or '*' for any", clip(s))
	case path == "":
		return Rule{}, fmt.Errorf("endpoint rule %q: the path is empty; use a path glob starting with '/'", clip(s))
	}
	if err := validateService(service); err != nil {
		return Rule{}, fmt.Errorf("endpoint rule %q: %w", clip(s), err)
	}
	r, err := NewRule(method, path)
	if err != nil {
		return Rule{}, fmt.Errorf("endpoint rule %q: %w", clip(s), err)
	}
	r.Service = service
	return r, nil
}

// NewRule validates a structured {method, path} rule from a profile and
// returns it in canonical form (upper-case method, canonical path glob).
func NewRule(method, path string) (Rule, error) {
	m, err := canonicalMethod(method)
	if err != nil {
		return Rule{}, err
	}
	p, err := canonicalPattern(path)
	if err != nil {
		return Rule{}, err
	}
	return Rule{Method: m, Path: p}, nil
}

func validateService(s string) error {
	ok := len(s) <= maxServiceLen && (isLowerAlnum(s[0]))
	for i := 1; ok && i < len(s); i++ {
		ok = isLowerAlnum(s[i]) || s[i] == '_' || s[i] == '-'
	}
	if !ok {
		return fmt.Errorf("service name %q is invalid: use lower-case letters, digits, '_' and '-', starting with a letter or digit (e.g. openai)", clip(s))
	}
	return nil
}

func isLowerAlnum(c byte) bool { return 'a' <= c && c <= 'z' || '0' <= c && c <= '9' }

func canonicalMethod(m string) (string, error) {
	if m == "*" {
		return m, nil
	}
	if m == "" || len(m) > 32 || !httpguts.ValidHeaderFieldName(m) || strings.Contains(m, "*") {
		return "", fmt.Errorf("method %q is not an HTTP method token; use e.g. GET, POST or '*' for any method", clip(m))
	}
	return strings.ToUpper(m), nil
}

func canonicalPattern(p string) (string, error) {
	if p == "" || p[0] != '/' {
		return "", fmt.Errorf("path %q must start with '/'", clip(p))
	}
	for i := 0; i < len(p); i++ {
		c := p[i]
		switch {
		case c < 0x20 || c == 0x7f:
			return "", fmt.Errorf("path %q contains a control character", clip(p))
		case c == '?' || c == '#':
			return "", fmt.Errorf("path %q contains %q: rules match the path only, never the query or fragment", clip(p), c)
		case strings.IndexByte(`[]{}\`, c) >= 0:
			return "", fmt.Errorf("path %q contains %q: only '*' and '**' are wildcards; percent-encode a literal %q", clip(p), c, c)
		}
	}
	canon, err := NormalizePath(p)
	if err != nil {
		return "", fmt.Errorf("path pattern: %w", err)
	}
	segs := strings.Split(canon[1:], "/")
	kept := segs[:0]
	stars := 0
	for i, s := range segs {
		if strings.Contains(s, "**") && s != "**" {
			return "", fmt.Errorf("path %q: '**' must be a whole segment, as in /api/**", clip(p))
		}
		if s == "**" && i > 0 && segs[i-1] == "**" {
			continue // "/**/**" means the same as "/**"
		}
		if s == "**" {
			stars++
		}
		kept = append(kept, s)
	}
	if stars > maxGlobstars {
		return "", fmt.Errorf("path %q has more than %d '**' segments; simplify the pattern", clip(p), maxGlobstars)
	}
	return "/" + strings.Join(kept, "/"), nil
}
