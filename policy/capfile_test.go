package policy

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nono-sandbox/nono/sandbox"
)

// capHost resolves a policy and points TMPDIR at a scratch temp root.
func capHost(t *testing.T) (*fakeHost, *Resolved) {
	h := newFakeHost(t)
	t.Setenv("TMPDIR", h.tmp)
	h.mkdir("proj", "docs")
	h.write("docs/a.txt", "x")
	r := mustResolve(t, h.req(func(q *Request) {
		q.Allow = []string{h.home + "/proj"}
		q.ReadFile = []string{h.home + "/docs/a.txt"}
	}))
	return h, r
}

func TestCapFileRoundTrip(t *testing.T) {
	h, r := capHost(t)
	path, err := capPath(WriteCapFile(h.tmp, r, CapNet{Blocked: true, AllowedDomains: []string{"api.openai.com"},
		DomainEndpoints: []DomainEndpoints{{Domain: "api.github.com", Endpoints: []EndpointRule{{Method: "GET", Path: "/repos/**"}}}}}))
	if err != nil {
		t.Fatal(err)
	}
	if !capFileNameRE().MatchString(filepath.Base(path)) || filepath.Dir(path) != h.tmp {
		t.Fatalf("path = %s", path)
	}
	st, _ := os.Stat(path)
	if st.Mode().Perm() != 0o600 {
		t.Errorf("mode = %v", st.Mode())
	}
	var raw map[string]any
	data, _ := os.ReadFile(path)
	if err := json.Unmarshal(data, &raw); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"fs", "net_blocked", "allowed_commands", "blocked_commands", "bypass_protection_paths", "deny_paths", "allowed_domains", "domain_endpoints"} {
		if _, ok := raw[k]; !ok {
			t.Errorf("state lacks %q", k)
		}
	}
	got, err := LoadCapFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !got.Net.Blocked || got.Net.AllowedDomains[0] != "api.openai.com" || got.Net.DomainEndpoints[0].Endpoints[0].Path != "/repos/**" {
		t.Errorf("net = %+v", got.Net)
	}
	if i, ok := findGrant(got, h.home+"/proj", SourceUser); !ok || got.Grants[i].Access != sandbox.AccessReadWrite {
		t.Errorf("grants not restored: %+v", got.Grants)
	}
	// why --self answers from the file, deny rules included.
	if w := WhyPath(got, h.home+"/proj/x", "write"); w.Reason != "granted_path" {
		t.Errorf("why self grant: %+v", w)
	}
	if w := WhyPath(got, h.home+"/.ssh/id_rsa", "read"); w.Reason != "filesystem_deny" {
		t.Errorf("why self deny: %+v", w)
	}
	// Create-exclusive: two writes never share a name.
	p2, err := capPath(WriteCapFile(h.tmp, r, CapNet{}))
	if err != nil || p2 == path {
		t.Errorf("second write: %s %v", p2, err)
	}
}

func TestCapFileTamperRejected(t *testing.T) {
	h, r := capHost(t)
	good, err := capPath(WriteCapFile(h.tmp, r, CapNet{}))
	if err != nil {
		t.Fatal(err)
	}
	data, _ := os.ReadFile(good)
	write := func(name string, body []byte) string {
		p := filepath.Join(h.tmp, name)
		if err := os.WriteFile(p, body, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	edit := func(f func(st *capState)) []byte {
		var st capState
		if err := json.Unmarshal(data, &st); err != nil {
			t.Fatal(err)
		}
		f(&st)
		b, _ := json.Marshal(st)
		return b
	}
	n := 0
	name := func() string { n++; return fmt.Sprintf(".nono-%032x.json", 0x1000+n) }
	// signed writes body under the name that matches its digest, so the
	// content checks behind the digest check are exercised too.
	signed := func(body []byte) string { return write(capFileName(body), body) }

	outside := filepath.Join(h.root, filepath.Base(good))
	os.WriteFile(outside, data, 0o600)
	link := filepath.Join(h.tmp, ".nono-000000000000000000000000000000ab.json")
	os.Symlink(good, link)
	big := write(name(), append(append([]byte(nil), data...), make([]byte, 1<<20)...))
	notOwned := filepath.Join(h.tmp, "sub", filepath.Base(good))
	os.Mkdir(filepath.Dir(notOwned), 0o700)
	os.WriteFile(notOwned, data, 0o600)
	if err := os.Chown(notOwned, 12345, 12345); err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(h.tmp, ".nono-000000000000000000000000000000ac.json")
	os.Mkdir(dir, 0o700)
	h.mkdir("real")
	os.Symlink(h.home+"/real", h.home+"/alias")

	cases := []struct{ path, want string }{
		{"relative/.nono-00000000000000000000000000000000.json", "not an absolute clean path"},
		{h.tmp + "/../tmp/" + filepath.Base(good), "not an absolute clean path"},
		{filepath.Join(h.tmp, "evil.json"), "does not match .nono-<32 hex>.json"},
		{filepath.Join(h.tmp, ".nono-ZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZ.json"), "does not match"},
		{outside, "is not inside $TMPDIR or /tmp"},
		{link, "is not canonical"},
		{big, "larger than 1 MiB"},
		{notOwned, "not owned by the current user"},
		{dir, "not a regular file"},
		{write(filepath.Base(good)[:6]+"0123456789abcdef0123456789abcdef.json", data), "content digest"},
		{write(name(), data), "content digest"},
		{signed([]byte(`{"fs": [], "extra": 1}`)), "malformed JSON"},
		{signed([]byte(`{"fs": []} {}`)), "trailing data"},
		{signed(edit(func(st *capState) { st.FS[0].Access = "execute" })), "is not read, write or readwrite"},
		{signed(edit(func(st *capState) { st.FS[0].Path = "relative/path" })), "not an absolute clean path"},
		{signed(edit(func(st *capState) { st.FS[0].Path = h.home + "/proj/../.ssh" })), "not an absolute clean path"},
		{signed(edit(func(st *capState) { st.FS[0].Path = h.home + "/alias"; st.FS[0].IsFile = false })), "is not canonical"},
		{signed(edit(func(st *capState) { st.FS[0].IsFile = !st.FS[0].IsFile })), "does not match"},
		{signed(edit(func(st *capState) { st.FS[0].Source = "group:not_a_group" })), "not a known grant source"},
		{signed(edit(func(st *capState) { st.DenyPaths = []string{"x"} })), "deny_paths[0]"},
		{signed(edit(func(st *capState) { st.BypassProtectionPaths = []string{"/a/../b"} })), "bypass_protection_paths[0]"},
		{signed(edit(func(st *capState) { st.BlockedCommands = []string{"/bin/rm"} })), "command entry"},
	}
	for _, c := range cases {
		_, err := LoadCapFile(c.path)
		if err == nil {
			t.Errorf("%s accepted, want %q", c.path, c.want)
			continue
		}
		if !strings.HasPrefix(err.Error(), "SECURITY: NONO_CAP_FILE validation failed: ") || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want %q", c.path, err, c.want)
		}
	}
	// A forged grant on a path that no longer exists is dropped, not trusted.
	p := signed(edit(func(st *capState) {
		st.FS = append(st.FS, capFS{Path: h.home + "/gone", Access: "readwrite", Source: "user"})
	}))
	got, err := LoadCapFile(p)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := findGrant(got, h.home+"/gone", ""); ok {
		t.Errorf("missing path kept")
	}
	if _, err := LoadCapFile(good); err != nil {
		t.Errorf("untampered file rejected: %v", err)
	}
	// The child can usually write $TMPDIR: an in-place edit granting itself
	// everything must be detected, however valid the new content is.
	forged := edit(func(st *capState) { st.FS = append(st.FS, capFS{Path: "/", Access: "readwrite", Source: "user"}) })
	if err := os.WriteFile(good, forged, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadCapFile(good); err == nil || !strings.Contains(err.Error(), "content digest") {
		t.Errorf("in-place edit accepted: %v", err)
	}
}

// capPath closes the file WriteCapFile returns and gives its path.
func capPath(f *os.File, err error) (string, error) {
	if f == nil {
		return "", err
	}
	f.Close()
	return f.Name(), err
}
