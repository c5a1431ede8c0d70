package credentials

import (
	"bytes"
	"crypto/subtle"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strings"

	"golang.org/x/net/http/httpguts"
)

// Route is a validated credential service as the reverse proxy uses it.
type Route struct {
	// Name is the reverse-proxy prefix: /<Name>/...
	Name     string
	Upstream *url.URL
	Mode     InjectMode
	// Header is the canonical header carrying the credential (header and
	// basic_auth modes).
	Header string
	// Format holds exactly one {} (header mode).
	Format          string
	PathPattern     string
	PathReplacement string
	QueryParam      string
	// KeyVar receives the phantom in the child's environment.
	KeyVar string
	// BaseURLVar receives BaseURL(proxy origin).
	BaseURLVar    string
	BaseURLSuffix string
	Ref           Ref
	EndpointRules []EndpointRule
	TLSCA         string
}

// NewRoute validates a custom credential and builds its route.
func NewRoute(name string, def CustomCredential) (*Route, error) {
	if err := ValidateName(name); err != nil {
		return nil, err
	}
	if err := def.Validate(); err != nil {
		return nil, fmt.Errorf("custom credential %s: %w", name, err)
	}
	up, _ := ValidateUpstream(def.Upstream)
	ref, _ := ParseRef(def.CredentialKey)
	r := &Route{
		Name:          name,
		Upstream:      up,
		Mode:          def.mode(),
		KeyVar:        def.EnvVar,
		BaseURLVar:    BaseURLVar(name),
		Ref:           ref,
		EndpointRules: slices.Clone(def.EndpointRules),
		TLSCA:         def.TLSCA,
	}
	if r.KeyVar == "" {
		r.KeyVar = DefaultKeyVar(name)
	}
	switch r.Mode {
	case InjectHeader:
		r.Header, r.Format = canonicalHeader(def.header()), def.format()
	case InjectBasicAuth:
		r.Header = "Authorization"
	case InjectURLPath:
		r.PathPattern, r.PathReplacement = def.PathPattern, def.PathReplacement
		if r.PathReplacement == "" {
			r.PathReplacement = r.PathPattern
		}
	case InjectQueryParam:
		r.QueryParam = def.QueryParamName
	}
	return r, nil
}

func canonicalHeader(h string) string { return http.CanonicalHeaderKey(h) }

// BaseURL is the value of BaseURLVar for a gateway at proxyOrigin
// ("http://127.0.0.1:PORT"): origin + "/" + Name + BaseURLSuffix.
func (r *Route) BaseURL(proxyOrigin string) string {
	return strings.TrimSuffix(proxyOrigin, "/") + "/" + r.Name + r.BaseURLSuffix
}

// TLSRootCAs returns the system roots plus the route's tls_ca certificates,
// or nil (use the defaults) when the route has no tls_ca.
func (r *Route) TLSRootCAs() (*x509.CertPool, error) {
	if r.TLSCA == "" {
		return nil, nil
	}
	const maxPEM = 1 << 20
	fi, err := os.Stat(r.TLSCA)
	if err != nil {
		return nil, fmt.Errorf("tls_ca for %s: %w", r.Name, err)
	}
	if !fi.Mode().IsRegular() || fi.Size() > maxPEM {
		return nil, fmt.Errorf("tls_ca for %s: %s must be a regular PEM file of at most 1 MiB", r.Name, r.TLSCA)
	}
	pem, err := os.ReadFile(r.TLSCA)
	if err != nil {
		return nil, fmt.Errorf("tls_ca for %s: %w", r.Name, err)
	}
	pool, err := x509.SystemCertPool()
	if err != nil || pool == nil {
		pool = x509.NewCertPool()
	}
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("tls_ca for %s: %s holds no PEM certificates", r.Name, r.TLSCA)
	}
	return pool, nil
}

// clientAuthHeaders are credential-bearing headers a client may send. On a
// credential route they are all removed before injection, so a phantom or
// a stray real key never reaches the upstream.
var clientAuthHeaders = []string{
	"Authorization", "Proxy-Authorization", "X-Api-Key", "Api-Key",
	"X-Goog-Api-Key", "Private-Token", "Job-Token",
}

// StripClientAuth deletes every copy of the well-known credential headers,
// matching names case-insensitively (so hand-built maps with non-canonical
// keys are covered too).
func StripClientAuth(h http.Header) {
	for _, name := range clientAuthHeaders {
		deleteFold(h, name)
	}
}

func deleteFold(h http.Header, name string) {
	for k := range h {
		if strings.EqualFold(k, name) {
			delete(h, k)
		}
	}
}

func valuesFold(h http.Header, name string) []string {
	var out []string
	for k, vs := range h {
		if strings.EqualFold(k, name) {
			out = append(out, vs...)
		}
	}
	return out
}

// ErrNoPhantom means the request carries no token where the route expects it.
var ErrNoPhantom = errors.New("no credential presented in the expected location")

// ErrAmbiguousPhantom means the request carries the route's auth location
// more than once; it is refused rather than guessing which copy counts.
var ErrAmbiguousPhantom = errors.New("credential presented more than once")

// ExtractPhantom returns what the client presented in the route's auth
// location:
//
//   - header: the single value of Header, with the format's prefix and
//     suffix (e.g. "Bearer ", "token ") or a "Bearer " prefix removed
//     case-insensitively;
//   - basic_auth: the password of "Basic base64(user:password)";
//   - url_path: the text at {} of PathPattern, percent-decoded;
//   - query_param: the single QueryParam value, percent-decoded.
//
// For url_path, the pattern is searched after the upstream base path, so call
// it on the request as it will be forwarded (URL already rewritten to the
// upstream), as Inject is.
func ExtractPhantom(req *http.Request, r *Route) ([]byte, error) {
	switch r.Mode {
	case InjectHeader:
		vals := valuesFold(req.Header, r.Header)
		if len(vals) == 0 {
			// SDKs move between auth headers across versions (the Anthropic
			// SDK now sends Authorization: Bearer instead of x-api-key).
			// Accept the phantom in any one well-known auth header; the
			// route's own header still receives the real secret.
			return phantomFromAnyAuthHeader(req.Header)
		}
		v, err := single(vals)
		if err != nil {
			return nil, err
		}
		pre, suf, _ := strings.Cut(r.Format, Placeholder)
		switch {
		case pre != "" && hasPrefixFold(v, pre):
			v = v[len(pre):]
		case hasPrefixFold(v, "Bearer "):
			v = v[len("Bearer "):]
		}
		v = strings.TrimSuffix(v, suf)
		return nonEmpty([]byte(strings.TrimSpace(v)))
	case InjectBasicAuth:
		v, err := single(valuesFold(req.Header, "Authorization"))
		if err != nil {
			return nil, err
		}
		if !hasPrefixFold(v, "Basic ") {
			return nil, fmt.Errorf("%w: want Authorization: Basic", ErrNoPhantom)
		}
		dec, err := base64.StdEncoding.DecodeString(strings.TrimSpace(v[len("Basic "):]))
		if err != nil {
			return nil, fmt.Errorf("%w: malformed Basic credentials", ErrNoPhantom)
		}
		_, pass, ok := bytes.Cut(dec, []byte{':'})
		if !ok {
			return nil, fmt.Errorf("%w: Basic credentials without ':'", ErrNoPhantom)
		}
		return nonEmpty(pass)
	case InjectURLPath:
		esc := req.URL.EscapedPath()
		start, end, ok := r.findPathToken(esc)
		if !ok {
			return nil, ErrNoPhantom
		}
		tok, err := url.PathUnescape(esc[start:end])
		if err != nil {
			return nil, fmt.Errorf("%w: malformed escape in path", ErrNoPhantom)
		}
		return nonEmpty([]byte(tok))
	case InjectQueryParam:
		var vals []string
		for _, pair := range strings.Split(req.URL.RawQuery, "&") {
			k, v, _ := strings.Cut(pair, "=")
			if queryKey(k) == r.QueryParam {
				vals = append(vals, v)
			}
		}
		raw, err := single(vals)
		if err != nil {
			return nil, err
		}
		v, err := url.QueryUnescape(raw)
		if err != nil {
			return nil, fmt.Errorf("%w: malformed escape in query", ErrNoPhantom)
		}
		return nonEmpty([]byte(v))
	}
	return nil, fmt.Errorf("route %s: unknown inject mode %q", r.Name, r.Mode)
}

func single(vs []string) (string, error) {
	switch len(vs) {
	case 0:
		return "", ErrNoPhantom
	case 1:
		return vs[0], nil
	}
	return "", ErrAmbiguousPhantom
}

func nonEmpty(b []byte) ([]byte, error) {
	if len(b) == 0 {
		return nil, ErrNoPhantom
	}
	return b, nil
}

func hasPrefixFold(s, prefix string) bool {
	return len(s) >= len(prefix) && strings.EqualFold(s[:len(prefix)], prefix)
}

func queryKey(k string) string {
	if u, err := url.QueryUnescape(k); err == nil {
		return u
	}
	return k
}

// findPathToken locates the {} of PathPattern in the escaped path esc,
// searching after the upstream base path. With an empty suffix the token
// runs to the next '/' or the end.
func (r *Route) findPathToken(esc string) (start, end int, ok bool) {
	pre, suf, _ := strings.Cut(r.PathPattern, Placeholder)
	base := 0
	if r.Upstream != nil && r.Upstream.Path != "" && strings.HasPrefix(esc, r.Upstream.Path) {
		base = len(r.Upstream.Path)
	}
	i := strings.Index(esc[base:], pre)
	if i < 0 {
		return 0, 0, false
	}
	start = base + i + len(pre)
	rest := esc[start:]
	n := strings.IndexByte(rest, '/')
	if suf != "" {
		n = strings.Index(rest, suf)
	}
	if n < 0 {
		if suf != "" {
			return 0, 0, false
		}
		n = len(rest)
	}
	if n == 0 {
		return 0, 0, false
	}
	return start, start + n, true
}

// PhantomMatches compares the presented token with the session phantom in
// constant time (for equal lengths). An empty phantom never matches.
func PhantomMatches(presented, phantom []byte) bool {
	if len(phantom) == 0 {
		return false
	}
	return subtle.ConstantTimeCompare(presented, phantom) == 1
}

// Inject writes the real secret into the outbound request, after removing
// every client credential header (StripClientAuth) and every client copy of
// the route's header:
//
//   - header: Header = Format with {} replaced by the secret;
//   - basic_auth: Authorization = "Basic " + base64(secret); the secret
//     must be "user:password";
//   - url_path: the first PathPattern match (after the upstream base path)
//     is replaced by PathReplacement with the path-escaped secret at {};
//   - query_param: every QueryParam pair is removed and one
//     QueryParam=<escaped secret> is appended.
//
// net/http headers and URLs are strings, so the injected value is copied
// into memory this package cannot wipe; it lives as long as the request.
func (r *Route) Inject(req *http.Request, secret *Secret) error {
	if secret.Len() == 0 {
		return fmt.Errorf("route %s: no secret loaded", r.Name)
	}
	StripClientAuth(req.Header)
	switch r.Mode {
	case InjectHeader:
		deleteFold(req.Header, r.Header)
		v := strings.Replace(r.Format, Placeholder, string(secret.Bytes()), 1)
		if !httpguts.ValidHeaderFieldValue(v) {
			return fmt.Errorf("route %s: secret is not a valid %s header value (control characters?)", r.Name, r.Header)
		}
		req.Header[r.Header] = []string{v}
	case InjectBasicAuth:
		if !bytes.ContainsRune(secret.Bytes(), ':') {
			return fmt.Errorf("route %s: basic_auth secret must be stored as user:password", r.Name)
		}
		req.Header["Authorization"] = []string{"Basic " + base64.StdEncoding.EncodeToString(secret.Bytes())}
	case InjectURLPath:
		esc := req.URL.EscapedPath()
		start, end, ok := r.findPathToken(esc)
		if !ok {
			return fmt.Errorf("route %s: %w", r.Name, ErrNoPhantom)
		}
		pre, suf, _ := strings.Cut(r.PathPattern, Placeholder)
		repl := strings.Replace(r.PathReplacement, Placeholder, url.PathEscape(string(secret.Bytes())), 1)
		newEsc := esc[:start-len(pre)] + repl + esc[end+len(suf):]
		p, err := url.PathUnescape(newEsc)
		if err != nil {
			return fmt.Errorf("route %s: rewriting path: %w", r.Name, err)
		}
		req.URL.Path, req.URL.RawPath = p, newEsc
	case InjectQueryParam:
		var kept []string
		if req.URL.RawQuery != "" {
			for _, pair := range strings.Split(req.URL.RawQuery, "&") {
				k, _, _ := strings.Cut(pair, "=")
				if queryKey(k) != r.QueryParam {
					kept = append(kept, pair)
				}
			}
		}
		kept = append(kept, url.QueryEscape(r.QueryParam)+"="+url.QueryEscape(string(secret.Bytes())))
		req.URL.RawQuery = strings.Join(kept, "&")
	default:
		return fmt.Errorf("route %s: unknown inject mode %q", r.Name, r.Mode)
	}
	return nil
}

// phantomFromAnyAuthHeader finds the phantom when the client put it in a
// different well-known auth header than the route injects. More than one
// such header, or more than one value, is ambiguous and refused.
func phantomFromAnyAuthHeader(h http.Header) ([]byte, error) {
	var found []string
	for _, name := range []string{"Authorization", "X-Api-Key", "Api-Key", "X-Goog-Api-Key", "Private-Token"} {
		for _, v := range valuesFold(h, name) {
			if name == "Authorization" {
				switch {
				case hasPrefixFold(v, "Bearer "):
					v = v[len("Bearer "):]
				case hasPrefixFold(v, "token "):
					v = v[len("token "):]
				default:
					continue
				}
			}
			found = append(found, strings.TrimSpace(v))
		}
	}
	v, err := single(found)
	if err != nil {
		return nil, err
	}
	return nonEmpty([]byte(v))
}
