//go:build linux && arm64

package sandbox

import "golang.org/x/sys/unix"

const auditArch = unix.AUDIT_ARCH_AARCH64

// cloneFlagsArg is the clone(2) argument that carries the flags on arm64.
const cloneFlagsArg = 0

func archRules() []syscallRule { return nil }
