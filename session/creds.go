package session

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/nono-sandbox/nono/certs"
	"github.com/nono-sandbox/nono/credentials"
	"github.com/nono-sandbox/nono/endpoints"
	"github.com/nono-sandbox/nono/proxy"
)

// Credentials is what the CLI collected about credential injection.
type Credentials struct {
	Services    []string    // --credential
	Endpoints   []string    // --allow-endpoint SERVICE:METHOD:PATH
	EnvLists    []string    // --env-credential (comma-separated entries)
	EnvMappings [][2]string // --env-credential-map REF VAR
}

func (c Credentials) given() bool {
	return len(c.Services) > 0 || len(c.Endpoints) > 0
}

// credPlan is the resolved credential side of a run.
type credPlan struct {
	routes []*credentials.Route
	rules  map[string]*endpoints.Set // by route name
	env    []credentials.EnvMapping  // secrets placed directly in the child env

	secrets    map[string]*credentials.Secret // route name -> secret (loaded at start)
	envSecrets map[string]*credentials.Secret // env var -> secret
}

// hosts are the upstream hosts of every route: allowed implicitly and
// intercepted with the session CA.
func (c *credPlan) hosts() []string {
	var out []string
	for _, r := range c.routes {
		out = append(out, r.Upstream.Hostname())
	}
	return dedup(out)
}

// planCredentials resolves --credential, --allow-endpoint, profile
// credentials and the env-credential flags. Nothing secret is loaded here.
func (p *Plan) planCredentials() error {
	c := p.opts.Credentials
	r := p.resolved
	custom := map[string]credentials.CustomCredential{}
	if len(r.CustomCredentials) > 0 {
		b, err := json.Marshal(r.CustomCredentials)
		if err != nil {
			return fmt.Errorf("profile custom_credentials: %w", err)
		}
		if err := json.Unmarshal(b, &custom); err != nil {
			return fmt.Errorf("profile custom_credentials: %w", err)
		}
	}
	services := dedup(append(append([]string(nil), r.Credentials...), c.Services...))
	cp := &credPlan{rules: map[string]*endpoints.Set{}}
	ruleLists := map[string][]endpoints.Rule{}
	for _, name := range services {
		route, err := credentials.ResolveRoute(name, custom)
		if err != nil {
			return fmt.Errorf("--credential %s: %w", name, err)
		}
		cp.routes = append(cp.routes, route)
		for _, er := range route.EndpointRules {
			rule, err := endpoints.NewRule(er.Method, er.Path)
			if err != nil {
				return fmt.Errorf("custom credential %s endpoint rule: %w", name, err)
			}
			rule.Service = name
			ruleLists[name] = append(ruleLists[name], rule)
		}
	}
	for _, s := range c.Endpoints {
		rule, err := endpoints.ParseRule(s)
		if err != nil {
			return fmt.Errorf("--allow-endpoint %q: %w", s, err)
		}
		if !contains(services, rule.Service) {
			return fmt.Errorf("--allow-endpoint %q names service %q, which has no --credential %s: endpoint rules restrict a credential service", s, rule.Service, rule.Service)
		}
		ruleLists[rule.Service] = append(ruleLists[rule.Service], rule)
	}
	for name, rules := range ruleLists {
		set, err := endpoints.Compile(rules)
		if err != nil {
			return fmt.Errorf("endpoint rules for %s: %w", name, err)
		}
		cp.rules[name] = set
	}
	for _, l := range c.EnvLists {
		ms, err := credentials.ParseEnvCredentialList(l)
		if err != nil {
			return err
		}
		cp.env = append(cp.env, ms...)
	}
	for _, pair := range c.EnvMappings {
		m, err := credentials.NewEnvMapping(pair[0], pair[1])
		if err != nil {
			return fmt.Errorf("--env-credential-map %s %s: %w", pair[0], pair[1], err)
		}
		cp.env = append(cp.env, m)
	}
	keys := make([]string, 0, len(r.EnvCredentials))
	for k := range r.EnvCredentials {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, ref := range keys {
		m, err := credentials.NewEnvMapping(ref, r.EnvCredentials[ref])
		if err != nil {
			return fmt.Errorf("profile env_credentials %s: %w", ref, err)
		}
		cp.env = append(cp.env, m)
	}
	if len(cp.routes) == 0 && len(cp.env) == 0 {
		return nil
	}
	p.creds = cp
	return nil
}

func contains(xs []string, s string) bool {
	for _, x := range xs {
		if x == s {
			return true
		}
	}
	return false
}

// loadSecrets resolves every secret before the child starts; any failure
// stops the run with an error naming the credential, never the secret.
func (p *Plan) loadSecrets() error {
	cp := p.creds
	var refs []credentials.NamedRef
	for _, r := range cp.routes {
		refs = append(refs, credentials.NamedRef{Name: "route:" + r.Name, Ref: r.Ref})
	}
	for _, m := range cp.env {
		refs = append(refs, credentials.NamedRef{Name: "env:" + m.EnvVar, Ref: m.Ref})
	}
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	r := credentials.NewResolver()
	// A keyring unlock, `op read` or the 1Password SDK can take seconds:
	// say what nono is waiting for rather than sit silent.
	slow := time.AfterFunc(loadNotice, func() {
		p.opts.Printer.Printf("Loading %d credential%s from %s (up to 90 s)...\n", len(refs),
			map[bool]string{true: "", false: "s"}[len(refs) == 1], refBackends(refs))
	})
	loaded, err := credentials.LoadAll(ctx, r, refs)
	slow.Stop()
	// Ends the 1Password SDK helper (nono-op) before the child starts: it
	// holds the service account token and must not outlive the loading.
	if cerr := r.Close(); cerr != nil && err == nil {
		credentials.WipeAll(loaded)
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("loading credentials: %w", err)
	}
	cp.secrets = map[string]*credentials.Secret{}
	cp.envSecrets = map[string]*credentials.Secret{}
	for name, s := range loaded {
		if n, ok := strings.CutPrefix(name, "route:"); ok {
			cp.secrets[n] = s
		} else {
			cp.envSecrets[strings.TrimPrefix(name, "env:")] = s
		}
	}
	return nil
}

// loadNotice is how long credential loading may take before nono says so.
const loadNotice = time.Second

// refBackends names the secret stores refs come from, for the notice.
func refBackends(refs []credentials.NamedRef) string {
	names := map[credentials.Scheme]string{
		credentials.SchemeKeyring: "the system keyring", credentials.SchemeOnePassword: "1Password",
		credentials.SchemeEnv: "the environment", credentials.SchemeFile: "files",
		credentials.SchemeApplePassword: "Apple Passwords",
	}
	var out []string
	for _, r := range refs {
		if n := names[r.Ref.Scheme]; n != "" && !contains(out, n) {
			out = append(out, n)
		}
	}
	return strings.Join(out, ", ")
}

func (cp *credPlan) wipe() {
	credentials.WipeAll(cp.secrets)
	credentials.WipeAll(cp.envSecrets)
}

// envSourceVars are host variables named by env:// refs: they hold real
// secrets and must not reach the child under their own name.
func (cp *credPlan) envSourceVars() []string {
	var out []string
	for _, r := range cp.routes {
		if r.Ref.Scheme == credentials.SchemeEnv {
			out = append(out, r.Ref.Var)
		}
	}
	for _, m := range cp.env {
		if m.Ref.Scheme == credentials.SchemeEnv {
			out = append(out, m.Ref.Var)
		}
	}
	return out
}

// proxyRoutes builds the gateway's credential routes.
func (cp *credPlan) proxyRoutes() ([]proxy.CredentialRoute, error) {
	var out []proxy.CredentialRoute
	for _, r := range cp.routes {
		pool, err := r.TLSRootCAs()
		if err != nil {
			return nil, fmt.Errorf("credential %s tls_ca: %w", r.Name, err)
		}
		out = append(out, proxy.CredentialRoute{Route: r, Secret: cp.secrets[r.Name], Endpoints: cp.rules[r.Name], RootCAs: pool})
	}
	return out, nil
}

// sessionCA creates the interception CA for the credential hosts and
// writes the child's trust bundle into a private directory. The bundle
// comes back open, for the child's read grant (sandbox.Grant.Handle);
// cleanup closes it, removes the directory and wipes the CA.
func (p *Plan) sessionCA(hosts []string) (*certs.CA, *os.File, func(), error) {
	ca, err := certs.NewSessionCA(hosts, time.Now())
	if err != nil {
		return nil, nil, nil, fmt.Errorf("creating the session CA: %w", err)
	}
	dir, err := os.MkdirTemp(capDir(), ".nono-ca-")
	if err != nil {
		ca.Close()
		return nil, nil, nil, fmt.Errorf("creating the trust bundle directory: %w", err)
	}
	bundle, err := ca.WriteBundle(dir)
	if bundle == nil {
		os.RemoveAll(dir)
		ca.Close()
		return nil, nil, nil, fmt.Errorf("writing the trust bundle: %w", err)
	}
	if err != nil {
		p.opts.Printer.Warnf("%v", err)
	}
	cleanup := func() { bundle.Close(); os.RemoveAll(dir); ca.Close() }
	return ca, bundle, cleanup, nil
}

// credentialEnv points each route's SDK at the gateway with the phantom.
func (cp *credPlan) credentialEnv(origin string, token []byte) map[string]string {
	env := map[string]string{}
	for _, r := range cp.routes {
		env[r.BaseURLVar] = r.BaseURL(origin)
		env[r.KeyVar] = string(token)
	}
	return env
}

// describe lists the routes for --dry-run and -v, without any secret.
func (cp *credPlan) describe() []string {
	var out []string
	for _, r := range cp.routes {
		rules := "all endpoints"
		if set := cp.rules[r.Name]; set.Len() > 0 {
			var rs []string
			for _, x := range set.Rules() {
				rs = append(rs, x.String())
			}
			rules = strings.Join(rs, ", ")
		}
		u := url.URL{Scheme: r.Upstream.Scheme, Host: r.Upstream.Host, Path: r.Upstream.Path}
		out = append(out, fmt.Sprintf("%s -> %s (%s from %s; %s gets the phantom, %s the gateway URL; %s)",
			r.Name, u.String(), r.Header, r.Ref.Describe(), r.KeyVar, r.BaseURLVar, rules))
	}
	for _, m := range cp.env {
		out = append(out, fmt.Sprintf("%s = the real secret from %s (directly in the child's environment)", m.EnvVar, m.Ref.Describe()))
	}
	return out
}
