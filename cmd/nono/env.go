package main

import (
	"fmt"
	"os"
	"sort"
	"strings"

	"github.com/spf13/pflag"
)

// applyEnv sets every flag in m (flag name → env var) that was not given on
// the command line from its environment variable. Flags always win. List
// flags take comma-separated values; booleans accept true/false/yes/no/1/0.
func applyEnv(fs *pflag.FlagSet, m map[string]string) error {
	names := make([]string, 0, len(m))
	for n := range m {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, name := range names {
		env := m[name]
		f := fs.Lookup(name)
		if f == nil || f.Changed {
			continue
		}
		val, ok := os.LookupEnv(env)
		if !ok {
			continue
		}
		switch f.Value.Type() {
		case "bool":
			b, err := parseBool(val)
			if err != nil {
				return fmt.Errorf("%s=%q: %w", env, val, err)
			}
			if err := fs.Set(name, fmt.Sprint(b)); err != nil {
				return fmt.Errorf("%s: %w", env, err)
			}
		case "stringArray", "stringSlice", "uintSlice", "uint16Slice":
			for _, part := range strings.Split(val, ",") {
				part = strings.TrimSpace(part)
				if part == "" {
					continue
				}
				if err := fs.Set(name, part); err != nil {
					return fmt.Errorf("%s=%q: %w", env, val, err)
				}
			}
		default:
			if err := fs.Set(name, val); err != nil {
				return fmt.Errorf("%s=%q: %w", env, val, err)
			}
		}
		f.Changed = false // it came from the environment, not the command line
		envSources[name] = env
	}
	return nil
}

// envSources records which flags were set from which variable, for messages.
var envSources = map[string]string{}

// source names where a flag's value came from, for conflict messages.
func source(fs *pflag.FlagSet, name string) string {
	if env, ok := envSources[name]; ok {
		return env
	}
	return "--" + name
}

func parseBool(s string) (bool, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "true", "yes", "1":
		return true, nil
	case "false", "no", "0":
		return false, nil
	}
	return false, fmt.Errorf("not a boolean: use true/false/yes/no/1/0")
}
