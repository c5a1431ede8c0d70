// Package proxy is nono's network gateway: host normalisation, the host
// policy with its address deny floor, and the loopback gateway server that
// serves CONNECT tunnels, absolute-form http:// forwarding and the
// credential gateway (origin-form reverse requests with credential
// injection, and TLS interception of credential and endpoint-rule hosts),
// optionally chained through an upstream HTTP proxy.
//
// # What it owns
//
//   - NormalizeHost: the single canonical form of a host used by every path.
//   - HostPolicy: normalise → metadata names → deny list → allowlist →
//     resolve once → deny floor on every resolved address → dial exactly
//     those addresses. Check is the pure pre-DNS decision for `nono why`.
//   - Server: one listener on 127.0.0.1, net/http's strict parser, proxy
//     auth, limits, tunnels, forwarding, upstream chaining and audit events.
//   - The credential gateway (Config.Credentials, Config.EndpointRules,
//     Config.CA): phantom check, endpoint rules, injection, interception.
//
// It must not touch: loading secrets, phantom extraction and the injection
// formats (credentials/), path canonicalisation and rule matching
// (endpoints/), minting certificates (certs/), the child's environment (the
// lead builds HTTP_PROXY, *_BASE_URL and the CA bundle; this package never
// formats a URL holding the token), or the sandbox. It does not read flags,
// files or the environment.
//
// # Why net/http and not goproxy
//
// The brief suggested github.com/elazarl/goproxy. Its CONNECT path does not
// meet our goals, so the server is written on net/http directly (still no
// hand-rolled HTTP parsing; httputil.ReverseProxy does the forwarding):
//   - ordering: goproxy's CONNECT handlers see only the host string; the
//     dial callback cannot receive the addresses our policy checked, so
//     pinning "dial exactly the checked addresses" needs a side channel, and
//     auth must be bolted on through hijack actions;
//   - exact answers: a rejected CONNECT is either a closed socket or a
//     caller-built response written after a hijack, and auth failure goes
//     through a hijack that writes a bare 407 status line; we need 403/407/502
//     with X-Nono-Reason and Proxy-Authenticate from one code path;
//   - tunnels: it replays early client bytes through an io.MultiReader,
//     which defeats splice(2), and it has no idle timeout, byte accounting
//     or close-time audit, and no way for Shutdown to close tunnels.
//
// # Proxy authentication
//
// Every CONNECT and absolute-form request must carry Proxy-Authorization:
// "Basic base64(<any user>:<token>)" or "Bearer <token>", compared in
// constant time; otherwise 407 with Proxy-Authenticate: Basic realm="nono".
// The connection stays usable after a 407 so challenge-driven clients retry.
// Clients given HTTP_PROXY/HTTPS_PROXY = http://nono:<token>@127.0.0.1:<port>:
//   - curl sends Basic credentials pre-emptively on CONNECT and on http;
//   - git (libcurl with CURLAUTH_ANY) sends them after the 407 challenge;
//   - Python requests/urllib3 and Go net/http send them on CONNECT and http;
//   - Node 20 has no environment proxy support at all (fetch/undici and
//     http ignore HTTP_PROXY), so Node SDKs must use the *_BASE_URL reverse
//     path instead.
//
// Origin-form requests are not proxy requests: they carry the phantom token
// instead (see below), or Config.Reverse checks it itself.
//
// # Host policy and the deny floor
//
// Allow entries are exact hosts or "*.suffix" (strict subdomains). "*",
// "*foo" and ports are rejected. An empty allowlist denies everything.
// Always denied: cloud metadata (169.254.169.254, fd00:ec2::254,
// 100.100.100.200, 168.63.129.16, metadata.google.internal,
// metadata.azure.internal and similar names), link-local, multicast,
// unspecified, broadcast/reserved, Teredo, IPv4-compatible and documentation
// ranges, and IPv4 embedded in IPv6 (mapped, NAT64 64:ff9b::/96, 6to4) of
// these. Loopback, RFC 1918, CGNAT, ULA and other special ranges are reached
// only through an exact allow entry, never through a wildcard (DNS
// rebinding). A denied name never reaches the resolver. Names are resolved
// as rooted names (trailing dot) so the resolver's search list cannot
// change what was checked. IP deny entries also apply to resolved
// addresses. The port is not restricted.
//
// # Paths
//
//   - CONNECT host:port → auth → policy → dial checked addresses (or the
//     upstream) → 200 → relay with io.CopyN between *net.TCPConn (splice,
//     no memory per tunnel); a direction that moves a 1 MiB chunk in under
//     2 ms switches to read/write through a 4 MiB buffer from a budget of 8
//     (faster than splice on loopback) until its reads turn small;
//     half-close on EOF, idle timeout across both directions, one audit
//     event at close with bytes and duration. The tunnel is opaque: requests
//     sent inside it go to the origin and are never parsed by the gateway.
//   - GET http://host/… → auth → same policy → httputil.ReverseProxy with a
//     Transport that dials only the checked addresses (fails closed
//     otherwise); hop-by-hop and every Proxy-* header removed; Host is the
//     normalised host; bodies stream; no transparent decompression.
//     net/http parses the request strictly and the Transport re-serialises
//     it, so framing tricks (CL+TE, obs-fold) never reach the origin as
//     sent; every request on a keep-alive connection is authorised and
//     checked on its own. An Upgrade (WebSocket) answered 101 is relayed by
//     ReverseProxy and closed after TunnelIdleTimeout with no byte either
//     way (countUpgraded); Shutdown does not close it before that.
//   - https:// absolute-form → 400; origin-form → the credential routes,
//     else Config.Reverse, else 404.
//   - A target that is the gateway itself (any loopback or unspecified
//     address, or localhost, on the listening port) → 403 loop_denied.
//
// Denials answer 403 (502 for DNS or upstream failures) with a one-line
// text body and an X-Nono-Reason header holding the reason code. Malformed
// requests are answered by net/http itself, or by the reverse-path loop
// with the same checks (400, 417, 505, or 431 for heads over
// MaxHeaderBytes), and the connection is closed; those are not audited.
//
// # Who serves the listener
//
// Without credential routes, net/http's server. With them, the
// reverse-path loop (reverseloop.go): one goroutine per client connection
// peeks at each request line; an origin-form request is read with
// http.ReadRequest, checked by the same code as every other path
// (reverseCall, checkL7) and answered by the loop itself, which frames the
// response for this client (Content-Length, chunked with flushes for
// streams, trailers, HEAD, HTTP/1.0, 1xx, Expect: 100-continue, 101). The
// first request that is not origin-form (CONNECT, absolute-form) or whose
// line does not fit the loop's 4 KiB buffer hands the connection, with its
// read-ahead (slotConn.pending), to net/http's server for good. Head
// timeout, idle timeout, head size limit and Shutdown (idle connections
// closed, active ones finished until the deadline) match the server's.
// Bodies are re-framed, never passed through, so CL+TE and similar tricks
// cannot make the upstream see a request the loop did not check. A request
// still waiting for the upstream after 500 ms (for the answer's head, or
// for the next piece of a streamed answer) gets a watcher that peeks at the
// client connection, so a client that hangs up cancels the upstream
// request, as net/http's per-request background reader did. A WebSocket
// (101) relayed by the loop is closed after TunnelIdleTimeout with no
// bytes either way (countUpgraded, on every path), like a CONNECT tunnel,
// and a forced Shutdown closes it.
//
// # Upstream proxy
//
// With Config.Upstream, CONNECT becomes a CONNECT to the upstream (with
// Basic Proxy-Authorization if a user/password is set) and http requests are
// sent to it in absolute form. Bypass entries (exact or "*.suffix", matched
// after NormalizeHost) go direct. Before chaining, the name-level policy
// (metadata names, deny list, allowlist, literal-address floor) applies in
// full. The upstream resolves the name itself, so for chained traffic the
// gateway resolves it locally as well, best effort: if local resolution
// works, every address must pass the floor; if it fails (common behind a
// corporate proxy), the upstream's resolution is trusted. Resolved-address
// enforcement for chained traffic is therefore only as strong as the local
// resolver's agreement with the upstream's. A 407 from the upstream becomes
// a 502 so the client never mistakes it for the gateway's own challenge.
//
// # Credential gateway
//
// The session token is also the phantom: the child holds it as
// OPENAI_API_KEY and so on, and a request must present it, exactly once, in
// the route's auth location (credentials.ExtractPhantom: the route header,
// or one well-known auth header; Basic password; url_path; query), compared
// in constant time. Missing or wrong → 401 {"error":"nono: missing or
// invalid phantom token"} and nothing is sent upstream. This holds on the
// intercept path too (nono upstream skips it there): a client that sends no
// credential to an intercepted host is refused, never silently injected.
//
// Three entries, one pipeline (checkL7, then serveL7's ReverseProxy or the
// reverse-path loop's own exchange):
//   - reverse: /<name>/<rest>. Unknown name → 404 (audited). <rest> is
//     canonicalised (endpoints.NormalizePath when rules apply, else
//     NormalizePathEncodedSlash; ambiguous → 400) and joined under the
//     upstream base path with endpoints.BaseJoin, so no spelling of ".."
//     leaves the base. Route rules see <rest>.
//   - intercept: CONNECT to the host (after NormalizeHost: a trailing dot
//     or case changes nothing) of an https credential route, on that
//     route's port, or to a host with EndpointRules, on any port. The
//     gateway answers 200, terminates TLS with a leaf from Config.CA and
//     serves HTTP/1.1 or h2 (by ALPN) inside. A credential host on another
//     port, an IP literal, or no CA → 403; a failed handshake is audited as
//     intercept_handshake_failed. Never an opaque tunnel. Inner requests
//     must be origin-form, and Host/:authority and the SNI must name the
//     CONNECT host and port (421 otherwise). The route is the one whose
//     base path holds the request path (two with the same base → 403
//     ambiguous_route); its rules see the path with the base removed.
//   - forward: http:// to a credential host is served only for a loopback
//     http upstream on the route's port (same pipeline); otherwise 403
//     plain_http_denied. http:// to a rules-only host is checked against
//     its rules and forwarded with the canonical path.
//
// Then: TRACE/TRACK/CONNECT → 405; phantom; host rules (whole path) and
// route rules (403 naming method and path); the name-level policy (the
// route host must be in PolicyConfig.Implicit). ReverseProxy with Rewrite
// removes hop-by-hop headers (including names listed in Connection, before
// injection, so "Connection: x-api-key" cannot remove the injected header),
// Forwarded, X-Forwarded-* and Proxy-*; credentials.Route.Inject strips
// every client credential header and writes the secret. The upstream
// client is a pooled http.Transport per RootCAs (keep-alive, h2 via ALPN,
// no decompression) whose dialer (dialL7) runs HostPolicy.Resolve only
// when a new connection is needed and dials only the checked addresses, or
// CONNECTs through the upstream proxy (not bypassed hosts). On the reverse
// path, a route whose upstream answered the transport in HTTP/1.1 switches
// to the loop's own pool (h1pool.go: Request.Write and http.ReadResponse
// on the loop's goroutine, connections from the same dialL7, head size
// capped at 1 MiB, an idle connection probed with MSG_PEEK before reuse,
// only idempotent body-less requests retried on a stale one, and bodies
// over 64 KiB or of unknown length written while the answer is read, so an
// early 413 or 401 reaches the client). SSE and bodies of
// unknown length are flushed on every write; chunked request bodies
// stream; WebSocket upgrades go over HTTP/1.1 and are relayed after 101.
//
// Responses: every header (1xx, final, 101, trailers) whose name or value
// holds the secret, its base64, or its path- or query-escaped form is
// dropped. Bodies stream through a scrubber that overwrites those same
// forms with '*' of equal length (framing and Content-Length stay valid);
// it holds back only a tail that could begin a secret, so SSE events are not
// delayed. The client's Accept-Encoding is removed so the transport
// decompresses, and a body that still arrives encoded is refused (502)
// rather than passed unchecked. After a WebSocket upgrade each message the
// upstream sends is masked whole (fragments joined; wsscrub.go), the
// client's extension offer (compression) is dropped, and frames the mask
// cannot see into end the connection; other upgrades are refused on
// credential routes. Bytes after any 101 are counted in the audit event.
// TRACE/TRACK get 405. A secret transformed
// in other ways (hashed, split, re-encoded) is out of reach: endpoint rules
// remain the way to keep an agent off echo-like endpoints. Audit: one event per request with
// mode reverse|intercept|forward, Service, Host, Port, Method, Path (no
// query; a phantom in the path becomes "[phantom]"), Status and Reason;
// never a token or secret. Upgraded (WebSocket) bytes are not counted.
package proxy
