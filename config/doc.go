// Package config owns nono's user configuration file
// (~/.config/nono/config.toml, or --config FILE): reading and validating it.
// It must not resolve profiles or touch the sandbox.
package config
