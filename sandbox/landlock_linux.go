//go:build linux

package sandbox

import (
	"errors"
	"fmt"
	"strings"

	"github.com/landlock-lsm/go-landlock/landlock"
	ll "github.com/landlock-lsm/go-landlock/landlock/syscall"
	"golang.org/x/sys/unix"
)

const (
	fsRead = ll.AccessFSReadFile | ll.AccessFSReadDir | ll.AccessFSExecute
	// fsWrite deliberately leaves out MakeChar and MakeBlock: a root child
	// must not be able to mknod a disk device inside a writable grant.
	fsWrite = ll.AccessFSWriteFile | ll.AccessFSMakeDir | ll.AccessFSMakeReg |
		ll.AccessFSMakeSock | ll.AccessFSMakeFifo | ll.AccessFSMakeSym |
		ll.AccessFSRemoveFile | ll.AccessFSRemoveDir | ll.AccessFSRefer | ll.AccessFSTruncate
	// fsFileOnly are the rights that mean anything on a non-directory.
	fsFileOnly = ll.AccessFSExecute | ll.AccessFSWriteFile | ll.AccessFSReadFile |
		ll.AccessFSTruncate | ll.AccessFSIoctlDev
)

var abiConfigs = []landlock.Config{{}, landlock.V1, landlock.V2, landlock.V3, landlock.V4,
	landlock.V5, landlock.V6, landlock.V7, landlock.V8, landlock.V9, landlock.V10, landlock.V11}

// ABI returns the kernel's Landlock ABI version, or 0 if Landlock is absent.
func ABI() int {
	v, err := ll.LandlockGetABIVersion()
	if err != nil || v < 0 {
		return 0
	}
	return v
}

// ErrNoLandlock is returned when the kernel has no usable Landlock.
var ErrNoLandlock = errors.New("Landlock is not available: nono needs Linux 5.13+ with Landlock enabled (add 'landlock' to the lsm= boot parameter); refusing to run unsandboxed")

// landlockConfig picks the handled rights for spec at the given ABI. Every
// right the ABI knows is handled, so anything not granted is denied.
func landlockConfig(spec *Spec, abi int) landlock.Config {
	idx := abi
	if idx >= len(abiConfigs) {
		idx = len(abiConfigs) - 1
	}
	cfg := abiConfigs[idx]
	c := landlock.Config{HandledAccessFS: cfg.HandledAccessFS}
	// Pathname unix-socket connects (ABI 9) are only mediated in
	// restricted network modes, where socket grants are explicit.
	if spec.Net == NetAllow {
		c.HandledAccessFS &^= ll.AccessFSResolveUnix
	}
	if spec.Net != NetAllow {
		c.HandledAccessNet = cfg.HandledAccessNet
	}
	scoped := cfg.Scoped
	if spec.IPCFull {
		scoped &^= ll.ScopeAbstractUnixSocket
	}
	if spec.AllowSignalsOutside {
		scoped &^= ll.ScopeSignal
	}
	c.Scoped = scoped
	return c
}

// grantRights maps a grant to Landlock rights for a directory or a file.
func grantRights(g Grant, isDir, isCharDev bool, handled landlock.AccessFSSet) landlock.AccessFSSet {
	var a landlock.AccessFSSet
	if g.Access&AccessRead != 0 {
		a |= fsRead
	}
	if g.Access&AccessWrite != 0 {
		a |= fsWrite
		if isTTYPath(g.Path) && (isDir || isCharDev) {
			a |= ll.AccessFSIoctlDev
		}
	}
	if !isDir {
		a &= fsFileOnly
	}
	return a & handled
}

// isTTYPath reports whether device ioctls are needed below path: terminals only.
func isTTYPath(p string) bool {
	return p == "/dev/tty" || p == "/dev/console" || p == "/dev/ptmx" ||
		p == "/dev/pts" || strings.HasPrefix(p, "/dev/pts/")
}

// buildRuleset creates the Landlock ruleset fd for spec. Each path is opened
// once with O_PATH and its type is taken from that same fd, so the rule and
// the type check cannot refer to different inodes.
func buildRuleset(spec *Spec, abi int) (int, uint32, landlock.Config, error) {
	if abi < 1 {
		return -1, 0, landlock.Config{}, ErrNoLandlock
	}
	cfg := landlockConfig(spec, abi)
	var netRules []landlock.Rule
	if cfg.HandledAccessNet != 0 {
		for _, p := range spec.OpenPorts {
			netRules = append(netRules, landlock.ConnectTCP(p), landlock.BindTCP(p))
		}
		for _, p := range spec.ListenPorts {
			netRules = append(netRules, landlock.BindTCP(p))
		}
		if spec.Net == NetProxy && spec.ProxyPort != 0 {
			netRules = append(netRules, landlock.ConnectTCP(spec.ProxyPort))
		}
	}
	fd, flags, err := cfg.NewRulesetFD(netRules...)
	if err != nil {
		return -1, 0, cfg, fmt.Errorf("creating Landlock ruleset: %w", err)
	}
	if fd < 0 {
		return -1, 0, cfg, ErrNoLandlock
	}
	for _, g := range spec.Grants {
		if err := addGrant(fd, g, cfg.HandledAccessFS); err != nil {
			unix.Close(fd)
			return -1, 0, cfg, err
		}
	}
	for _, s := range spec.UnixSockets {
		if err := addUnixSocket(fd, s, cfg.HandledAccessFS); err != nil {
			unix.Close(fd)
			return -1, 0, cfg, err
		}
	}
	return fd, flags, cfg, nil
}

// selfPaths are grants that name "the calling process". Resolving them in
// nono would pin the rule to nono's own pid, so they are rewritten: a read
// grant of /proc/self becomes /proc (other processes' sensitive procfs files
// stay protected by Landlock's ptrace restriction), and the fd aliases are
// dropped, because opening them follows a magic link to the real file, pipe
// or terminal, which its own grant (or pipefs, always allowed) decides.
func selfPath(g Grant) (string, bool) {
	switch {
	case g.Path == "/proc/self" || g.Path == "/proc/thread-self":
		if g.Access&AccessWrite != 0 {
			return "", false
		}
		return "/proc", true
	case strings.HasPrefix(g.Path, "/proc/self/") || strings.HasPrefix(g.Path, "/proc/thread-self/"),
		g.Path == "/dev/fd", g.Path == "/dev/stdin", g.Path == "/dev/stdout", g.Path == "/dev/stderr":
		return "", false
	}
	return g.Path, true
}

// errSymlinkAppeared explains an ELOOP from openResolved.
var errSymlinkAppeared = errors.New("a symlink appeared in the path after nono resolved it (it was replaced while nono started, possibly by another sandboxed process); refusing to grant whatever it points at now")

// openResolved opens a grant's path for its rule (O_PATH). The path was
// canonicalised when the policy was resolved, so it contains no symlink,
// and none may be followed now: a component replaced by a symlink in the
// meantime (in /tmp, say, which every sandbox may write) would otherwise
// attach the rule to the symlink's target, a path the policy never
// checked against its deny rules. openat2's RESOLVE_NO_SYMLINKS refuses
// any symlink on the way (Linux 5.6, older than any Landlock).
func openResolved(path string) (int, error) {
	fd, err := unix.Openat2(unix.AT_FDCWD, path, &unix.OpenHow{
		Flags:   unix.O_PATH | unix.O_CLOEXEC,
		Resolve: unix.RESOLVE_NO_SYMLINKS,
	})
	if errors.Is(err, unix.ELOOP) {
		return -1, errSymlinkAppeared
	}
	return fd, err
}

func addGrant(rulesetFD int, g Grant, handled landlock.AccessFSSet) error {
	path, keep := selfPath(g)
	if !keep {
		return nil
	}
	if path != g.Path {
		g.Path, g.File = path, false
	}
	var pfd int
	if g.Handle != nil {
		pfd = int(g.Handle.Fd()) // the object nono created, whatever the name points at now
	} else {
		fd, err := openResolved(g.Path)
		if err != nil {
			return fmt.Errorf("cannot open %s for its Landlock rule: %w", g.Path, err)
		}
		defer unix.Close(fd)
		pfd = fd
	}
	var st unix.Stat_t
	if err := unix.Fstat(pfd, &st); err != nil {
		return fmt.Errorf("stat %s: %w", g.Path, err)
	}
	isDir := st.Mode&unix.S_IFMT == unix.S_IFDIR
	if g.File && isDir {
		return fmt.Errorf("%s is a directory but was granted as a file", g.Path)
	}
	if !g.File && !isDir {
		return fmt.Errorf("%s is not a directory but was granted as one (use the --*-file flags)", g.Path)
	}
	rights := grantRights(g, isDir, st.Mode&unix.S_IFMT == unix.S_IFCHR, handled)
	if rights == 0 {
		return nil
	}
	attr := ll.PathBeneathAttr{ParentFd: pfd, AllowedAccess: uint64(rights)}
	if err := ll.LandlockAddPathBeneathRule(rulesetFD, &attr, 0); err != nil {
		return fmt.Errorf("adding Landlock rule for %s (the filesystem may not support Landlock): %w", g.Path, err)
	}
	return nil
}

func addUnixSocket(rulesetFD int, s UnixSocketGrant, handled landlock.AccessFSSet) error {
	if handled&ll.AccessFSResolveUnix == 0 {
		return nil // enforced by the seccomp supervisor on this kernel
	}
	access := AccessRead
	if s.Bind {
		access = AccessReadWrite
	}
	pfd, err := openResolved(s.Path)
	if err != nil {
		return fmt.Errorf("cannot open unix socket grant %s: %w", s.Path, err)
	}
	defer unix.Close(pfd)
	var st unix.Stat_t
	if err := unix.Fstat(pfd, &st); err != nil {
		return fmt.Errorf("stat %s: %w", s.Path, err)
	}
	isDir := st.Mode&unix.S_IFMT == unix.S_IFDIR
	rights := grantRights(Grant{Path: s.Path, Access: access}, isDir, false, handled) | ll.AccessFSResolveUnix
	if !isDir {
		rights = ll.AccessFSResolveUnix
	}
	attr := ll.PathBeneathAttr{ParentFd: pfd, AllowedAccess: uint64(rights & handled)}
	if err := ll.LandlockAddPathBeneathRule(rulesetFD, &attr, 0); err != nil {
		return fmt.Errorf("adding Landlock unix-socket rule for %s: %w", s.Path, err)
	}
	return nil
}
