// Package netprofiles owns nono's built-in network host groups and network
// profiles: the embedded data file network-profiles.json and the functions
// that resolve a profile or a group name into allowlist entries.
//
// Host groups list exact host names; "suffix" groups become "*.suffix"
// entries, which the gateway treats as strict subdomains (the apex is not
// included). A profile is an ordered list of groups.
//
// This package only turns names into entry strings. It must not validate,
// normalise or enforce hosts: that is the job of package proxy
// (proxy.NewHostPolicy), which applies the same normalisation to these
// entries as to every requested host. It must not read user configuration or
// the environment either; callers pass names in.
package netprofiles
