// Package credentials owns nono's secrets: references to where they live,
// the backends that load them, the built-in and profile-defined credential
// services (routes), phantom-token checks, and writing the real secret into
// an outbound request.
//
// It must not touch the network itself, start the gateway, read profiles
// from disk, import proxy, sandbox, policy or cmd, or import the 1Password
// SDK (only credentials/opsdk, linked into nono-op, may). The proxy package
// calls ExtractPhantom, PhantomMatches and Route.Inject; session resolves
// every ref with LoadAll before the child starts and then closes the
// Resolver.
//
// # Secrets
//
// A Secret wraps []byte. Only Bytes exposes the value; fmt (every verb),
// slog, encoding/json and encoding.TextMarshaler print "[redacted]". Wipe
// zeroes the backing array. A value containing CR, LF or NUL is refused at
// load time (header injection). Errors name refs, never values; a malformed
// ref's error does not echo the input, which may be a pasted secret (a bare
// "account" that looks like an API key, e.g. sk-..., ghp_..., is refused).
// Known gaps: go-keyring, the 1Password SDK (in nono-op) and os.Getenv
// return Go strings, and net/http headers are strings, so those copies
// cannot be wiped.
//
// # Refs and backends
//
//	openai_api_key                    keyring, service "nono", account openai_api_key
//	keyring://service/account         keyring, explicit service
//	env://VAR                         parent environment (unset or empty fails)
//	file:///abs/path                  regular file <= 64 KiB; symlinks followed; one trailing newline trimmed
//	op://vault/item[/section]/field   1Password: SDK (in nono-op) if OP_SERVICE_ACCOUNT_TOKEN is set, else `op read`
//	apple-password://server/account   macOS Passwords (internet password); an error elsewhere
//
// The keyring is go-keyring: the Secret Service over D-Bus on Linux
// (attributes service, username), the login Keychain on macOS. Errors tell a
// missing entry (with the `secret-tool store` command to fix it), a missing
// session bus, a missing Secret Service and a locked keyring apart. Every
// load runs under Resolver.Timeout (default 60 s, for unlock prompts).
//
// # 1Password
//
// Without OP_SERVICE_ACCOUNT_TOKEN, op:// refs are read with `op read`.
// With it, they go to the SDK, which does not run in nono: the SDK (a
// WebAssembly core under wazero's JIT, plus protobuf and OpenTelemetry)
// would add about 1 ms to every nono start and would share the address
// space of the supervisor that holds every secret of the session. It runs
// in the helper nono-op (cmd/nono-op, credentials/opsdk), looked for next
// to the nono executable (symlinks resolved), then on PATH; if it is
// missing the load fails with instructions, never falling back to the CLI.
// OnePassword starts one helper at the first SDK load, with only the token,
// HOME, PATH, TZ, ZONEINFO, the HTTPS proxy and SSL_CERT_* variables in its
// environment, and keeps it for the following loads until Resolver.Close,
// which closes its stdin. A timeout, a malformed answer or a helper that
// dies kills and reaps it; the error names the ref and shows the first
// line of its stderr, scrubbed, with the token redacted. The protocol is
// in ophelper_proto.go (ServeOPHelper is the helper's side): a request is
// the op:// ref and "\n"; a frame is "OK" or "ER", a space, the length as
// 8 decimal digits and "\n", then the payload, bounded by MaxSecretSize
// (OK) or 1 KiB (ER). The first frame is the greeting "nono-op/1" or the
// SDK client's error. nono reads frames from the raw pipe into buffers it
// wipes, and never builds a string of the secret.
//
// # Presets
//
// Upstreams are origins, so endpoint rules name the upstream's real paths
// (openai:POST:/v1/chat/completions). The child gets
// <NAME>_BASE_URL = http://127.0.0.1:PORT/<name><suffix> and the phantom in
// the key variable. The keyring account follows the CLI contract
// (--credential openai loads openai_api_key): <name>_api_key with '-'
// mapped to '_'. It therefore differs from the key variable for github,
// gitlab and google-ai; use --env-credential-map to export those accounts
// under other names.
//
//	name       upstream                                   header          format      base-URL var (suffix)         key var            keyring account
//	openai     https://api.openai.com                     Authorization   Bearer {}   OPENAI_BASE_URL (/v1)         OPENAI_API_KEY     openai_api_key
//	anthropic  https://api.anthropic.com                  x-api-key       {}          ANTHROPIC_BASE_URL            ANTHROPIC_API_KEY  anthropic_api_key
//	gemini     https://generativelanguage.googleapis.com  x-goog-api-key  {}          GEMINI_BASE_URL               GEMINI_API_KEY     gemini_api_key
//	google-ai  https://generativelanguage.googleapis.com  x-goog-api-key  {}          GOOGLE_AI_BASE_URL            GOOGLE_API_KEY     google_ai_api_key
//	github     https://api.github.com                     Authorization   Bearer {}   GITHUB_BASE_URL               GITHUB_TOKEN       github_api_key
//	gitlab     https://gitlab.com                         PRIVATE-TOKEN   {}          GITLAB_BASE_URL (/api/v4)     GITLAB_TOKEN       gitlab_api_key
//
// The openai suffix exists because the official SDKs take a base URL that
// already includes /v1 (their default is https://api.openai.com/v1) and
// append /chat/completions to it. The gitlab suffix points the variable at
// the REST API root likewise. A custom credential of the same name replaces
// a preset.
//
// # Custom credentials
//
// CustomCredential mirrors network.custom_credentials.<name>: upstream
// (https; http only for localhost, 127.0.0.0/8 or ::1), credential_key (a
// ref), inject_mode (header | basic_auth | url_path | query_param),
// inject_header (default Authorization), credential_format (one {}, default
// "Bearer {}" for Authorization, else "{}"), path_pattern and
// path_replacement, query_param_name, env_var (default <NAME>_API_KEY),
// endpoint_rules and tls_ca. Fields that do not apply to the chosen mode are
// errors. The phantom variable and destination variables of
// --env-credential may not be PATH, LD_*, NODE_OPTIONS, proxy or CA
// variables and the like (ValidateEnvVarName).
//
// # Injection
//
// On a credential route the proxy calls ExtractPhantom, checks it with
// PhantomMatches (401 on failure), then Inject, which first strips every
// client credential header (Authorization, Proxy-Authorization, X-Api-Key,
// Api-Key, X-Goog-Api-Key, Private-Token, Job-Token; case-insensitively)
// so neither the phantom nor a stray key reaches the upstream. Hop-by-hop
// headers are the proxy's job.
package credentials
