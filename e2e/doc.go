// Package e2e holds black-box tests of the built nono binary on the real
// kernel: real Landlock and seccomp, real clients and local services, run
// both as root and as an unprivileged user. It imports nothing from nono.
package e2e
