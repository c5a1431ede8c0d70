package credentials

import "github.com/godbus/dbus/v5"

// probeSessionBus connects to the shared session bus that go-keyring will
// reuse, so a missing bus is reported as such rather than as a keyring error.
func probeSessionBus() error {
	if _, err := dbus.SessionBus(); err != nil {
		return &dbusUnavailable{err: err}
	}
	return nil
}
