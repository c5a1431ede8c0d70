// Package certs owns the TLS-interception certificates of one nono session:
// the session CA, the per-SNI leaf certificates it mints, and the trust bundle
// handed to the sandboxed child.
//
// The session CA is ECDSA P-256, valid for 24 hours (NotBefore backdated by a
// few minutes for clock skew), a CA with MaxPathLen 0, and carries a critical
// name-constraints extension: the permitted DNS subtrees are the intercepted
// hosts given to NewSessionCA, and every IPv4 and IPv6 address is excluded. So
// even if the CA key or the bundle leaked, a conforming verifier would accept
// its certificates only for those hosts (and, as RFC 5280 subtrees go, their
// subdomains). Its private key lives only in memory and is wiped by Close.
//
// Leaves are minted on demand, one per SNI, with a fresh P-256 key, the chain
// [leaf, CA], and a validity ending with the CA's. Names are checked exactly
// against the host list ("*.example.com" in the list allows strict subdomains
// of example.com), which is narrower than the constraint. A name outside the
// list, an IP literal or a missing SNI is an error, so the handshake fails.
// Leaves are kept in a bounded LRU cache.
//
// WriteBundle writes the system roots plus the session CA, mode 0400, created
// exclusively; EnvVars names it for the common TLS stacks.
//
// This package does no networking and must not import proxy, sandbox,
// credentials or endpoints; the gateway (proxy/) decides which hosts are
// intercepted and owns the listeners.
package certs
