// Package session owns one nono run from resolved options to exit code:
// it asks package policy what is allowed, decides the working directory
// grant (prompting when allowed to), builds the sandbox.Spec and the child's
// environment, starts the child under the supervisor (or execs it directly
// for wrap), and explains failures in the diagnostic footer.
//
// It must not parse flags (cmd/nono), decide grants itself (policy), or talk
// to the kernel directly (sandbox).
package session
