//go:build !darwin

package credentials

import (
	"context"
	"fmt"
	"runtime"
)

// loadApplePassword fails: Apple Passwords exist only on macOS.
func loadApplePassword(_ context.Context, ref Ref) (*Secret, error) {
	return nil, fmt.Errorf("%w: %s refs read macOS Passwords and cannot be used on %s; use a keyring, op://, env:// or file:// ref instead",
		ErrUnsupportedPlatform, ref.Scheme, runtime.GOOS)
}
