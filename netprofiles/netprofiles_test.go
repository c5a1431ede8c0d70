package netprofiles

import (
	"slices"
	"strings"
	"testing"
)

func TestEmbeddedDataParses(t *testing.T) {
	if _, err := parse(rawData); err != nil {
		t.Fatal(err)
	}
}

func TestParseRejectsBadData(t *testing.T) {
	for name, doc := range map[string]string{
		"unknown group": `{"groups":{"a":{"hosts":["x.com"]}},"profiles":{"p":{"groups":["b"]}}}`,
		"empty group":   `{"groups":{"a":{}},"profiles":{}}`,
		"dotted suffix": `{"groups":{"a":{"suffixes":[".x.com"]}},"profiles":{}}`,
		"wild suffix":   `{"groups":{"a":{"suffixes":["*.x.com"]}},"profiles":{}}`,
		"unknown field": `{"groups":{"a":{"hosts":["x.com"],"extra":1}},"profiles":{}}`,
		"empty profile": `{"groups":{"a":{"hosts":["x.com"]}},"profiles":{"p":{"groups":[]}}}`,
	} {
		if _, err := parse([]byte(doc)); err == nil {
			t.Errorf("%s: parse accepted %s", name, doc)
		}
	}
}

func TestNamesAndGroupNames(t *testing.T) {
	want := []string{"claude-code", "codex", "developer", "enterprise", "minimal", "opencode"}
	if got := Names(); !slices.Equal(got, want) {
		t.Fatalf("Names() = %v, want %v", got, want)
	}
	wantG := []string{"aws_bedrock", "azure", "documentation", "github", "gitlab", "google_cloud", "llm_apis", "package_registries", "sigstore"}
	if got := GroupNames(); !slices.Equal(got, wantG) {
		t.Fatalf("GroupNames() = %v, want %v", got, wantG)
	}
}

func TestEveryProfileResolves(t *testing.T) {
	for _, name := range Names() {
		hosts, err := Profile(name)
		if err != nil {
			t.Fatalf("Profile(%q): %v", name, err)
		}
		if len(hosts) == 0 {
			t.Fatalf("Profile(%q) is empty", name)
		}
		seen := map[string]bool{}
		for _, h := range hosts {
			if seen[h] {
				t.Errorf("Profile(%q) repeats %q", name, h)
			}
			seen[h] = true
			if h == "" || strings.ContainsAny(h, " /:") || (strings.Contains(h, "*") && !strings.HasPrefix(h, "*.")) {
				t.Errorf("Profile(%q) has malformed entry %q", name, h)
			}
		}
		if d, ok := Description(name); !ok || d == "" {
			t.Errorf("profile %q has no description", name)
		}
	}
}

func TestProfileContents(t *testing.T) {
	minimal, _ := Profile("minimal")
	llm, _ := Group("llm_apis")
	if !slices.Equal(minimal, llm) {
		t.Fatalf("minimal = %v, want llm_apis %v", minimal, llm)
	}
	dev, _ := Profile("developer")
	for _, alias := range []string{"claude-code", "codex", "opencode"} {
		got, _ := Profile(alias)
		if !slices.Equal(got, dev) {
			t.Errorf("%s differs from developer", alias)
		}
	}
	// Every mainstream language's package source: a Go agent needs the module proxy and checksum database.
	for _, h := range []string{"api.anthropic.com", "registry.npmjs.org", "pypi.org", "files.pythonhosted.org", "crates.io", "proxy.golang.org", "sum.golang.org", "ghcr.io", "registry.gitlab.com", "rekor.sigstore.dev", "pkg.go.dev"} {
		if !slices.Contains(dev, h) {
			t.Errorf("developer lacks %s", h)
		}
	}
	if slices.Contains(dev, "*.googleapis.com") {
		t.Error("developer must not include google_cloud")
	}
}

func TestEnterpriseIsSupersetOfDeveloper(t *testing.T) {
	dev, _ := Profile("developer")
	ent, _ := Profile("enterprise")
	for _, h := range dev {
		if !slices.Contains(ent, h) {
			t.Errorf("enterprise lacks developer entry %q", h)
		}
	}
	for _, h := range []string{"*.googleapis.com", "*.openai.azure.com", "*.cognitiveservices.azure.com", "*.bedrock.amazonaws.com", "*.bedrock-runtime.amazonaws.com"} {
		if !slices.Contains(ent, h) {
			t.Errorf("enterprise lacks %q", h)
		}
	}
	if len(ent) <= len(dev) {
		t.Errorf("enterprise (%d) is not larger than developer (%d)", len(ent), len(dev))
	}
}

func TestUnknownProfileListsValidNames(t *testing.T) {
	_, err := Profile("devloper")
	if err == nil {
		t.Fatal("unknown profile accepted")
	}
	for _, n := range Names() {
		if !strings.Contains(err.Error(), n) {
			t.Errorf("error %q does not list %q", err, n)
		}
	}
	if !strings.Contains(err.Error(), `"devloper"`) {
		t.Errorf("error %q does not name the bad profile", err)
	}
	if _, err := Groups("nope"); err == nil {
		t.Error("Groups accepted an unknown profile")
	}
}

func TestGroupSuffixesBecomeWildcards(t *testing.T) {
	g, ok := Group("azure")
	if !ok || !slices.Equal(g, []string{"*.openai.azure.com", "*.cognitiveservices.azure.com"}) {
		t.Fatalf("Group(azure) = %v, %v", g, ok)
	}
	if _, ok := Group("nope"); ok {
		t.Fatal("Group accepted an unknown name")
	}
}

func TestExpand(t *testing.T) {
	got := Expand([]string{"example.com", "gitlab", "gitlab.com", "*.corp.internal", "gitlab"})
	want := []string{"example.com", "gitlab.com", "cloud.gitlab.com", "registry.gitlab.com", "*.corp.internal"}
	if !slices.Equal(got, want) {
		t.Fatalf("Expand = %v, want %v", got, want)
	}
	if got := Expand(nil); len(got) != 0 {
		t.Fatalf("Expand(nil) = %v", got)
	}
}

func TestReturnedSlicesAreCopies(t *testing.T) {
	a, _ := Profile("minimal")
	a[0] = "evil.example"
	b, _ := Profile("minimal")
	if b[0] == "evil.example" {
		t.Fatal("Profile returned shared storage")
	}
	g, _ := Groups("minimal")
	g[0] = "x"
	if g2, _ := Groups("minimal"); g2[0] != "llm_apis" {
		t.Fatal("Groups returned shared storage")
	}
}
