package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"

	"github.com/spf13/cobra"

	"github.com/nono-sandbox/nono/netprofiles"
	"github.com/nono-sandbox/nono/policy"
	"github.com/nono-sandbox/nono/ui"
)

// stdoutPrinter styles a command's answer on w with the session's theme.
// Colour follows w (a terminal, NO_COLOR, CLICOLOR_FORCE); anything that is
// not a file, such as a test buffer, gets plain text.
func stdoutPrinter(g *globals, w io.Writer) *ui.Printer {
	if f, ok := w.(*os.File); ok && g.printer != nil {
		return g.printer.For(f)
	}
	return &ui.Printer{W: w}
}

// writeJSON prints v as indented JSON.
func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false) // "a -> b" stays readable
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		return fmt.Errorf("encoding JSON: %w", err)
	}
	return nil
}

// completeProfiles offers built-in and user profile names.
func completeProfiles(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
	list, err := policy.ListProfiles(policy.NewExpander(os.LookupEnv, ""))
	if err != nil {
		return nil, cobra.ShellCompDirectiveError
	}
	var out []string
	for _, p := range list {
		out = append(out, p.Name+"\t"+p.Description)
	}
	return out, cobra.ShellCompDirectiveNoFileComp
}

// completeNetworkProfiles offers the built-in network profile names.
func completeNetworkProfiles(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
	var out []string
	for _, n := range netprofiles.Names() {
		d, _ := netprofiles.Description(n)
		out = append(out, n+"\t"+d)
	}
	return out, cobra.ShellCompDirectiveNoFileComp
}

// completeGroups offers policy group names.
func completeGroups(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
	var out []string
	for _, g := range policy.Groups() {
		out = append(out, g.Name+"\t"+g.Description)
	}
	return out, cobra.ShellCompDirectiveNoFileComp
}
