//go:build linux

package sandbox

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Kernel ABI structs for seccomp user notification (not in x/sys/unix).
type seccompData struct {
	Nr   int32
	Arch uint32
	IP   uint64
	Args [6]uint64
}

type seccompNotif struct {
	ID    uint64
	Pid   uint32
	Flags uint32
	Data  seccompData
}

type seccompNotifResp struct {
	ID    uint64
	Val   int64
	Error int32
	Flags uint32
}

// netDecider holds the rules the supervisor applies to trapped syscalls.
type netDecider struct {
	spec *Spec
}

// target is a parsed socket address.
type target struct {
	family   int
	addr     netip.AddrPort // AF_INET/AF_INET6
	path     string         // AF_UNIX pathname (raw, possibly relative)
	abstract bool
	unnamed  bool
}

func (t target) String() string {
	switch t.family {
	case unix.AF_INET, unix.AF_INET6:
		return t.addr.String()
	case unix.AF_UNIX:
		switch {
		case t.unnamed:
			return "(unnamed unix socket)"
		case t.abstract:
			return "@" + t.path
		}
		return t.path
	case unix.AF_UNSPEC:
		return "AF_UNSPEC"
	}
	return "family " + strconv.Itoa(t.family)
}

// parseSockaddr decodes a raw sockaddr copied from the child.
func parseSockaddr(b []byte) (target, error) {
	if len(b) < 2 {
		return target{}, errors.New("short sockaddr")
	}
	fam := int(binary.LittleEndian.Uint16(b))
	t := target{family: fam}
	switch fam {
	case unix.AF_UNSPEC:
		return t, nil
	case unix.AF_INET:
		if len(b) < 8 {
			return t, errors.New("short sockaddr_in")
		}
		port := binary.BigEndian.Uint16(b[2:4])
		t.addr = netip.AddrPortFrom(netip.AddrFrom4([4]byte(b[4:8])), port)
		return t, nil
	case unix.AF_INET6:
		if len(b) < 24 {
			return t, errors.New("short sockaddr_in6")
		}
		port := binary.BigEndian.Uint16(b[2:4])
		t.addr = netip.AddrPortFrom(netip.AddrFrom16([16]byte(b[8:24])), port)
		return t, nil
	case unix.AF_UNIX:
		p := b[2:]
		if len(p) == 0 {
			t.unnamed = true
			return t, nil
		}
		if p[0] == 0 {
			t.abstract = true
			t.path = string(p[1:])
			return t, nil
		}
		if i := indexByte(p, 0); i >= 0 {
			p = p[:i]
		}
		t.path = string(p)
		return t, nil
	}
	return t, nil
}

func indexByte(b []byte, c byte) int {
	for i, x := range b {
		if x == c {
			return i
		}
	}
	return -1
}

var loopback4 = netip.MustParseAddr("127.0.0.1")

// connectAllowed decides an AF_INET/AF_INET6 connect. Only the exact gateway
// address and the --open-port ports on loopback pass; IPv4-mapped forms and
// other loopback aliases do not, so there is one spelling to reason about.
func (d *netDecider) connectAllowed(t target) (bool, string) {
	a := t.addr.Addr()
	port := t.addr.Port()
	if d.spec.Net == NetProxy && d.spec.ProxyPort != 0 && a == loopback4 && port == d.spec.ProxyPort {
		return true, ""
	}
	if (a == loopback4 || a == netip.IPv6Loopback()) && containsPort(d.spec.OpenPorts, port) {
		return true, ""
	}
	switch {
	case d.spec.Net == NetBlock:
		return false, "network is blocked (--block-net)"
	case port == d.spec.ProxyPort:
		return false, fmt.Sprintf("only 127.0.0.1:%d reaches the gateway", port)
	}
	return false, "direct connections are not allowed; traffic must go through nono's gateway (HTTPS_PROXY)"
}

// bindAllowed decides an AF_INET/AF_INET6 bind.
func (d *netDecider) bindAllowed(t target) (bool, string) {
	a := t.addr.Addr()
	port := t.addr.Port()
	if port != 0 && containsPort(d.spec.ListenPorts, port) {
		return true, ""
	}
	if port != 0 && containsPort(d.spec.OpenPorts, port) && (a == loopback4 || a == netip.IPv6Loopback()) {
		return true, ""
	}
	return false, fmt.Sprintf("binding port %d is not allowed (use --listen-port or --open-port)", port)
}

func containsPort(ps []uint16, p uint16) bool {
	for _, x := range ps {
		if x == p {
			return true
		}
	}
	return false
}

// unixAllowed decides a pathname AF_UNIX connect or bind. canonical is the
// socket path with every directory component resolved.
func (d *netDecider) unixAllowed(canonical string, bind bool) (bool, string) {
	for _, g := range d.spec.UnixSockets {
		if bind && !g.Bind {
			continue
		}
		if g.Dir && filepath.Dir(canonical) == g.Path {
			return true, ""
		}
		if !g.Dir && canonical == g.Path {
			return true, ""
		}
	}
	verb := "--allow-unix-socket"
	if bind {
		verb = "--allow-unix-socket-bind"
	}
	return false, fmt.Sprintf("unix socket %s is not granted (use %s)", canonical, verb)
}

// Serve handles notifications until the child and every descendant holding
// the filter are gone (the listener reports POLLHUP) or Stop is called.
// Decisions never CONTINUE a syscall whose effect depends on memory the child
// can still change: connect and bind are performed by the supervisor on the
// child's socket (pidfd_getfd) with the supervisor's own copy of the address.
func (c *Child) Serve(sink DenialSink) {
	if c.Listener == nil {
		return
	}
	// One locked thread receives and answers, and the kernel is asked to
	// switch straight between the trapped thread and it (Linux 6.6+): a
	// mediated connect then costs one round trip, not two scheduler hops.
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	d := &netDecider{spec: c.spec}
	fd := int(c.Listener.Fd())
	_, _, _ = unix.Syscall(unix.SYS_IOCTL, uintptr(fd), unix.SECCOMP_IOCTL_NOTIF_SET_FLAGS, unix.SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP)
	sem := make(chan struct{}, 32)
	var wg sync.WaitGroup
	defer wg.Wait()
	answer := func(req *seccompNotif) {
		val, errno, den := d.handle(fd, req)
		if den != nil && sink != nil {
			sink(*den)
		}
		resp := seccompNotifResp{ID: req.ID, Val: val, Error: -int32(errno)}
		if val == continueSyscall {
			resp = seccompNotifResp{ID: req.ID, Flags: unix.SECCOMP_USER_NOTIF_FLAG_CONTINUE}
		}
		_ = ioctlPtr(fd, unix.SECCOMP_IOCTL_NOTIF_SEND, unsafe.Pointer(&resp))
	}
	for {
		pfds := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}, {Fd: int32(c.stopR.Fd()), Events: unix.POLLIN}}
		if _, err := unix.Poll(pfds, -1); err != nil {
			if errors.Is(err, unix.EINTR) {
				continue
			}
			return
		}
		if pfds[1].Revents != 0 {
			return
		}
		if pfds[0].Revents&unix.POLLIN == 0 {
			return // POLLHUP: no task uses the filter any more
		}
		var req seccompNotif
		if err := ioctlPtr(fd, unix.SECCOMP_IOCTL_NOTIF_RECV, unsafe.Pointer(&req)); err != nil {
			if errors.Is(err, unix.EINTR) || errors.Is(err, unix.ENOENT) {
				continue // interrupted, or the target died before we received it
			}
			return
		}
		if mayBlock(&req) {
			// A unix-socket peer with a full backlog could hold a connect
			// for long: never let it stall every other notification.
			sem <- struct{}{}
			wg.Add(1)
			go func(req seccompNotif) {
				defer func() { <-sem; wg.Done() }()
				answer(&req)
			}(req)
			continue
		}
		answer(&req)
	}
}

// mayBlock reports whether answering req could block: a connect of a unix
// socket (inet connects are to loopback and return at once or EINPROGRESS;
// sendto copies at most one datagram with MSG_DONTWAIT).
func mayBlock(req *seccompNotif) bool {
	if uintptr(req.Data.Nr) != unix.SYS_CONNECT {
		return false
	}
	fam, err := readChild(int(req.Pid), req.Data.Args[1], 2, 2)
	return err != nil || len(fam) < 2 || binary.LittleEndian.Uint16(fam) == unix.AF_UNIX
}

// Stop makes Serve return and closes the listener once it has.
func (c *Child) Stop() {
	if c.stopW != nil {
		c.stopW.Close()
		c.stopW = nil
	}
}

func ioctlPtr(fd int, req uint, arg unsafe.Pointer) error {
	_, _, e := unix.Syscall(unix.SYS_IOCTL, uintptr(fd), uintptr(req), uintptr(arg))
	if e != 0 {
		return e
	}
	return nil
}

// handle decides one notification. It returns the syscall's return value,
// an errno (0 for success), and a denial to record.
func (d *netDecider) handle(lfd int, req *seccompNotif) (int64, unix.Errno, *Denial) {
	nr := uintptr(req.Data.Nr)
	args := req.Data.Args
	// The notification names the calling thread. process_vm_readv and
	// pidfd_open(PIDFD_THREAD) take a thread id directly; /proc/<tid>/cwd
	// is the thread group's.
	tgid := int(req.Pid)
	switch nr {
	case unix.SYS_CONNECT, unix.SYS_BIND:
		op := "connect"
		if nr == unix.SYS_BIND {
			op = "bind"
		}
		raw, err := readChild(tgid, args[1], args[2], 128)
		if err != nil {
			return 0, unix.EACCES, &Denial{Op: op, Reason: "unreadable sockaddr: " + err.Error()}
		}
		if !idValid(lfd, req.ID) {
			return 0, unix.EACCES, nil
		}
		t, err := parseSockaddr(raw)
		if err != nil {
			return 0, unix.EINVAL, nil
		}
		return d.onBehalf(lfd, req, tgid, op, t, raw)
	case unix.SYS_SENDTO:
		return d.sendto(lfd, req, tgid)
	case unix.SYS_SENDMSG, unix.SYS_SENDMMSG:
		return d.sendmsg(lfd, req, tgid, nr == unix.SYS_SENDMMSG)
	}
	return 0, unix.EACCES, &Denial{Op: fmt.Sprintf("syscall %d", nr), Reason: "unexpected syscall"}
}

// onBehalf checks t and, if allowed, performs connect/bind on the child's
// own socket with the checked address.
func (d *netDecider) onBehalf(lfd int, req *seccompNotif, tgid int, op string, t target, raw []byte) (int64, unix.Errno, *Denial) {
	deny := func(reason string) (int64, unix.Errno, *Denial) {
		return 0, unix.EACCES, &Denial{Op: op, Target: t.String(), Reason: reason}
	}
	sfd, err := childFD(tgid, int(req.Data.Args[0]))
	if err != nil {
		return 0, errnoOf(err, unix.EBADF), nil
	}
	defer unix.Close(sfd)
	if !idValid(lfd, req.ID) {
		return 0, unix.EACCES, nil
	}
	switch t.family {
	case unix.AF_UNSPEC:
		if op == "bind" {
			return deny("AF_UNSPEC bind")
		}
		return perform(op, sfd, raw)
	case unix.AF_INET, unix.AF_INET6:
		ok, why := d.connectAllowed(t)
		if op == "bind" {
			ok, why = d.bindAllowed(t)
		}
		if !ok {
			return deny(why)
		}
		return perform(op, sfd, canonicalInet(t))
	case unix.AF_UNIX:
		if t.unnamed || t.abstract {
			return deny("abstract and unnamed unix sockets are never allowed")
		}
		dirFD, leaf, canonical, err := openSocketParent(tgid, t.path)
		if errors.Is(err, unix.ENOENT) || errors.Is(err, unix.ENOTDIR) {
			return 0, unix.ENOENT, nil // nothing there: the kernel would say the same
		}
		if err != nil {
			return deny("cannot resolve socket path: " + err.Error())
		}
		defer unix.Close(dirFD)
		ok, why := d.unixAllowed(canonical, op == "bind")
		if !ok {
			return deny(why)
		}
		if op == "connect" {
			var st unix.Stat_t
			if err := unix.Fstatat(dirFD, leaf, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
				return 0, errnoOf(err, unix.ENOENT), nil
			}
			if st.Mode&unix.S_IFMT != unix.S_IFSOCK {
				return deny("not a socket (symlinks are not followed)")
			}
		}
		// Address the socket through our own handle on its directory, so
		// renaming a parent directory after the check cannot redirect us.
		via := fmt.Sprintf("/proc/self/fd/%d/%s", dirFD, leaf)
		if len(via) >= 108 {
			return deny("socket path too long to mediate")
		}
		return perform(op, sfd, unixSockaddr(via))
	}
	return deny("address family " + strconv.Itoa(t.family) + " is not allowed")
}

// perform runs connect or bind on sfd with the raw sockaddr b.
func perform(op string, sfd int, b []byte) (int64, unix.Errno, *Denial) {
	nr := uintptr(unix.SYS_CONNECT)
	if op == "bind" {
		nr = unix.SYS_BIND
	}
	_, _, e := unix.Syscall(nr, uintptr(sfd), uintptr(unsafe.Pointer(&b[0])), uintptr(len(b)))
	if e != 0 {
		return 0, e, nil
	}
	return 0, 0, nil
}

// canonicalInet re-encodes an inet address from the parsed value, so no
// trailing bytes of the child's buffer are passed to the kernel.
func canonicalInet(t target) []byte {
	a := t.addr.Addr()
	if t.family == unix.AF_INET {
		b := make([]byte, 16)
		binary.LittleEndian.PutUint16(b, unix.AF_INET)
		binary.BigEndian.PutUint16(b[2:], t.addr.Port())
		ip := a.As4()
		copy(b[4:], ip[:])
		return b
	}
	b := make([]byte, 28)
	binary.LittleEndian.PutUint16(b, unix.AF_INET6)
	binary.BigEndian.PutUint16(b[2:], t.addr.Port())
	ip := a.As16()
	copy(b[8:], ip[:])
	return b
}

func unixSockaddr(path string) []byte {
	b := make([]byte, 2+len(path)+1)
	binary.LittleEndian.PutUint16(b, unix.AF_UNIX)
	copy(b[2:], path)
	return b
}

// sendto with a destination (NULL ones never reach us): only AF_UNIX
// datagrams to granted sockets are sent, by the supervisor, from its own
// copy of the data. Inet sendto-with-address is TCP Fast Open or UDP, and
// both are refused.
func (d *netDecider) sendto(lfd int, req *seccompNotif, tgid int) (int64, unix.Errno, *Denial) {
	a := req.Data.Args
	raw, err := readChild(tgid, a[4], a[5], 128)
	if err != nil {
		return 0, unix.EACCES, &Denial{Op: "sendto", Reason: "unreadable sockaddr"}
	}
	t, err := parseSockaddr(raw)
	if err != nil {
		return 0, unix.EINVAL, nil
	}
	if t.family != unix.AF_UNIX || t.abstract || t.unnamed {
		return 0, unix.EACCES, &Denial{Op: "sendto", Target: t.String(), Reason: "datagrams with an explicit destination are only allowed to granted unix sockets"}
	}
	const maxDatagram = 256 << 10
	if a[2] > maxDatagram {
		return 0, unix.EMSGSIZE, nil
	}
	data, err := readChild(tgid, a[1], a[2], maxDatagram)
	if err != nil {
		return 0, unix.EFAULT, nil
	}
	sfd, err := childFD(tgid, int(a[0]))
	if err != nil {
		return 0, errnoOf(err, unix.EBADF), nil
	}
	defer unix.Close(sfd)
	if !idValid(lfd, req.ID) {
		return 0, unix.EACCES, nil
	}
	dirFD, leaf, canonical, err := openSocketParent(tgid, t.path)
	if err != nil {
		return 0, unix.EACCES, &Denial{Op: "sendto", Target: t.path, Reason: err.Error()}
	}
	defer unix.Close(dirFD)
	if ok, why := d.unixAllowed(canonical, false); !ok {
		return 0, unix.EACCES, &Denial{Op: "sendto", Target: canonical, Reason: why}
	}
	via := fmt.Sprintf("/proc/self/fd/%d/%s", dirFD, leaf)
	sa := &unix.SockaddrUnix{Name: via}
	if err := unix.Sendto(sfd, data, int(a[3])|unix.MSG_DONTWAIT, sa); err != nil {
		return 0, errnoOf(err, unix.EIO), nil
	}
	return int64(len(data)), 0, nil
}

// sendmsg/sendmmsg: on stream sockets the kernel ignores or rejects a
// destination in msghdr (TCP unless MSG_FASTOPEN, which is a register flag we
// check here), so letting the call continue cannot reach a new peer however
// the child rewrites its memory. Anything else is refused.
func (d *netDecider) sendmsg(lfd int, req *seccompNotif, tgid int, multi bool) (int64, unix.Errno, *Denial) {
	op := "sendmsg"
	flags := req.Data.Args[2]
	if multi {
		op = "sendmmsg"
		flags = req.Data.Args[3]
	}
	sfd, err := childFD(tgid, int(req.Data.Args[0]))
	if err != nil {
		return 0, errnoOf(err, unix.EBADF), nil
	}
	defer unix.Close(sfd)
	typ, err1 := unix.GetsockoptInt(sfd, unix.SOL_SOCKET, unix.SO_TYPE)
	dom, err2 := unix.GetsockoptInt(sfd, unix.SOL_SOCKET, unix.SO_DOMAIN)
	if err1 != nil || err2 != nil {
		return 0, unix.ENOTSOCK, nil
	}
	if typ == unix.SOCK_STREAM && flags&unix.MSG_FASTOPEN == 0 && (dom == unix.AF_INET || dom == unix.AF_INET6 || dom == unix.AF_UNIX) {
		if !idValid(lfd, req.ID) {
			return 0, unix.EACCES, nil
		}
		return continueSyscall, 0, nil
	}
	return 0, unix.EACCES, &Denial{Op: op, Reason: "message sockets with a destination are not mediated; use connect() and send()"}
}

// continueSyscall is a sentinel Val telling Serve to let the syscall run.
const continueSyscall = int64(-1 << 62)

func idValid(lfd int, id uint64) bool {
	return ioctlPtr(lfd, unix.SECCOMP_IOCTL_NOTIF_ID_VALID, unsafe.Pointer(&id)) == nil
}

// threadGroup maps a notifying thread id to its process id.
func threadGroup(tid int) (int, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", tid))
	if err != nil {
		return 0, err
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "Tgid:"); ok {
			return strconv.Atoi(strings.TrimSpace(v))
		}
	}
	return 0, errors.New("no Tgid")
}

// readChild copies n bytes (at most max) from the child's memory.
func readChild(pid int, addr, n uint64, max int) ([]byte, error) {
	if n == 0 {
		return nil, errors.New("empty buffer")
	}
	if n > uint64(max) {
		n = uint64(max)
	}
	b := make([]byte, n)
	local := []unix.Iovec{{Base: &b[0], Len: n}}
	remote := []unix.RemoteIovec{{Base: uintptr(addr), Len: int(n)}}
	m, err := unix.ProcessVMReadv(pid, local, remote, 0)
	if m <= 0 {
		if err == nil {
			err = unix.EFAULT
		}
		return nil, err
	}
	return b[:m], nil
}

// pidfdThread is PIDFD_THREAD (Linux 6.9): a pidfd for one thread.
const pidfdThread = unix.O_EXCL

// childFD duplicates descriptor fd of the thread tid's process into nono.
func childFD(tid, fd int) (int, error) {
	pfd, err := unix.PidfdOpen(tid, pidfdThread)
	if errors.Is(err, unix.EINVAL) {
		// Older kernel: a pidfd needs the thread-group leader's id.
		tgid, terr := threadGroup(tid)
		if terr != nil {
			return -1, terr
		}
		pfd, err = unix.PidfdOpen(tgid, 0)
	}
	if err != nil {
		return -1, err
	}
	defer unix.Close(pfd)
	return unix.PidfdGetfd(pfd, fd, 0)
}

// openSocketParent resolves a socket path as the child sees it (relative to
// its cwd, through its root) and returns an O_PATH handle on the socket's
// canonical parent directory, the leaf name, and the canonical path.
func openSocketParent(pid int, p string) (int, string, string, error) {
	if !filepath.IsAbs(p) {
		cwd, err := os.Readlink(fmt.Sprintf("/proc/%d/cwd", pid))
		if err != nil {
			return -1, "", "", err
		}
		p = filepath.Join(cwd, p)
	}
	p = filepath.Clean(p)
	leaf := filepath.Base(p)
	if leaf == "/" || leaf == "." || leaf == ".." {
		return -1, "", "", errors.New("not a socket path")
	}
	dir, err := filepath.EvalSymlinks(filepath.Dir(p))
	if err != nil {
		return -1, "", "", err
	}
	fd, err := unix.Open(dir, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return -1, "", "", err
	}
	// Re-derive the canonical path from the handle we will actually use.
	real, err := os.Readlink(fmt.Sprintf("/proc/self/fd/%d", fd))
	if err != nil {
		unix.Close(fd)
		return -1, "", "", err
	}
	return fd, leaf, filepath.Join(real, leaf), nil
}

func errnoOf(err error, dflt unix.Errno) unix.Errno {
	var e unix.Errno
	if errors.As(err, &e) {
		return e
	}
	return dflt
}
