package policy

import (
	"errors"
	"fmt"
	"strings"
	"testing"
)

// fakeChecker is a HostChecker over exact allow/deny lists, standing in
// for the gateway (which package policy must not import).
func fakeChecker(p NetworkPlan) HostChecker {
	return func(host string, port uint16) HostVerdict {
		if strings.ContainsAny(host, " \x00") || port == 0 {
			return HostVerdict{Reason: ReasonInvalidHost, Detail: "bad host"}
		}
		if host == "169.254.169.254" {
			return HostVerdict{Reason: ReasonMetadataDenied, Host: host}
		}
		for _, d := range p.Deny {
			if d == host {
				return HostVerdict{Reason: ReasonHostDenied, Host: host, Rule: d}
			}
		}
		for _, a := range append(append([]string{}, p.Allow...), p.Implicit...) {
			if a == host {
				return HostVerdict{Allow: true, Reason: ReasonProxyAllowed, Host: host, Rule: a}
			}
		}
		if p.AllowPublic {
			return HostVerdict{Allow: true, Reason: ReasonProxyAllowed, Host: host, Rule: "*"}
		}
		return HostVerdict{Reason: ReasonProxyFiltered, Host: host}
	}
}

func TestNetworkPlanAndWhyHost(t *testing.T) {
	h := newFakeHost(t)
	h.userProfile("net", `{"extends": "default", "network": {"allow_domain": ["api.team.dev", "github"], "deny_domain": ["up.team.dev"], "credentials": ["c", "openai"],
	  "custom_credentials": {"c": {"upstream": "https://user@creds.team.dev:8443/v1"}}}}`)
	h.userProfile("off", `{"extends": "default", "network": {"block": true}}`)
	h.userProfile("dev", `{"extends": "python-dev"}`)
	h.userProfile("corp", `{"extends": "default", "network": {"upstream_proxy": "squid.corp:3128", "deny_domain": ["blocked.corp"]}}`)
	resolve := func(profile string) *Resolved { return mustResolve(t, h.req(func(r *Request) { r.Profile = profile })) }

	cases := []struct {
		profile string
		req     NetRequest
		host    string
		mode    NetMode
		reason  string
	}{
		{"", NetRequest{}, "example.com", NetOpen, ReasonNetworkAllowed},
		{"", NetRequest{BlockNet: true}, "example.com", NetBlocked, ReasonNetworkBlocked},
		{"off", NetRequest{}, "example.com", NetBlocked, ReasonNetworkBlocked},
		{"off", NetRequest{AllowNet: true}, "example.com", NetOpen, ReasonNetworkAllowed},
		{"dev", NetRequest{}, "api.openai.com", NetFiltered, ReasonProxyAllowed},
		{"dev", NetRequest{}, "example.com", NetFiltered, ReasonProxyFiltered},
		{"dev", NetRequest{AllowNet: true}, "example.com", NetOpen, ReasonNetworkAllowed},
		{"", NetRequest{AllowDomains: []string{"example.com"}}, "example.com", NetFiltered, ReasonProxyAllowed},
		{"", NetRequest{AllowDomains: []string{"example.com"}}, "169.254.169.254", NetFiltered, ReasonMetadataDenied},
		{"net", NetRequest{}, "api.team.dev", NetFiltered, ReasonProxyAllowed},
		{"net", NetRequest{}, "github.com", NetFiltered, ReasonProxyAllowed},
		{"net", NetRequest{}, "creds.team.dev", NetFiltered, ReasonProxyAllowed},
		{"net", NetRequest{}, "up.team.dev", NetFiltered, ReasonHostDenied},
		{"net", NetRequest{}, "api.openai.com", NetFiltered, ReasonProxyAllowed}, // preset credential host
		// Only an upstream proxy (flag or profile): every public host, the
		// deny list and metadata still refused.
		{"", NetRequest{UpstreamProxy: true}, "example.com", NetFiltered, ReasonProxyAllowed},
		{"", NetRequest{UpstreamProxy: true}, "169.254.169.254", NetFiltered, ReasonMetadataDenied},
		{"corp", NetRequest{}, "example.com", NetFiltered, ReasonProxyAllowed},
		{"corp", NetRequest{}, "blocked.corp", NetFiltered, ReasonHostDenied},
		{"corp", NetRequest{AllowNet: true}, "example.com", NetOpen, ReasonNetworkAllowed},
		// With an allowlist of nono's own, the upstream proxy only chains.
		{"", NetRequest{UpstreamProxy: true, AllowDomains: []string{"example.com"}}, "other.com", NetFiltered, ReasonProxyFiltered},
		{"", NetRequest{}, "bad host", NetOpen, ReasonInvalidHost},
		{"", NetRequest{BlockNet: true}, "bad host", NetBlocked, ReasonInvalidHost},
	}
	for _, c := range cases {
		name := fmt.Sprintf("%s/%+v/%s", c.profile, c.req, c.host)
		c.req.PresetHost = presetHost
		plan, err := resolve(c.profile).NetworkPlan(c.req)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if plan.Mode != c.mode {
			t.Errorf("%s: mode %v, want %v", name, plan.Mode, c.mode)
		}
		w := WhyHost(plan, fakeChecker(plan), c.host, 443)
		if w.Reason != c.reason || (w.Status == StatusAllowed) != (c.reason == ReasonProxyAllowed || c.reason == ReasonNetworkAllowed) {
			t.Errorf("%s: %+v, want %s", name, w, c.reason)
		}
	}
	for _, c := range []struct {
		profile string
		req     NetRequest
		public  bool
	}{
		{"", NetRequest{UpstreamProxy: true}, true},
		{"corp", NetRequest{}, true},
		{"", NetRequest{UpstreamProxy: true, NetworkProfile: "minimal"}, false},
		{"", NetRequest{UpstreamProxy: true, AllowDomains: []string{"x.dev"}}, false},
		{"", NetRequest{UpstreamProxy: true, Credentials: []string{"openai"}, PresetHost: presetHost}, false},
		{"", NetRequest{}, false},
	} {
		plan, err := resolve(c.profile).NetworkPlan(c.req)
		if err != nil || plan.AllowPublic != c.public {
			t.Errorf("%s %+v: AllowPublic %v (%v), want %v", c.profile, c.req, plan.AllowPublic, err, c.public)
		}
	}
	// Where an allowed host's entry came from, and how a filtered one is fixed.
	plan, _ := resolve("dev").NetworkPlan(NetRequest{AllowDomains: []string{"extra.dev"}})
	if w := WhyHost(plan, fakeChecker(plan), "extra.dev", 443); w.PolicySource != "--allow-domain" {
		t.Errorf("source: %+v", w)
	}
	if w := WhyHost(plan, fakeChecker(plan), "api.openai.com", 443); w.PolicySource != "network_profile:developer" {
		t.Errorf("source: %+v", w)
	}
	w := WhyHost(plan, fakeChecker(plan), "nope.dev", 443)
	if !strings.HasPrefix(w.Details, "Domain filtering is active. ") || w.SuggestedFlag != "--allow-domain nope.dev" ||
		!strings.Contains(w.Details, "network profile developer + 1 allow_domain entry") {
		t.Errorf("filtered: %+v", w)
	}
	for _, c := range []struct {
		profile string
		req     NetRequest
	}{
		{"", NetRequest{BlockNet: true, AllowNet: true}},
		{"", NetRequest{AllowNet: true, AllowDomains: []string{"x.dev"}}},
		{"", NetRequest{BlockNet: true, NetworkProfile: "minimal"}},
		{"off", NetRequest{NetworkProfile: "developer"}},
		{"", NetRequest{Credentials: []string{"not-a-service"}, PresetHost: presetHost}},
	} {
		if _, err := resolve(c.profile).NetworkPlan(c.req); err == nil {
			t.Errorf("%s %+v: conflict accepted", c.profile, c.req)
		}
	}
	// A profile's own proxy settings yield to --block-net and --allow-net.
	if p, err := resolve("dev").NetworkPlan(NetRequest{BlockNet: true}); err != nil || p.Mode != NetBlocked {
		t.Errorf("dev + --block-net: %+v %v", p, err)
	}
	if _, err := resolve("").NetworkPlan(NetRequest{NetworkProfile: "nope"}); err == nil || !strings.Contains(err.Error(), "minimal") {
		t.Errorf("unknown network profile: %v", err)
	}
}

func presetHost(name string) (string, bool) {
	if name == "openai" {
		return "api.openai.com", true
	}
	return "", false
}

func TestUpstreamHost(t *testing.T) {
	for in, want := range map[string]string{
		"https://api.x.com/v1": "api.x.com", "https://u:p@api.x.com:8443": "api.x.com", "http://[::1]:80/x": "[::1]",
		"api.x.com": "", "https://": "",
	} {
		if got := upstreamHost(in); got != want {
			t.Errorf("%s: %q, want %q", in, got, want)
		}
	}
}

func TestListShowDiffProfiles(t *testing.T) {
	h := newFakeHost(t)
	h.userProfile("mine", `{"meta": {"description": "mine"}, "extends": "default", "filesystem": {"allow": ["$HOME/x", "rel"]}}`)
	h.userProfile("default", `{"meta": {"description": "shadow"}}`)
	h.write(".config/nono/profiles/broken.jsonc", `{"nope": 1}`)
	h.write(".config/nono/profiles/Bad_Name.json", `{}`)
	x := NewExpander(h.env, h.work)
	list, err := ListProfiles(x)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]ProfileInfo{}
	for _, p := range list {
		got[p.Name+"|"+p.Source] = p
	}
	if len(got) != len(list) {
		t.Errorf("duplicate entries: %+v", list)
	}
	if p := got["mine|user"]; p.Description != "mine" || len(p.Extends) != 1 {
		t.Errorf("mine: %+v", p)
	}
	if _, ok := got["default|"+ProfileSourceOverride]; !ok {
		t.Errorf("override not reported: %+v", list)
	}
	if p := got["broken|user"]; !strings.Contains(p.Error, `unknown key "nope"`) {
		t.Errorf("broken: %+v", p)
	}
	if _, ok := got["Bad_Name|user"]; ok {
		t.Errorf("invalid name listed")
	}

	v, err := ShowProfile("mine", x, h.work)
	if err != nil {
		t.Fatal(err)
	}
	if v.Source != ProfileSourceUser || v.Filesystem["allow"][0].Expanded != h.home+"/x" || v.Filesystem["allow"][1].Expanded != h.work+"/rel" {
		t.Errorf("show: %+v", v)
	}
	if !contains(v.Groups.Active, "deny_credentials") || contains(v.Groups.Active, "system_read_macos") {
		t.Errorf("active groups: %v", v.Groups.Active)
	}
	a, _ := ShowProfile("python-dev", x, h.work)
	b, _ := ShowProfile("node-dev", x, h.work)
	d := DiffProfiles(a, b)
	if s := d["groups"]; !contains(s.Added, "node_runtime") || !contains(s.Removed, "python_runtime") {
		t.Errorf("groups diff: %+v", s)
	}
	changed, _, _ := d["security"].Changes()
	if len(changed) != 1 || changed[0] != (DiffChange{"ipc_mode", "full", "shared_memory_only"}) {
		t.Errorf("security changes: %+v", changed)
	}
	if len(DiffProfiles(a, a)) != 0 {
		t.Error("a profile differs from itself")
	}
	if _, err := ShowProfile("missing", x, h.work); err == nil {
		t.Error("missing profile shown")
	}
}

func TestValidateProfileReport(t *testing.T) {
	h := newFakeHost(t)
	x := NewExpander(h.env, h.work)
	noColon := func(e string) error {
		if strings.Contains(e, ":") {
			return errors.New("ports are not supported")
		}
		return nil
	}
	p := h.write("p.json", `{"filesytem": {}, "groups": {"include": ["nope"]}, "filesystem": {"allow": ["$BOGUS/x", "~/missing"]},
	  "network": {"allow_domain": ["a.dev:1", "github"]}, "extends": ["default", "nope-base"]}`)
	rep := ValidateProfile(p, x, h.work, noColon)
	want := []string{"$.filesytem", "$.groups.include[0]", "$.filesystem.allow[0]", "$.network.allow_domain[0]", "$.extends[1]"}
	for _, w := range want {
		found := false
		for _, e := range rep.Errors {
			found = found || e.Path == w
		}
		if !found {
			t.Errorf("no error at %s: %+v", w, rep.Errors)
		}
	}
	if rep.Valid || len(rep.Errors) != len(want) {
		t.Errorf("report: %+v", rep)
	}
	if len(rep.Warnings) != 1 || rep.Warnings[0].Path != "$.filesystem.allow[1]" {
		t.Errorf("warnings: %+v", rep.Warnings)
	}
	for _, n := range BuiltinProfileNames() {
		if rep := ValidateProfile(n, x, h.work, noColon); !rep.Valid || rep.File != "built-in:"+n {
			t.Errorf("built-in %s: %+v", n, rep)
		}
	}
	if rep := ValidateProfile(h.write("ok.json", `{"extends": "default"}`), x, h.work, nil); !rep.Valid {
		t.Errorf("ok: %+v", rep)
	}
	if rep := ValidateProfile("not-there", x, h.work, nil); rep.Valid || !strings.Contains(rep.Errors[0].Message, "not found") {
		t.Errorf("missing: %+v", rep)
	}
}

// TestParseReportsEveryProblem: the parser collects all schema and rule
// violations, each with its JSON path; Error() names the first.
func TestParseReportsEveryProblem(t *testing.T) {
	_, err := ParseProfile("x", []byte(`{"a": 1, "workdir": {"access": 3}, "groups": {"exclude": ["deny_credentials"]}, "b": 2}`))
	var pe *ProfileError
	if !errors.As(err, &pe) || len(pe.Issues) != 3 {
		t.Fatalf("%v", err)
	}
	if pe.Issues[0].Path != "$.a" || pe.Issues[1].Path != "$.workdir.access" || pe.Issues[2].Path != "$.b" {
		t.Errorf("issues: %+v", pe.Issues)
	}
	if !strings.Contains(err.Error(), `unknown key "a"`) || !strings.Contains(err.Error(), "and 2 more") {
		t.Errorf("message: %v", err)
	}
}

// TestGuideExamplesParse keeps the guide's complete examples valid.
func TestGuideExamplesParse(t *testing.T) {
	var blocks []string
	var cur []string
	for _, line := range strings.Split(Guide(), "\n") {
		switch {
		case strings.HasPrefix(line, "    { ") && strings.HasSuffix(line, " }") && !strings.Contains(line, "..."):
			blocks = append(blocks, line)
		case line == "    {":
			cur = []string{line}
		case cur != nil:
			cur = append(cur, line)
			if line == "    }" {
				blocks = append(blocks, strings.Join(cur, "\n"))
				cur = nil
			}
		}
	}
	if len(blocks) < 3 {
		t.Fatalf("found %d examples", len(blocks))
	}
	for _, b := range blocks {
		if _, err := ParseProfile("guide", []byte(b)); err != nil {
			t.Errorf("guide example does not parse: %v\n%s", err, b)
		}
	}
	for _, s := range []string{"extends", "groups", "never granted", "$WORKDIR", "allow_domain", "custom_credentials", "bypass_protection"} {
		if !strings.Contains(Guide(), s) {
			t.Errorf("guide does not cover %s", s)
		}
	}
}
