// Command nono is the CLI: cobra commands, flags, their NONO_* environment
// equivalents and the mapping of errors to exit codes. It only parses and
// wires; policy lives in package policy, enforcement in sandbox, the
// supervised run in session, and the gateway in proxy.
package main
