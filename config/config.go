package config

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	toml "github.com/pelletier/go-toml/v2"
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
	Meta     Meta     `toml:"meta"`
	UI       UI       `toml:"ui"`
	Defaults Defaults `toml:"defaults"`
	Updates  Updates  `toml:"updates"`
	Path     string   `toml:"-"`
}

// Meta is the [meta] table. The section types are named so that a type
// error in the file reads "struct field UI.Theme of type string".
type Meta struct {
	Version int `toml:"version"`
}

// UI is the [ui] table.
type UI struct {
	Theme string `toml:"theme"`
}

// Defaults is the [defaults] table.
type Defaults struct {
	Profile string `toml:"profile"`
}

// Updates is the [updates] table.
type Updates struct {
	Check *bool `toml:"check"`
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
	dec := toml.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(c); err != nil {
		var missing *toml.StrictMissingError
		if errors.As(err, &missing) && len(missing.Errors) > 0 {
			key := strings.Join(missing.Errors[0].Key(), ".")
			return nil, fmt.Errorf("config %s: unknown key %q (known: %s)", path, key, strings.Join(Keys, ", "))
		}
		var de *toml.DecodeError
		if errors.As(err, &de) {
			row, col := de.Position()
			if k := de.Key(); len(k) > 0 {
				return nil, fmt.Errorf("config %s: line %d, column %d: key %q: %w", path, row, col, strings.Join(k, "."), err)
			}
			return nil, fmt.Errorf("config %s: line %d, column %d: %w", path, row, col, err)
		}
		return nil, fmt.Errorf("config %s: %w", path, err)
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
