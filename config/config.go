package config

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/BurntSushi/toml"
)

// Config is the user configuration file. Every key is optional.
//
//	[meta]
//	version = 1            # accepted for compatibility; only 1 is known
//
//	[ui]
//	theme = "mocha"        # mocha, latte, frappe, macchiato, tokyo-night, minimal
//
//	[defaults]
//	profile = "default"    # profile used when --profile / NONO_PROFILE are absent
//
//	[updates]
//	check = false          # accepted and ignored: nono never checks for updates
type Config struct {
	Meta struct {
		Version int `toml:"version"`
	} `toml:"meta"`
	UI struct {
		Theme string `toml:"theme"`
	} `toml:"ui"`
	Defaults struct {
		Profile string `toml:"profile"`
	} `toml:"defaults"`
	Updates struct {
		Check *bool `toml:"check"`
	} `toml:"updates"`
	Path string `toml:"-"`
}

// Keys lists every accepted key, for messages and documentation.
var Keys = []string{"[meta] version", "[ui] theme", "[defaults] profile", "[updates] check"}

// maxSize bounds the configuration file.
const maxSize = 1 << 20

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
// explicit file (--config) is an error. Unknown keys, wrong types and
// unsupported values are errors that name the file and the key.
func Load(path string, explicit bool) (*Config, error) {
	c := &Config{Path: path}
	if path == "" {
		return c, nil
	}
	b, err := readLimited(path)
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
		return nil, fmt.Errorf("config %s: unknown key %q (known: %s)", path, und[0].String(), strings.Join(Keys, ", "))
	}
	if c.Meta.Version != 0 && c.Meta.Version != 1 {
		return nil, fmt.Errorf("config %s: [meta] version %d is not supported (this nono reads version 1)", path, c.Meta.Version)
	}
	return c, nil
}

func readLimited(path string) ([]byte, error) {
	st, err := os.Stat(path) // before opening: a FIFO would block
	if err != nil {
		return nil, err
	}
	if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("not a regular file")
	}
	if st.Size() > maxSize {
		return nil, fmt.Errorf("larger than %d bytes", maxSize)
	}
	return os.ReadFile(path)
}

// Source says which layer a setting's value came from.
type Source string

// The layers, highest precedence first.
const (
	FromFlag    Source = "flag"
	FromEnv     Source = "env"
	FromConfig  Source = "config"
	FromProfile Source = "profile"
	FromDefault Source = "default"
)

// Layer is one candidate value of a setting.
type Layer struct {
	Source Source
	Value  string
	Set    bool // the layer supplies a value (an empty string counts as unset)
}

// Pick applies nono's precedence — flag > environment > config file >
// profile > built-in default — and returns the winning value and its layer.
// Layers are ranked by Source, not by argument order; with no layer set it
// returns "" and FromDefault.
func Pick(layers ...Layer) (string, Source) {
	rank := map[Source]int{FromFlag: 0, FromEnv: 1, FromConfig: 2, FromProfile: 3, FromDefault: 4}
	best, bestRank := Layer{Source: FromDefault}, len(rank)
	for _, l := range layers {
		r, known := rank[l.Source]
		if !known || !l.Set || l.Value == "" {
			continue
		}
		if r < bestRank {
			best, bestRank = l, r
		}
	}
	return best.Value, best.Source
}
