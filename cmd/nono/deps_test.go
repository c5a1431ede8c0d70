package main

import (
	"runtime/debug"
	"strings"
	"testing"
)

// TestNoOnePasswordSDK: the 1Password SDK and its WebAssembly runtime live
// in nono-op, never in nono, whose start-up they would slow down and whose
// address space (every secret of the session) they would share. The test
// binary links everything nono links.
func TestNoOnePasswordSDK(t *testing.T) {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		t.Skip("no build info")
	}
	for _, m := range bi.Deps {
		for _, banned := range []string{"onepassword-sdk-go", "extism", "wazero", "opentelemetry"} {
			if strings.Contains(m.Path, banned) {
				t.Errorf("nono links %s %s; the 1Password SDK belongs in cmd/nono-op", m.Path, m.Version)
			}
		}
	}
}
