//go:build linux

package sandbox

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// systemGrants is what any dynamically linked tool needs to start.
func systemGrants(t *testing.T) []Grant {
	t.Helper()
	var gs []Grant
	for _, p := range []string{"/bin", "/usr", "/lib", "/lib64", "/etc"} {
		real, err := filepath.EvalSymlinks(p)
		if err != nil {
			continue
		}
		gs = append(gs, Grant{Path: real, Access: AccessRead, Source: "test"})
	}
	gs = append(gs, Grant{Path: "/dev/null", Access: AccessReadWrite, File: true, Source: "test"})
	return gs
}

func scratch(t *testing.T) string {
	t.Helper()
	base := "/var/tmp"
	d, err := os.MkdirTemp(base, "nono-sandbox-test-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(d) })
	real, err := filepath.EvalSymlinks(d)
	if err != nil {
		t.Fatal(err)
	}
	return real
}

func run(t *testing.T, spec *Spec, name string, args ...string) (string, int) {
	t.Helper()
	path, err := exec.LookPath(name)
	if err != nil {
		t.Fatalf("lookpath %s: %v", name, err)
	}
	cmd := exec.Command(path, args...)
	var out bytes.Buffer
	w, err := os.CreateTemp(scratch(t), "out-")
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	cmd.Stdout, cmd.Stderr = w, w
	c, err := Start(spec, cmd, nil)
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	ex, err := c.Supervise(-1)
	if err != nil {
		t.Fatalf("Supervise: %v", err)
	}
	b, _ := os.ReadFile(w.Name())
	out.Write(b)
	return out.String(), ex.Code
}

func TestReadOutsideGrantDenied(t *testing.T) {
	home := scratch(t)
	os.MkdirAll(filepath.Join(home, ".ssh"), 0o700)
	key := filepath.Join(home, ".ssh", "id_ed25519")
	os.WriteFile(key, []byte("PRIVATE"), 0o600)
	work := filepath.Join(home, "work")
	os.MkdirAll(work, 0o755)

	spec := &Spec{Grants: append(systemGrants(t), Grant{Path: work, Access: AccessReadWrite})}
	out, code := run(t, spec, "cat", key)
	if code == 0 || strings.Contains(out, "PRIVATE") {
		t.Fatalf("read of %s succeeded: %q", key, out)
	}
	if !strings.Contains(out, "Permission denied") {
		t.Fatalf("expected EACCES, got %q", out)
	}
	out, code = run(t, spec, "sh", "-c", "echo hi > "+work+"/f && cat "+work+"/f")
	if code != 0 || !strings.Contains(out, "hi") {
		t.Fatalf("write inside grant failed: %d %q", code, out)
	}
}

// TestHandleGrantSurvivesASwappedName: nono writes the capability file and
// the trust bundle into $TMPDIR, where another sandbox may rename entries.
// Their grants are tied to the descriptor of the file nono wrote
// (Grant.Handle). Replacing the name with a symlink to a secret between the
// write and the ruleset must not grant the secret; the file nono wrote stays
// readable under whatever name it has now.
func TestHandleGrantSurvivesASwappedName(t *testing.T) {
	shared := scratch(t) // stands for $TMPDIR
	secret := filepath.Join(scratch(t), "id_ed25519")
	os.WriteFile(secret, []byte("PRIVATE-KEY"), 0o600)
	name := filepath.Join(shared, ".nono-cap.json")
	f, err := os.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	f.WriteString("CAP-DATA")
	// The attacker's swap, after the write and before the rules are built.
	moved := name + ".moved"
	if err := os.Rename(name, moved); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(secret, name); err != nil {
		t.Fatal(err)
	}
	spec := &Spec{Grants: append(systemGrants(t), Grant{Path: name, Access: AccessRead, File: true, Source: "system", Handle: f})}
	out, code := run(t, spec, "cat", name)
	if code == 0 || strings.Contains(out, "PRIVATE-KEY") {
		t.Fatalf("the swapped name granted the secret: %d %q", code, out)
	}
	out, code = run(t, spec, "cat", moved)
	if code != 0 || !strings.Contains(out, "CAP-DATA") {
		t.Fatalf("the file nono wrote is not readable: %d %q", code, out)
	}
}

// TestGrantRefusesASymlinkSwappedIn: grant paths are canonical when the
// policy is resolved. If a component is replaced by a symlink before the
// rules are built (a directory in /tmp, which every sandbox may write),
// the rule must not follow it to a secret the deny rules never saw: Start
// fails, naming the cause, and starts nothing. Both the last component and
// one above it are tried.
func TestGrantRefusesASymlinkSwappedIn(t *testing.T) {
	secretDir := scratch(t)
	os.WriteFile(filepath.Join(secretDir, "id_ed25519"), []byte("PRIVATE-KEY"), 0o600)
	for _, depth := range []string{"leaf", "parent"} {
		shared := scratch(t)
		granted := filepath.Join(shared, "build", "out")
		if err := os.MkdirAll(granted, 0o755); err != nil {
			t.Fatal(err)
		}
		swap := granted
		if depth == "parent" {
			swap = filepath.Dir(granted)
			os.MkdirAll(filepath.Join(secretDir, "out"), 0o700)
			os.WriteFile(filepath.Join(secretDir, "out", "id_ed25519"), []byte("PRIVATE-KEY"), 0o600)
		}
		if err := os.Rename(swap, swap+".moved"); err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink(secretDir, swap); err != nil {
			t.Fatal(err)
		}
		marker := filepath.Join(shared, "ran")
		spec := &Spec{Grants: append(systemGrants(t), Grant{Path: granted, Access: AccessRead, Source: "user"},
			Grant{Path: shared, Access: AccessWrite, Source: "test"})}
		cmd := exec.Command("/bin/sh", "-c", "touch "+marker+"; cat "+granted+"/id_ed25519")
		c, err := Start(spec, cmd, nil)
		if err == nil {
			c.Supervise(-1)
			t.Fatalf("%s: Start followed a symlink swapped into a granted path", depth)
		}
		var se *SetupError
		if !errors.As(err, &se) || !strings.Contains(err.Error(), "a symlink appeared in the path") {
			t.Fatalf("%s: want a SetupError naming the symlink, got %v", depth, err)
		}
		if _, err := os.Stat(marker); !os.IsNotExist(err) {
			t.Fatalf("%s: the command ran", depth)
		}
	}
}

func TestSeccompBlocksIoUringAndTIOCSTI(t *testing.T) {
	if _, err := os.Stat("/usr/bin/python3"); err != nil {
		t.Skip("/usr/bin/python3 not installed")
	}
	spec := &Spec{Grants: systemGrants(t), Net: NetBlock}
	out, code := run(t, spec, "/usr/bin/python3", "-c", `
import ctypes, socket, errno
libc = ctypes.CDLL(None, use_errno=True)
r = libc.syscall(425, 8, ctypes.create_string_buffer(120))
print("io_uring", r, ctypes.get_errno())
try:
    socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    print("inet ok")
except OSError as e:
    print("inet", e.errno)
socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
print("unix ok")
`)
	if code != 0 {
		t.Fatalf("python failed %d: %s", code, out)
	}
	if !strings.Contains(out, "io_uring -1 1") || !strings.Contains(out, "inet 1") || !strings.Contains(out, "unix ok") {
		t.Fatalf("unexpected: %s", out)
	}
}

// A termination signal that arrives while the supervisor is still setting
// up is not queued for a child that does not exist yet: Start starts
// nothing and says which signal interrupted it, and the catch is released.
func TestSignalBeforeStartStartsNothing(t *testing.T) {
	work := scratch(t)
	marker := filepath.Join(work, "started")
	spec := &Spec{Grants: append(systemGrants(t), Grant{Path: work, Access: AccessReadWrite})}
	cmd := exec.Command("/bin/sh", "-c", "echo > "+marker)
	sc := CatchSignals()
	<-sc.ready
	if err := unix.Kill(os.Getpid(), unix.SIGTERM); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(5 * time.Second); len(sc.ch) == 0; {
		if time.Now().After(deadline) {
			t.Fatal("SIGTERM was not caught")
		}
		time.Sleep(time.Millisecond)
	}
	c, err := Start(spec, cmd, sc)
	var intr *InterruptedError
	if !errors.As(err, &intr) || intr.Signal != unix.SIGTERM || c != nil {
		t.Fatalf("Start after SIGTERM: child %v, err %v", c, err)
	}
	if cmd.Process != nil {
		t.Fatal("a process was started")
	}
	if _, err := os.Stat(marker); !os.IsNotExist(err) {
		t.Fatalf("the command ran: %v", err)
	}
}
