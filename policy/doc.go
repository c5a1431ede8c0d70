// Package policy decides what a sandboxed command may touch. It owns:
//
//   - the embedded policy groups (data/groups.json) and built-in profiles
//     (data/profiles/*.jsonc), decoded at build time into builtin_gen.go
//     (go generate; a test keeps it identical to what the parser makes of data/);
//   - loading user profiles (JSONC), their schema, extends chains and merge rules;
//   - variable expansion in profile paths;
//   - resolving CLI flags plus a profile into canonical sandbox grants, and
//     validating them against deny groups, bypasses and nono's protected state roots;
//   - the child environment filter, the deprecated startup command blocklist;
//   - the path half of `nono why` and the NONO_CAP_FILE state file.
//
// It must not apply any kernel restriction, start processes, open network
// connections or read secrets: enforcement belongs to package sandbox and the
// gateway, and policy only describes what they must enforce.
package policy
