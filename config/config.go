package config

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/BurntSushi/toml"
)

// Config is the user configuration file.
type Config struct {
	UI struct {
		Theme string `toml:"theme"`
	} `toml:"ui"`
	Defaults struct {
		Profile string `toml:"profile"`
	} `toml:"defaults"`
	Path string `toml:"-"`
}

// DefaultPath is $XDG_CONFIG_HOME/nono/config.toml (default ~/.config).
func DefaultPath(lookup func(string) (string, bool)) string {
	if x, ok := lookup("XDG_CONFIG_HOME"); ok && filepath.IsAbs(x) {
		return filepath.Join(x, "nono", "config.toml")
	}
	if h, ok := lookup("HOME"); ok && filepath.IsAbs(h) {
		return filepath.Join(h, ".config", "nono", "config.toml")
	}
	return ""
}

// Load reads path. A missing default file is an empty config; a missing
// explicit file (--config) is an error. Unknown keys are errors.
func Load(path string, explicit bool) (*Config, error) {
	c := &Config{Path: path}
	if path == "" {
		return c, nil
	}
	b, err := os.ReadFile(path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) && !explicit {
			return c, nil
		}
		return nil, fmt.Errorf("reading config %s: %w", path, err)
	}
	md, err := toml.Decode(string(b), c)
	if err != nil {
		return nil, fmt.Errorf("config %s: %w", path, err)
	}
	if und := md.Undecoded(); len(und) > 0 {
		return nil, fmt.Errorf("config %s: unknown key %q (known: [ui] theme, [defaults] profile)", path, und[0].String())
	}
	return c, nil
}
