package policy

import (
	"bytes"
	"encoding/json"
	"math/rand"
	"testing"
)

// TestMarshalCapStateMatchesEncodingJSON: the hand-written encoder must
// produce the very bytes json.MarshalIndent produces, since the file
// name is the hash of those bytes.
func TestMarshalCapStateMatchesEncodingJSON(t *testing.T) {
	odd := []string{"", "plain", "/a b/c", `quo"te`, `back\slash`, "<tag>&amp;", "tab\there", "nl\n", "\x00\x01\x1f\x7f",
		"\b\f\r", "héllo ✓", "\u2028\u2029", "bad\xffutf8", "\xe2\x80", "emoji 🎉"}
	states := []capState{
		{},
		{FS: []capFS{}, AllowedCommands: []string{}, BlockedCommands: []string{}, BypassProtectionPaths: []string{},
			DenyPaths: []string{}, AllowedDomains: []string{}, OverrideDenyPaths: []string{}, DomainEndpoints: []DomainEndpoints{}},
		{Nonce: "00ff", NetBlocked: true,
			FS:                    []capFS{{Original: "~/x", Path: "/h/x", Access: "read", IsFile: true}, {Path: "/usr", Access: "readwrite", Source: "group:system_read_linux_core"}},
			AllowedCommands:       []string{"git"},
			BlockedCommands:       []string{"rm", "dd"},
			BypassProtectionPaths: []string{"/h/.ssh"},
			OverrideDenyPaths:     []string{"/old"},
			DenyPaths:             []string{"/h/.aws", "/h/.gnupg"},
			AllowedDomains:        []string{"api.openai.com", "*.github.com"},
			DomainEndpoints: []DomainEndpoints{
				{Domain: "api.github.com", Endpoints: []EndpointRule{{Method: "GET", Path: "/repos/**"}, {Method: "*", Path: "/user"}}},
				{Domain: "nil.example"},
				{Domain: "empty.example", Endpoints: []EndpointRule{}},
			}},
	}
	rng := rand.New(rand.NewSource(1))
	pick := func() string { return odd[rng.Intn(len(odd))] }
	picks := func() []string {
		if rng.Intn(4) == 0 {
			return nil
		}
		out := []string{}
		for range rng.Intn(4) {
			out = append(out, pick())
		}
		return out
	}
	for range 200 {
		st := capState{Nonce: pick(), NetBlocked: rng.Intn(2) == 0, AllowedCommands: picks(), BlockedCommands: picks(),
			BypassProtectionPaths: picks(), OverrideDenyPaths: picks(), DenyPaths: picks(), AllowedDomains: picks(),
			NetProxy: rng.Intn(2) == 0, AllowPublic: rng.Intn(2) == 0, CredentialHosts: picks()}
		if rng.Intn(4) != 0 {
			st.FS = []capFS{}
			for range rng.Intn(4) {
				st.FS = append(st.FS, capFS{Original: pick(), Path: pick(), Access: pick(), IsFile: rng.Intn(2) == 0, Source: pick()})
			}
		}
		for range rng.Intn(3) {
			d := DomainEndpoints{Domain: pick()}
			if rng.Intn(3) != 0 {
				d.Endpoints = []EndpointRule{}
				for range rng.Intn(3) {
					d.Endpoints = append(d.Endpoints, EndpointRule{Method: pick(), Path: pick()})
				}
			}
			st.DomainEndpoints = append(st.DomainEndpoints, d)
		}
		states = append(states, st)
	}
	for i, st := range states {
		want, err := json.MarshalIndent(st, "", "  ")
		if err != nil {
			t.Fatal(err)
		}
		if got := marshalCapState(&st); !bytes.Equal(got, want) {
			t.Fatalf("state %d:\n got %s\nwant %s", i, got, want)
		}
	}
}
