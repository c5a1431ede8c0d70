//go:build !linux

package credentials

// probeSessionBus is a no-op where go-keyring does not use D-Bus.
func probeSessionBus() error { return nil }
