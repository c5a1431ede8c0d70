package main

import (
	"slices"
	"strings"
	"testing"

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
