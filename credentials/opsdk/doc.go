// Package opsdk is the 1Password SDK side of nono-op, the helper process
// that resolves op:// refs with a service account token. It is the only
// package that imports github.com/1password/onepassword-sdk-go, whose
// WebAssembly runtime (wazero, with its JIT compiler) and dependencies are
// thereby kept out of the nono binary: they cost start-up time on every run,
// and the JIT should not share an address space with the supervisor that
// holds every other secret of the session.
//
// It owns building the SDK client and serving nono over stdin and stdout
// through credentials.ServeOPHelper, which defines the protocol. It must not
// define protocol details of its own, print secrets, or be imported by
// anything that cmd/nono links.
package opsdk
