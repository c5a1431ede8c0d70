package main

import (
	"strings"

	"github.com/spf13/pflag"
)

// listValue is a repeatable string flag with pflag's stringArray semantics:
// every use appends one value as given (no comma splitting), and the first
// use replaces the default. It exists because pflag's own stringArray
// computes its default text through encoding/csv, which allocates a 4 KiB
// bufio.Writer per flag when the flag is defined: with the thirty list flags
// of run, wrap, shell and why that was about 130 KiB of fresh heap, and its
// page faults, on every nono start.
type listValue struct {
	value   *[]string
	changed bool
}

func (l *listValue) Set(v string) error {
	if !l.changed {
		*l.value = []string{v}
		l.changed = true
		return nil
	}
	*l.value = append(*l.value, v)
	return nil
}

// Type keeps pflag's name, so help shows `--allow stringArray` as before and
// applyEnv treats the flag as a list.
func (l *listValue) Type() string { return "stringArray" }

// String is empty for an empty list, which pflag's help treats as "no
// default" (it would print `(default [])` for any other text).
func (l *listValue) String() string {
	if len(*l.value) == 0 {
		return ""
	}
	return "[" + strings.Join(*l.value, ",") + "]"
}

// Append, Replace and GetSlice implement pflag.SliceValue.
func (l *listValue) Append(v string) error {
	*l.value = append(*l.value, v)
	return nil
}

func (l *listValue) Replace(vs []string) error {
	*l.value = append([]string(nil), vs...)
	return nil
}

func (l *listValue) GetSlice() []string { return *l.value }

// listVarP defines a listValue flag bound to p, which starts empty.
func listVarP(fs *pflag.FlagSet, p *[]string, name, short, usage string) {
	*p = nil
	fs.VarP(&listValue{value: p}, name, short, usage)
}
