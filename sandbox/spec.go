package sandbox

import (
	"fmt"
	"os"
)

// Access is a set of filesystem rights for one grant.
type Access uint8

const (
	// AccessRead maps to Landlock read-file, read-dir and execute.
	AccessRead Access = 1 << iota
	// AccessWrite maps to every write, create, remove, refer and truncate right.
	AccessWrite
	// AccessReadWrite is the union of read and write.
	AccessReadWrite = AccessRead | AccessWrite
)

// String renders the access as in --dry-run: "r-", "-w" or "rw".
func (a Access) String() string {
	r, w := "-", "-"
	if a&AccessRead != 0 {
		r = "r"
	}
	if a&AccessWrite != 0 {
		w = "w"
	}
	return r + w
}

// Word renders the access as used in JSON outputs: "read", "write", "readwrite".
func (a Access) Word() string {
	switch a {
	case AccessRead:
		return "read"
	case AccessWrite:
		return "write"
	case AccessReadWrite:
		return "readwrite"
	}
	return "none"
}

// Grant is one filesystem capability. Path is canonical and absolute.
type Grant struct {
	Path     string // canonical absolute path the kernel rule is attached to
	Original string // as the user or profile wrote it, for messages
	Access   Access
	File     bool   // a single-file grant (non-recursive)
	Source   string // "user", "profile", "group:<name>", "system"
	// Handle, when set, is an open descriptor of the file or directory the
	// rule is attached to, and Path is not looked up again. nono sets it
	// for files it creates itself in a directory that sandboxed processes
	// can write (the capability file and the trust bundle in $TMPDIR):
	// between the create and the rule, another sandbox could replace the
	// name with a symlink to a secret, and a lookup by name would then
	// grant the secret. The caller closes it after the child is started.
	Handle *os.File
}

// NetMode is how the child may use the network.
type NetMode int

const (
	// NetAllow leaves the network unrestricted (the seed's default).
	NetAllow NetMode = iota
	// NetBlock allows only AF_UNIX sockets plus --open-port loopback ports.
	NetBlock
	// NetProxy allows TCP only to the gateway and the --open-port ports.
	NetProxy
)

func (m NetMode) String() string {
	switch m {
	case NetAllow:
		return "allowed"
	case NetBlock:
		return "blocked"
	case NetProxy:
		return "proxy"
	}
	return fmt.Sprintf("NetMode(%d)", int(m))
}

// UnixSocketGrant allows connect (and optionally bind) on pathname AF_UNIX
// sockets: one socket file, or any socket directly inside Dir.
type UnixSocketGrant struct {
	Path string // canonical; a socket file, or a directory when Dir is set
	Dir  bool
	Bind bool
}

// Spec is everything the kernel layers must enforce on the child.
type Spec struct {
	Grants      []Grant
	Net         NetMode
	ProxyPort   uint16   // gateway port on 127.0.0.1 (NetProxy only)
	OpenPorts   []uint16 // loopback connect+bind (NetBlock and NetProxy)
	ListenPorts []uint16 // bind only (NetProxy)
	UnixSockets []UnixSocketGrant

	// AllowUserNamespaces opts into nested sandboxes (browsers, bwrap).
	AllowUserNamespaces bool
	// IPCFull disables Landlock's abstract-unix-socket scope (profile ipc_mode "full").
	IPCFull bool
	// AllowSignalsOutside disables Landlock's signal scope (profile signal_mode "allow_all").
	AllowSignalsOutside bool
}
