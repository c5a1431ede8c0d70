package credentials

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"strings"

	"github.com/godbus/dbus/v5"
	"github.com/zalando/go-keyring"
)

// ErrKeyringUnavailable is wrapped when no keyring service can be reached
// (no D-Bus session bus, or no Secret Service on it).
var ErrKeyringUnavailable = errors.New("system keyring unavailable")

// ErrKeyringLocked is wrapped when the keyring is locked and was not unlocked.
var ErrKeyringLocked = errors.New("system keyring is locked")

// Keyring loads bare and keyring:// refs through go-keyring: the Secret
// Service over D-Bus on Linux (attributes service and username), the login
// Keychain on macOS.
type Keyring struct {
	// Get defaults to keyring.Get.
	Get func(service, account string) (string, error)
	// Probe checks that the transport is reachable before Get, so the
	// error can say which part is missing. It defaults to a D-Bus session
	// bus check on Linux and nothing elsewhere.
	Probe func() error
}

// Load implements Loader. go-keyring has no context, so the call runs in a
// goroutine and Load returns when ctx ends; the abandoned call's result is
// dropped.
func (k *Keyring) Load(ctx context.Context, ref Ref) (*Secret, error) {
	get, probe := k.Get, k.Probe
	if get == nil {
		get = keyring.Get
	}
	if probe == nil {
		probe = probeSessionBus
	}
	type result struct {
		v   string
		err error
	}
	ch := make(chan result, 1)
	go func() {
		if err := probe(); err != nil {
			ch <- result{err: err}
			return
		}
		v, err := get(ref.Service, ref.Account)
		ch <- result{v, err}
	}()
	select {
	case <-ctx.Done():
		return nil, fmt.Errorf("%s: timed out waiting for the keyring (is an unlock prompt open?): %w", ref.Describe(), ctx.Err())
	case r := <-ch:
		if r.err != nil {
			return nil, classifyKeyringError(ref, r.err)
		}
		s, err := NewSecret([]byte(r.v))
		if err != nil {
			return nil, fmt.Errorf("%s: %w", ref.Describe(), err)
		}
		return s, nil
	}
}

// storeHint says how to put a secret where ref looks.
func storeHint(ref Ref) string {
	if runtime.GOOS == "darwin" {
		return fmt.Sprintf("security add-generic-password -s %s -a %s -w", ref.Service, ref.Account)
	}
	return fmt.Sprintf("secret-tool store --label %s service %s username %s", ref.Service, ref.Service, ref.Account)
}

// dbusUnavailable marks transport failures found by the probe.
type dbusUnavailable struct{ err error }

func (e *dbusUnavailable) Error() string { return e.err.Error() }
func (e *dbusUnavailable) Unwrap() error { return e.err }

func classifyKeyringError(ref Ref, err error) error {
	if errors.Is(err, keyring.ErrNotFound) {
		return fmt.Errorf("%w: no secret stored for service %s account %s; store it with `%s`",
			ErrNotFound, ref.Service, ref.Account, storeHint(ref))
	}
	var du *dbusUnavailable
	if errors.As(err, &du) {
		return fmt.Errorf("%w: cannot connect to the D-Bus session bus (is DBUS_SESSION_BUS_ADDRESS set, and a desktop session or `dbus-run-session` running?): %w",
			ErrKeyringUnavailable, du.err)
	}
	var de dbus.Error
	var dep *dbus.Error
	name := ""
	if errors.As(err, &de) {
		name = de.Name
	} else if errors.As(err, &dep) {
		name = dep.Name
	}
	switch name {
	case "org.freedesktop.DBus.Error.ServiceUnknown", "org.freedesktop.DBus.Error.NameHasNoOwner":
		return fmt.Errorf("%w: no Secret Service on the D-Bus session bus; start one (gnome-keyring-daemon --components=secrets, or KeePassXC with Secret Service integration) or use an env:// or file:// ref: %w",
			ErrKeyringUnavailable, err)
	case "org.freedesktop.Secret.Error.IsLocked":
		return fmt.Errorf("%w: unlock it (e.g. log in to the desktop session) and retry: %w", ErrKeyringLocked, err)
	}
	// go-keyring reports a refused or dismissed unlock prompt as a plain
	// error with this text.
	if strings.Contains(err.Error(), "failed to unlock") {
		return fmt.Errorf("%w: unlock it (e.g. log in to the desktop session) and retry: %w", ErrKeyringLocked, err)
	}
	return fmt.Errorf("reading %s from the keyring: %w", ref.Describe(), err)
}
