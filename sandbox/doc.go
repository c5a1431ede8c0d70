// Package sandbox owns kernel enforcement on Linux: path canonicalisation of
// grants into Landlock rules, the static seccomp filter, the seccomp
// user-notification filter and its supervisor, and starting the confined
// child (supervised, from a locked and restricted OS thread) or replacing
// nono itself (direct mode, wrap).
//
// Linux is the only backend. types.go holds what is platform-neutral (the
// report, exits, denials and errors); on other systems unsupported.go makes
// every start fail with ErrNoLandlock, so nono builds there (the Taskfile's
// vet checks darwin) and refuses to run anything unsandboxed.
//
// It takes a fully resolved Spec and enforces exactly that. It must not
// decide policy (that is package policy), parse profiles, talk to the
// network gateway (package proxy), or print anything for users: callers get
// structured results and errors and render them.
package sandbox
