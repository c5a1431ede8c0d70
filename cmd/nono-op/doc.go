// Command nono-op is nono's 1Password SDK helper. nono starts it when an
// op:// ref is loaded with OP_SERVICE_ACCOUNT_TOKEN set, passes it only the
// token and a few variables the SDK's HTTP client honours, talks to it over
// stdin and stdout (the protocol is in package credentials, see
// ServeOPHelper), and closes its stdin once every ref is loaded, which ends
// it. It is not meant to be run by hand.
//
// It only parses its arguments and calls credentials/opsdk; it must not
// print secrets or grow logic of its own.
package main
