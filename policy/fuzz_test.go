package policy

import (
	"encoding/json"
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nono-sandbox/nono/sandbox"
)

func FuzzParseProfile(f *testing.F) {
	for _, n := range BuiltinProfileNames() {
		src, _ := BuiltinProfileSource(n)
		f.Add(src)
	}
	for _, s := range []string{`{}`, `{"filesytem": {}}`, `{"extends": ["a", "b"]}`, `{"network": {"network_profile": null, "open_port": [1, 65535]}}`,
		`{"filesystem": {"read": [{"path": "/x", "when": ["!macos"]}]}}`, `/* c */ {"meta": {"name": "x",},}`, `[[[[`, `{"a": "\u0000"}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := ParseProfile("fuzz", data)
		if err != nil {
			if !strings.HasPrefix(err.Error(), "profile fuzz: ") {
				t.Fatalf("unlabelled error: %v", err)
			}
			return
		}
		// Anything accepted survives a marshal/parse round trip.
		b, err := json.Marshal(p)
		if err != nil {
			t.Fatalf("marshal: %v", err)
		}
		if _, err := ParseProfile("again", b); err != nil {
			t.Fatalf("re-parse of %s failed: %v", b, err)
		}
	})
}

func FuzzExpandVars(f *testing.F) {
	for _, s := range []string{"~", "~/x", "$HOME/a", "${HOME}", "$TMPDIR/openclaw-$UID", "$XDG_RUNTIME_DIR", "${", "$", "a$b", "${x-y}", "$NONO_CONFIG"} {
		f.Add(s)
	}
	env := map[string]string{"HOME": "/home/u", "TMPDIR": "/tmp", "XDG_CACHE_HOME": "rel"}
	x := Expander{Env: func(k string) (string, bool) { v, ok := env[k]; return v, ok }, Workdir: "/w", UID: 7}
	f.Fuzz(func(t *testing.T, s string) {
		out, err := x.Expand(s)
		if err != nil {
			return
		}
		// Expansion only substitutes known absolute values: with no '$' or
		// leading '~' in the input the output is unchanged.
		if !strings.Contains(s, "$") && !strings.HasPrefix(s, "~") && out != s {
			t.Fatalf("Expand(%q) = %q", s, out)
		}
		if p, err := x.ExpandPath(s); err == nil && !strings.HasPrefix(p, "/") {
			t.Fatalf("ExpandPath(%q) = %q is not absolute", s, p)
		}
	})
}

// FuzzParseCapState: `nono why --self` reads the file NONO_CAP_FILE names,
// and a confined program can point it anywhere it can write. Parsing never
// panics, every refusal is a CapFileError, and every grant it returns is an
// absolute clean path with a real access level.
func FuzzParseCapState(f *testing.F) {
	for _, s := range []string{
		`{"nonce":"00","fs":[{"original":".","path":"/tmp","access":"readwrite","is_file":false,"source":"cli"}],"net_blocked":false,"allowed_commands":[],"blocked_commands":[],"bypass_protection_paths":[],"allowed_domains":["api.openai.com"]}`,
		`{"fs":[{"path":"/etc/hostname","access":"read","is_file":true,"source":"group:system_read_linux_core"}]}`,
		`{"fs":[{"path":"relative","access":"read"}]}`, `{"fs":[{"path":"/a/../b","access":"read"}]}`,
		`{"fs":[{"path":"/tmp","access":"execute"}]}`, `{"deny_paths":["/root/.ssh"],"bypass_protection_paths":["/root/.ssh"]}`,
		`{"allowed_commands":["a/b"]}`, `{"unknown":1}`, `{} {}`, `[]`, `{"fs":[{"path":"/tmp\u0000x","access":"read"}]}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := parseCapState(data)
		if err != nil {
			var ce *CapFileError
			if !errors.As(err, &ce) {
				t.Fatalf("refusal is not a CapFileError: %T %v", err, err)
			}
			return
		}
		for _, g := range r.Grants {
			if !filepath.IsAbs(g.Path) || filepath.Clean(g.Path) != g.Path || strings.ContainsRune(g.Path, 0) {
				t.Fatalf("grant path %q", g.Path)
			}
			if g.Access&sandbox.AccessReadWrite == 0 || g.Access&^sandbox.AccessReadWrite != 0 {
				t.Fatalf("grant %q with access %v", g.Path, g.Access)
			}
		}
	})
}
