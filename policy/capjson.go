package policy

import (
	"encoding/json"
	"strconv"
	"unicode/utf8"
)

// marshalCapState returns exactly json.MarshalIndent(st, "", "  ") (a test
// compares the two), without reflection: encoding/json builds its encoders
// on first use, and 'nono run' writes one capability file per start, so
// that first use cost every start about 0.2 ms.
func marshalCapState(st *capState) []byte {
	w := capWriter{b: make([]byte, 0, 16<<10)}
	w.open('{')
	w.key("nonce")
	w.str(st.Nonce)
	w.key("fs")
	if st.FS == nil {
		w.raw("null")
	} else {
		w.open('[')
		for _, f := range st.FS {
			w.elem()
			w.open('{')
			w.key("original")
			w.str(f.Original)
			w.key("path")
			w.str(f.Path)
			w.key("access")
			w.str(f.Access)
			w.key("is_file")
			w.raw(strconv.FormatBool(f.IsFile))
			if f.Source != "" {
				w.key("source")
				w.str(f.Source)
			}
			w.close('}')
		}
		w.close(']')
	}
	w.key("net_blocked")
	w.raw(strconv.FormatBool(st.NetBlocked))
	w.key("allowed_commands")
	w.strs(st.AllowedCommands)
	w.key("blocked_commands")
	w.strs(st.BlockedCommands)
	w.key("bypass_protection_paths")
	w.strs(st.BypassProtectionPaths)
	if len(st.OverrideDenyPaths) > 0 {
		w.key("override_deny_paths")
		w.strs(st.OverrideDenyPaths)
	}
	if len(st.DenyPaths) > 0 {
		w.key("deny_paths")
		w.strs(st.DenyPaths)
	}
	w.key("allowed_domains")
	w.strs(st.AllowedDomains)
	if len(st.DomainEndpoints) > 0 {
		w.key("domain_endpoints")
		w.open('[')
		for _, d := range st.DomainEndpoints {
			w.elem()
			w.open('{')
			w.key("domain")
			w.str(d.Domain)
			w.key("endpoints")
			if d.Endpoints == nil {
				w.raw("null")
			} else {
				w.open('[')
				for _, e := range d.Endpoints {
					w.elem()
					w.open('{')
					w.key("method")
					w.str(e.Method)
					w.key("path")
					w.str(e.Path)
					w.close('}')
				}
				w.close(']')
			}
			w.close('}')
		}
		w.close(']')
	}
	if st.NetProxy {
		w.key("net_proxy")
		w.raw("true")
	}
	if st.AllowPublic {
		w.key("allow_public")
		w.raw("true")
	}
	if len(st.CredentialHosts) > 0 {
		w.key("credential_hosts")
		w.strs(st.CredentialHosts)
	}
	w.close('}')
	return w.b
}

// capWriter writes indented JSON the way json.MarshalIndent(v, "", "  ")
// lays it out: one member or element per line, and {} or [] when empty.
type capWriter struct {
	b     []byte
	depth int
	empty bool // nothing written since the last open
}

func (w *capWriter) newline() {
	w.b = append(w.b, '\n')
	for range w.depth {
		w.b = append(w.b, ' ', ' ')
	}
}

func (w *capWriter) open(c byte) {
	w.b = append(w.b, c)
	w.depth++
	w.empty = true
}

func (w *capWriter) close(c byte) {
	w.depth--
	if !w.empty {
		w.newline()
	}
	w.b = append(w.b, c)
	w.empty = false
}

// elem starts an array element or an object member.
func (w *capWriter) elem() {
	if !w.empty {
		w.b = append(w.b, ',')
	}
	w.empty = false
	w.newline()
}

func (w *capWriter) key(k string) {
	w.elem()
	w.str(k)
	w.b = append(w.b, ':', ' ')
}

func (w *capWriter) raw(s string) { w.b = append(w.b, s...) }

func (w *capWriter) strs(ss []string) {
	if ss == nil {
		w.raw("null")
		return
	}
	w.open('[')
	for _, s := range ss {
		w.elem()
		w.str(s)
	}
	w.close(']')
}

// str writes s as a JSON string. Strings that need no escaping under
// encoding/json's rules (HTML-safe ASCII, the usual case for paths and
// names) are copied; any other string is left to encoding/json.
func (w *capWriter) str(s string) {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c >= utf8.RuneSelf || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			q, _ := json.Marshal(s) // a string always marshals
			w.b = append(w.b, q...)
			return
		}
	}
	w.b = append(w.b, '"')
	w.b = append(w.b, s...)
	w.b = append(w.b, '"')
}
