package policy

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"

	"github.com/nono-sandbox/nono/sandbox"
)

// CapFileEnv is the variable that points the child at its capability file.
const CapFileEnv = "NONO_CAP_FILE"

const maxCapFileSize = 1 << 20

// capFileNameRE matches the capability file name: ".nono-" followed by the
// first 128 bits of the SHA-256 of the file's content, in hex. The child may
// be able to write the file (it usually has write access to $TMPDIR), but it
// cannot change the NONO_CAP_FILE value its parent put in the environment of
// the agent, so an in-place edit no longer matches the name and is rejected.
// A random nonce in the content keeps names unique.
var capFileNameRE = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^\.nono-[0-9a-f]{32}\.json$`) })

// capFileName returns the name that binds data.
func capFileName(data []byte) string {
	sum := sha256.Sum256(data)
	return ".nono-" + hex.EncodeToString(sum[:16]) + ".json"
}

// CapNet is the network and command state written to the capability file.
type CapNet struct {
	Blocked bool
	// Proxy: the gateway filters the network (AllowedDomains, the
	// CredentialHosts, or every public host when AllowPublic).
	Proxy           bool
	AllowPublic     bool
	CredentialHosts []string
	AllowedDomains  []string
	DomainEndpoints []DomainEndpoints
	AllowedCommands []string
	BlockedCommands []string
}

// DomainEndpoints are the endpoint rules that restrict one host.
type DomainEndpoints struct {
	Domain    string         `json:"domain"`
	Endpoints []EndpointRule `json:"endpoints"`
}

// capState is the JSON shape of the capability file (nono-cli.md §4).
type capState struct {
	Nonce                 string            `json:"nonce"` // random; makes each file name unique
	FS                    []capFS           `json:"fs"`
	NetBlocked            bool              `json:"net_blocked"`
	AllowedCommands       []string          `json:"allowed_commands"`
	BlockedCommands       []string          `json:"blocked_commands"`
	BypassProtectionPaths []string          `json:"bypass_protection_paths"`
	OverrideDenyPaths     []string          `json:"override_deny_paths,omitempty"` // legacy alias, read only
	DenyPaths             []string          `json:"deny_paths,omitempty"`
	AllowedDomains        []string          `json:"allowed_domains"`
	DomainEndpoints       []DomainEndpoints `json:"domain_endpoints,omitempty"`
	NetProxy              bool              `json:"net_proxy,omitempty"`
	AllowPublic           bool              `json:"allow_public,omitempty"`
	CredentialHosts       []string          `json:"credential_hosts,omitempty"`
}

type capFS struct {
	Original string `json:"original"`
	Path     string `json:"path"`
	Access   string `json:"access"`
	IsFile   bool   `json:"is_file"`
	Source   string `json:"source,omitempty"`
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// WriteCapFile writes the effective state to dir/.nono-<32 hex>.json, the
// hex being the start of the content's SHA-256 (see capFileNameRE), created
// exclusively with mode 0600, and returns the file still open (its Name is
// the path). The caller ties the child's read grant to that descriptor
// (sandbox.Grant.Handle: dir is usually $TMPDIR, where another sandbox
// could swap the name), closes it once the child is started, sets
// NONO_CAP_FILE and removes the file when the session ends.
func WriteCapFile(dir string, r *Resolved, extra CapNet) (*os.File, error) {
	if !filepath.IsAbs(dir) {
		return nil, fmt.Errorf("capability file directory %q is not absolute", dir)
	}
	var rnd [16]byte
	if _, err := rand.Read(rnd[:]); err != nil {
		return nil, fmt.Errorf("capability file nonce: %w", err)
	}
	st := capState{
		Nonce:                 hex.EncodeToString(rnd[:]),
		NetBlocked:            extra.Blocked,
		AllowedCommands:       nonNil(extra.AllowedCommands),
		BlockedCommands:       nonNil(extra.BlockedCommands),
		BypassProtectionPaths: nonNil(append([]string(nil), r.Bypassed...)),
		DenyPaths:             []string{},
		AllowedDomains:        nonNil(extra.AllowedDomains),
		DomainEndpoints:       extra.DomainEndpoints,
		NetProxy:              extra.Proxy,
		AllowPublic:           extra.AllowPublic,
		CredentialHosts:       extra.CredentialHosts,
		FS:                    []capFS{},
	}
	for _, g := range r.Grants {
		st.FS = append(st.FS, capFS{Original: g.Original, Path: g.Path, Access: g.Access.Word(), IsFile: g.File, Source: g.Source})
	}
	for _, d := range r.Denies {
		if !contains(st.DenyPaths, d.Path) {
			st.DenyPaths = append(st.DenyPaths, d.Path)
		}
	}
	data := marshalCapState(&st)
	path := filepath.Join(dir, capFileName(data))
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL|syscall.O_NOFOLLOW|syscall.O_CLOEXEC, 0o600)
	if err != nil {
		return nil, fmt.Errorf("capability file: %w", err)
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		os.Remove(path)
		return nil, fmt.Errorf("capability file: %w", err)
	}
	return f, nil
}

// CapFileError is a capability file that failed validation.
type CapFileError struct{ Reason string }

func (e *CapFileError) Error() string {
	return "SECURITY: NONO_CAP_FILE validation failed: " + e.Reason
}

func capErr(format string, args ...any) error {
	return &CapFileError{Reason: fmt.Sprintf(format, args...)}
}

// capTempRoots are the directories a capability file may live in.
func capTempRoots() []string {
	var roots []string
	for _, d := range []string{os.Getenv("TMPDIR"), "/tmp"} {
		if d == "" || !filepath.IsAbs(d) {
			continue
		}
		if c, err := filepath.EvalSymlinks(d); err == nil && !contains(roots, c) {
			roots = append(roots, c)
		}
	}
	return roots
}

var capSourceRE = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[a-z][a-z0-9_-]{0,31}$`) })

func validCapSource(s string) bool {
	if name, ok := strings.CutPrefix(s, groupPrefix); ok {
		_, known := LookupGroup(name)
		return known
	}
	return capSourceRE().MatchString(s)
}

// LoadCapFile reads and validates a capability file written by WriteCapFile
// and returns the state as a Resolved usable with WhyPath. The file must be
// an absolute canonical path in $TMPDIR or /tmp named .nono-<32 hex>.json, a
// regular file of at most 1 MiB owned by the current user, and the hex must
// match the SHA-256 of its content (an edit after nono wrote it is detected). Every path is
// re-canonicalised and every access value checked; any mismatch fails with a
// CapFileError ("SECURITY: NONO_CAP_FILE validation failed: ...").
func LoadCapFile(path string) (*Resolved, error) {
	if path == "" || !filepath.IsAbs(path) || filepath.Clean(path) != path || strings.ContainsRune(path, 0) {
		return nil, capErr("path %q is not an absolute clean path", path)
	}
	if !capFileNameRE().MatchString(filepath.Base(path)) {
		return nil, capErr("file name %q does not match .nono-<32 hex>.json", filepath.Base(path))
	}
	canon, err := filepath.EvalSymlinks(path)
	if err != nil {
		return nil, capErr("cannot resolve %s: %v", path, notExistMsg(err))
	}
	if canon != path {
		return nil, capErr("%s is not canonical (resolves to %s)", path, canon)
	}
	inTemp := false
	for _, root := range capTempRoots() {
		if canon != root && within(canon, root) {
			inTemp = true
		}
	}
	if !inTemp {
		return nil, capErr("%s is not inside $TMPDIR or /tmp", path)
	}
	lst, err := os.Lstat(path)
	if err != nil {
		return nil, capErr("stat %s: %v", path, notExistMsg(err))
	}
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NOFOLLOW|syscall.O_CLOEXEC|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, capErr("open %s: %v", path, notExistMsg(err))
	}
	defer f.Close()
	fst, err := f.Stat()
	if err != nil {
		return nil, capErr("stat %s: %v", path, notExistMsg(err))
	}
	if !fst.Mode().IsRegular() || !os.SameFile(lst, fst) {
		return nil, capErr("%s is not a regular file", path)
	}
	if fst.Size() > maxCapFileSize {
		return nil, capErr("%s is larger than 1 MiB", path)
	}
	if sys, ok := fst.Sys().(*syscall.Stat_t); !ok || int(sys.Uid) != os.Getuid() {
		return nil, capErr("%s is not owned by the current user", path)
	}
	data, err := io.ReadAll(io.LimitReader(f, maxCapFileSize+1))
	if err != nil {
		return nil, capErr("read %s: %v", path, notExistMsg(err))
	}
	if len(data) > maxCapFileSize {
		return nil, capErr("%s is larger than 1 MiB", path)
	}
	if capFileName(data) != filepath.Base(path) {
		return nil, capErr("%s does not match its content digest: it was modified or replaced after nono wrote it", path)
	}
	return parseCapState(data)
}

func checkAbsClean(field, p string) error {
	if p == "" || !filepath.IsAbs(p) || filepath.Clean(p) != p || strings.ContainsRune(p, 0) {
		return capErr("%s %q is not an absolute clean path", field, p)
	}
	return nil
}

func parseCapState(data []byte) (*Resolved, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var st capState
	if err := dec.Decode(&st); err != nil {
		return nil, capErr("malformed JSON: %v", err)
	}
	if dec.More() {
		return nil, capErr("trailing data after the JSON object")
	}
	cwd, _ := os.Getwd()
	r := &Resolved{ProfileName: "(self)", fromCap: true, cwd: cwd, x: NewExpander(os.LookupEnv, cwd)}
	for i, e := range st.FS {
		field := fmt.Sprintf("fs[%d].path", i)
		if err := checkAbsClean(field, e.Path); err != nil {
			return nil, err
		}
		access := accessFromWord(e.Access)
		if access == 0 {
			return nil, capErr("fs[%d].access %q is not read, write or readwrite", i, e.Access)
		}
		if e.Source != "" && !validCapSource(e.Source) {
			return nil, capErr("fs[%d].source %q is not a known grant source", i, e.Source)
		}
		c, err := canonicalExisting(e.Path, true)
		if errors.Is(err, os.ErrNotExist) {
			continue // gone since the sandbox started: no longer granted
		}
		if err != nil {
			return nil, capErr("%s %q: %v", field, e.Path, err)
		}
		if c != e.Path {
			return nil, capErr("%s %q is not canonical (resolves to %q)", field, e.Path, c)
		}
		info, err := os.Stat(c)
		if err != nil {
			continue
		}
		if info.IsDir() == e.IsFile {
			return nil, capErr("fs[%d].is_file=%v does not match %q", i, e.IsFile, e.Path)
		}
		src := e.Source
		if src == "" {
			src = SourceSystem
		}
		r.Grants = append(r.Grants, sandbox.Grant{Path: c, Original: e.Original, Access: access, File: e.IsFile, Source: src})
	}
	for i, d := range st.DenyPaths {
		if err := checkAbsClean(fmt.Sprintf("deny_paths[%d]", i), d); err != nil {
			return nil, err
		}
		r.addDeny(d, d, "", "")
	}
	for i, b := range append(st.BypassProtectionPaths, st.OverrideDenyPaths...) {
		if err := checkAbsClean(fmt.Sprintf("bypass_protection_paths[%d]", i), b); err != nil {
			return nil, err
		}
		r.addBypass(canonicalLenient(b))
	}
	for i, c := range append(st.AllowedCommands, st.BlockedCommands...) {
		if c == "" || strings.ContainsAny(c, "/\x00") {
			return nil, capErr("command entry %d %q is invalid", i, c)
		}
	}
	if st.AllowPublic && !st.NetProxy || st.NetProxy && st.NetBlocked {
		return nil, capErr("net_proxy, allow_public and net_blocked contradict each other")
	}
	for i, h := range append(append([]string(nil), st.AllowedDomains...), st.CredentialHosts...) {
		if h == "" || len(h) > 260 || strings.ContainsFunc(h, func(c rune) bool { return c <= ' ' || c == 0x7f || c == '/' }) {
			return nil, capErr("host entry %d %q is invalid", i, h)
		}
	}
	r.Net = CapNet{Blocked: st.NetBlocked, Proxy: st.NetProxy, AllowPublic: st.AllowPublic, CredentialHosts: st.CredentialHosts,
		AllowedDomains: st.AllowedDomains, DomainEndpoints: st.DomainEndpoints,
		AllowedCommands: st.AllowedCommands, BlockedCommands: st.BlockedCommands}
	r.NetworkBlock = st.NetBlocked
	r.AllowDomains = st.AllowedDomains
	r.normalize()
	return r, nil
}
