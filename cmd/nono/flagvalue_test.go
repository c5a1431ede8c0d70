package main

import (
	"bytes"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// listValue must keep pflag's stringArray behaviour: repeated flags append
// verbatim (commas are not separators on the command line), env values are
// split by applyEnv, and help shows no "(default [])".
func TestListValueSemantics(t *testing.T) {
	var got []string
	fs := pflag.NewFlagSet("t", pflag.ContinueOnError)
	listVarP(fs, &got, "allow", "a", "grant")
	if err := fs.Parse([]string{"-a", "x,y", "--allow", "z", "--allow=", "-a", "w"}); err != nil {
		t.Fatal(err)
	}
	if want := []string{"x,y", "z", "", "w"}; !slices.Equal(got, want) {
		t.Fatalf("got %q, want %q", got, want)
	}
	f := fs.Lookup("allow")
	if f.Value.Type() != "stringArray" || f.DefValue != "" || f.Value.String() != "[x,y,z,,w]" {
		t.Fatalf("type %q, default %q, value %q", f.Value.Type(), f.DefValue, f.Value.String())
	}
	if u := fs.FlagUsages(); strings.Contains(u, "default") || !strings.Contains(u, "-a, --allow stringArray") {
		t.Fatalf("usage: %s", u)
	}

	var env []string
	fs2 := pflag.NewFlagSet("t", pflag.ContinueOnError)
	listVarP(fs2, &env, "allow-domain", "", "hosts")
	t.Setenv("NONO_T_DOMAINS", "a.example, b.example,,")
	if err := applyEnv(fs2, map[string]string{"allow-domain": "NONO_T_DOMAINS"}); err != nil {
		t.Fatal(err)
	}
	if want := []string{"a.example", "b.example"}; !slices.Equal(env, want) || fs2.Changed("allow-domain") {
		t.Fatalf("env: got %q (changed %v), want %q", env, fs2.Changed("allow-domain"), want)
	}
}

// TestPartialTreeMatchesFullTree: for run, wrap and shell, main builds only
// that command. Help, usage errors and flag handling must read exactly as
// with the whole tree.
func TestPartialTreeMatchesFullTree(t *testing.T) {
	hermetic(t)
	for _, args := range [][]string{
		{"wrap", "--help"},
		{"run", "--help"},
		{"shell", "--help"},
		{"-s", "wrap", "--help"},
		{"--theme", "latte", "run", "--help"},
		{"-vv", "--config=/nonexistent", "run", "--help"},
		{"wrap", "--no-such-flag", "--", "true"},
		{"run", "--allow-domain"},
		{"wrap"},
	} {
		execute := func(root *cobra.Command) (string, string, error) {
			var out, errb bytes.Buffer
			root.SetOut(&out)
			root.SetErr(&errb)
			root.SetArgs(args)
			err := root.Execute()
			return out.String(), errb.String(), err
		}
		full, fullErr, fe := execute(newRoot())
		part, partErr, pe := execute(newRootFor(args))
		if full != part || fullErr != partErr || fmt.Sprint(fe) != fmt.Sprint(pe) {
			t.Errorf("%q:\nfull tree: %q %q %v\npartial:   %q %q %v", args, full, fullErr, fe, part, partErr, pe)
		}
		if len(newRootFor(args).Commands()) != 1 {
			t.Errorf("%q: partial tree has %d commands", args, len(newRootFor(args).Commands()))
		}
	}
	for _, args := range [][]string{{"help", "wrap"}, {"--silent=false"}, {"-x", "wrap"}, {"why", "--path", "/"}, {}} {
		if n := len(newRootFor(args).Commands()); n < 7 {
			t.Errorf("%q: only %d commands; the whole tree has 7", args, n)
		}
	}
}
