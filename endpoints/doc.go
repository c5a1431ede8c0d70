// Package endpoints owns endpoint rules: parsing `SERVICE:METHOD:PATH` rules
// and structured {method, path} rules, canonicalising request paths, matching
// a request against a service's rule set, and joining a request path onto an
// upstream base path.
//
// It does no I/O, keeps no state beyond compiled rule sets, and must not
// import proxy, sandbox or credentials: the gateway (proxy/) calls it on the
// reverse, intercept and forward paths alike, and decides what to answer.
//
// # Rules
//
// A rule is METHOD plus a PATH glob. On the command line it is written
// `SERVICE:METHOD:PATH`, split at the first two ':' (the path may contain ':').
//
//   - SERVICE matches [a-z0-9][a-z0-9_-]* (at most 64 bytes).
//   - METHOD is an HTTP token, normalised to upper case, or `*` for any method.
//     Request methods are compared case-sensitively against it (RFC 9110 §9.1):
//     a `post` request does not match a `POST` rule, it is refused.
//   - PATH starts with '/'. The only wildcard is `*`. As a whole segment, `*`
//     matches exactly one non-empty segment; inside a segment (`gpt-*`) it
//     matches any run of non-'/' characters, as path.Match does. A whole
//     segment `**` matches zero or more segments, so `/api/**` matches `/api`,
//     `/api/`, `/api/x/y`, and `/a/**/b` matches `/a/b`. `*` never crosses '/'.
//     `?`, `#`, `[`, `]`, `{`, `}`, `\`, control characters and a `**` that is
//     not a whole segment are refused, so a pattern means one obvious thing.
//     At most 4 `**` segments per pattern, which bounds matching work.
//     The pattern is canonicalised like a request path (below), so `%7e` and
//     `~` in a rule are the same.
//
// A [Set] holds one service's rules. An empty set allows everything; a set
// with any rule denies every request no rule allows. Rules are tried in order
// and the first match is reported, for the audit label.
//
// # Path canonicalisation
//
// [NormalizePath] takes the raw (still percent-encoded) request path with the
// query already removed and returns the canonical path. The canonical path is
// both what rules are matched against and what must be forwarded upstream, so
// the rule and the upstream see the same bytes. Decisions:
//
//   - Refused as ambiguous (an error, never "fixed"): encoded '/' (%2F),
//     encoded or literal '\' (%5C), ';' and %3B (path parameters), '?' and
//     '#', control characters (raw or encoded, C0, DEL and C1), '%' not
//     followed by two hex digits, invalid or overlong UTF-8 after decoding
//     (%FF, %C0%AE), double encoding (a %25 that decodes into another %XX),
//     dot segments '.' and '..' in any spelling (%2e, .%2E, ...), a few
//     Unicode look-alikes of '.', '/' and '\' (fullwidth forms, division and
//     fraction slash, one- and two-dot leaders), and paths over MaxPathLength.
//   - Canonicalised: repeated '/' collapse to one; percent-encoded unreserved
//     characters (ALPHA DIGIT - . _ ~) are decoded; every other escape uses
//     upper-case hex; bytes that are not allowed raw in a path (space, '"',
//     '<', '>', '[', ']', '^', '`', '{', '|', '}', non-ASCII) are
//     percent-encoded. Case is preserved: paths are case-sensitive.
//   - A trailing '/' is kept and is significant: `/v1/models/` is forwarded
//     as such and does not match the rule `/v1/models`; it matches
//     `/v1/models/`, `/v1/models/**` and `/v1/*/` . An empty path becomes "/".
//
// NormalizePath is idempotent, so a caller may normalise first, forward that
// path, and hand the same path to [Set.Allow].
//
// Some APIs (GitLab's namespaced project ids) put %2F inside one segment.
// [NormalizePathEncodedSlash] keeps %2F as data for services without rules;
// it still refuses any dot segment between the %2F's, so an upstream that
// decodes %2F cannot be walked out of its base. A [Set] with rules always
// uses the strict form: a GitLab rule must use numeric project ids.
//
// # Base paths
//
// [BaseJoin] joins an upstream base path (the `/v1` of https://api.openai.com/v1)
// with a request path. Both are canonicalised first, and since dot segments
// are refused in every spelling, the result always stays under the base.
package endpoints
