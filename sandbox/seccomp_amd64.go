//go:build linux && amd64

package sandbox

import "golang.org/x/sys/unix"

const auditArch = unix.AUDIT_ARCH_X86_64

// cloneFlagsArg is the clone(2) argument that carries the flags on x86_64.
const cloneFlagsArg = 0

// archRules has nothing extra on x86_64: the x32 ABI is refused by the
// guard in filterProgram.
func archRules() []syscallRule { return nil }
