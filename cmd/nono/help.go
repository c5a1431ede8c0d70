package main

// rootLong is the long help of `nono --help`: what nono is, and how it is
// configured (keep in step with README.md's Configuration section).
const rootLong = `nono runs a command, usually an AI coding agent, under kernel-enforced least
privilege: Landlock and seccomp confine what it can read, write, execute and
reach on the network, and sensitive paths such as ~/.ssh are never granted.

Configuration:
  Settings come from, highest precedence first: command-line flags, NONO_*
  environment variables, the config file, the profile, built-in defaults.

  Config file: $XDG_CONFIG_HOME/nono/config.toml (default
  ~/.config/nono/config.toml), or --config FILE (which must exist).
  Unknown keys are errors. Keys:
    [ui]       theme = "mocha"      colour theme (NONO_THEME, --theme)
    [defaults] profile = "NAME"     profile when --profile/NONO_PROFILE are absent
    [meta]     version = 1          optional
    [updates]  check = false        accepted and ignored: nono never checks for updates

  Environment: NONO_THEME, NONO_PROFILE, NONO_ALLOW (comma-separated),
  NONO_BLOCK_NET, NONO_ALLOW_NET, NONO_NETWORK_PROFILE, NONO_ALLOW_DOMAIN
  (comma-separated); booleans take true/false/yes/no/1/0. NO_COLOR turns
  colour off, CLICOLOR_FORCE=1 turns it on without a terminal.
  NONO_NO_UPDATE_CHECK is accepted and has no effect.`
