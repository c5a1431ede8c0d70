package main

import (
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/nono-sandbox/nono/policy"
	"github.com/nono-sandbox/nono/proxy"
	"github.com/nono-sandbox/nono/session"
)

func newProfileCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "profile",
		Short: "Create, inspect, compare and validate profiles",
		Long: `Profiles say what a sandboxed command may read, write and reach. Built-in
profiles are embedded in nono; your own live in
$XDG_CONFIG_HOME/nono/profiles/NAME.json (default ~/.config/nono/profiles)
and shadow built-ins of the same name. 'nono profile guide' explains how to
write one.`,
		Args: withUsage(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error { return cmd.Help() },
	}
	cmd.AddCommand(newProfileInitCmd(g), newProfileListCmd(g), newProfileShowCmd(g), newProfileDiffCmd(g),
		newProfileValidateCmd(g), newProfileGroupsCmd(g), newProfileSchemaCmd(g), newProfileGuideCmd())
	return cmd
}

// expander returns the variable expander the inspection commands use:
// the process environment and the current directory as $WORKDIR.
func expander() (policy.Expander, string, error) {
	cwd, err := os.Getwd()
	if err != nil {
		return policy.Expander{}, "", fmt.Errorf("current directory: %w", err)
	}
	wd := cwd
	if real, err := filepath.EvalSymlinks(cwd); err == nil {
		wd = real
	}
	return policy.NewExpander(os.LookupEnv, wd), cwd, nil
}

// --- init ---

// skeleton is the file `profile init` writes; field order is the reading order.
type skeleton struct {
	Schema  string         `json:"$schema"`
	Extends string         `json:"extends"`
	Meta    skeletonMeta   `json:"meta"`
	Groups  skeletonGroups `json:"groups"`
	// Only with --full.
	Filesystem  *skeletonFS  `json:"filesystem,omitempty"`
	Network     *skeletonNet `json:"network,omitempty"`
	Environment *skeletonEnv `json:"environment,omitempty"`
}

type skeletonMeta struct {
	Name        string `json:"name"`
	Description string `json:"description"`
}

type skeletonGroups struct {
	Include []string `json:"include"`
	Exclude []string `json:"exclude,omitempty"`
}

type skeletonFS struct {
	Allow     []string `json:"allow"`
	Read      []string `json:"read"`
	Write     []string `json:"write"`
	AllowFile []string `json:"allow_file"`
	ReadFile  []string `json:"read_file"`
	Deny      []string `json:"deny"`
}

type skeletonNet struct {
	AllowDomain []string `json:"allow_domain"`
	DenyDomain  []string `json:"deny_domain"`
}

type skeletonEnv struct {
	DenyVars []string `json:"deny_vars"`
}

func newProfileInitCmd(g *globals) *cobra.Command {
	var extends, description, output string
	var groups []string
	var force, full bool
	cmd := &cobra.Command{
		Use:   "init NAME [--extends BASE] [--groups a,b] [--description D] [--full] [-o FILE] [--force]",
		Short: "Write a skeleton profile to edit",
		Example: `  nono profile init my-agent --extends node-dev --groups git_config
  nono profile init reviewer --description "read-only review" --full -o ./reviewer.json`,
		Args: withUsage(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			name := args[0]
			if strings.Contains(name, "/") {
				return fmt.Errorf("%q is a path or pack reference, not a profile name; give a plain name (e.g. 'nono profile init my-profile --extends %s'), and -o FILE to choose where it is written", name, extends)
			}
			if !policy.ValidProfileName(name) {
				return fmt.Errorf("invalid profile name %q: use letters, digits and '-', not starting or ending with '-'", name)
			}
			if _, builtin := policy.BuiltinProfileSource(name); builtin {
				return fmt.Errorf("%q is a built-in profile name; pick another name, e.g. 'nono profile init %s-custom --extends %s'", name, name, name)
			}
			x, cwd, err := expander()
			if err != nil {
				return err
			}
			if _, _, err := policy.LoadProfile(extends, x, cwd); err != nil {
				return fmt.Errorf("--extends %s: %w", extends, err)
			}
			for _, gr := range groups {
				if _, ok := policy.LookupGroup(gr); !ok {
					return fmt.Errorf("--groups: unknown group %q (see 'nono profile groups')", gr)
				}
			}
			if description == "" {
				description = "Custom profile based on " + extends
			}
			doc := skeleton{Schema: policy.SchemaID, Extends: extends,
				Meta: skeletonMeta{Name: name, Description: description}, Groups: skeletonGroups{Include: nonNilStr(groups)}}
			if full {
				doc.Filesystem = &skeletonFS{Allow: []string{}, Read: []string{}, Write: []string{}, AllowFile: []string{}, ReadFile: []string{}, Deny: []string{}}
				doc.Network = &skeletonNet{AllowDomain: []string{}, DenyDomain: []string{}}
				doc.Environment = &skeletonEnv{DenyVars: []string{}}
			}
			var buf strings.Builder
			if err := writeJSON(&buf, doc); err != nil {
				return err
			}
			data := []byte(buf.String())
			if _, err := policy.ParseProfile(name, data); err != nil {
				return fmt.Errorf("internal error: generated profile is invalid: %w", err)
			}
			path, err := initTarget(name, output, x, force)
			if err != nil {
				return err
			}
			if err := writeNewFile(path, data, force); err != nil {
				return err
			}
			g.printer.Printf("Created profile at %s\n", path)
			ref := name
			if output != "" {
				ref = path
			}
			g.printer.Printf("Validate with: nono profile validate %s\n", ref)
			g.printer.Printf("For editor autocomplete: nono profile schema -o nono-profile.schema.json\n")
			return nil
		},
	}
	fs := cmd.Flags()
	fs.StringVar(&extends, "extends", "default", "base profile")
	fs.StringSliceVar(&groups, "groups", nil, "policy groups to include (comma-separated)")
	fs.StringVar(&description, "description", "", "one-line description")
	fs.BoolVar(&full, "full", false, "include empty filesystem, network and environment sections")
	fs.StringVarP(&output, "output", "o", "", "write to FILE instead of the user profile directory")
	fs.BoolVar(&force, "force", false, "overwrite an existing file")
	_ = cmd.RegisterFlagCompletionFunc("extends", completeProfiles)
	_ = cmd.RegisterFlagCompletionFunc("groups", completeGroups)
	return cmd
}

func nonNilStr(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// initTarget is -o FILE, else $XDG_CONFIG_HOME/nono/profiles/NAME.json;
// an existing profile of that name (.json or .jsonc) needs --force.
func initTarget(name, output string, x policy.Expander, force bool) (string, error) {
	if output != "" {
		abs, err := filepath.Abs(output)
		if err != nil {
			return "", fmt.Errorf("-o %s: %w", output, err)
		}
		if _, err := os.Lstat(abs); err == nil && !force {
			return "", fmt.Errorf("%s already exists; use --force to overwrite it", abs)
		}
		return abs, nil
	}
	dir, err := policy.UserProfileDir(x)
	if err != nil {
		return "", fmt.Errorf("locating the user profile directory: %w", err)
	}
	if !force {
		for _, ext := range []string{".json", ".jsonc"} {
			if p := filepath.Join(dir, name+ext); fileExists(p) {
				return "", fmt.Errorf("profile %s already exists at %s; use --force to overwrite it", name, p)
			}
		}
	}
	return filepath.Join(dir, name+".json"), nil
}

func fileExists(p string) bool {
	_, err := os.Lstat(p)
	return err == nil
}

// writeNewFile writes data to path, creating parent directories; without
// force the file must not exist (O_EXCL, so a racing file is not clobbered).
func writeNewFile(path string, data []byte, force bool) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("creating %s: %w", filepath.Dir(path), err)
	}
	flags := os.O_WRONLY | os.O_CREATE | os.O_EXCL
	if force {
		flags = os.O_WRONLY | os.O_CREATE | os.O_TRUNC
	}
	f, err := os.OpenFile(path, flags, 0o644)
	if err != nil {
		if errors.Is(err, os.ErrExist) {
			return fmt.Errorf("%s already exists; use --force to overwrite it", path)
		}
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	return nil
}

// --- list ---

func newProfileListCmd(g *globals) *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "list [--json]",
		Short: "List built-in and user profiles",
		Args:  withUsage(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			x, _, err := expander()
			if err != nil {
				return err
			}
			list, err := policy.ListProfiles(x)
			if err != nil {
				return err
			}
			w := cmd.OutOrStdout()
			if asJSON {
				return writeJSON(w, list)
			}
			p := stdoutPrinter(g, w)
			dir, _ := policy.UserProfileDir(x)
			tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
			fmt.Fprintln(tw, p.Accent("Built-in profiles:"))
			user := 0
			for _, e := range list {
				if e.Source == policy.ProfileSourceBuiltin {
					fmt.Fprintf(tw, "  %s\t%s%s\n", e.Name, e.Description, extendsNote(e.Extends))
				} else {
					user++
				}
			}
			fmt.Fprintf(tw, "\n%s\n", p.Accent(fmt.Sprintf("User profiles (%s):", dir)))
			if user == 0 {
				fmt.Fprintln(tw, "  (none; create one with 'nono profile init NAME')")
			}
			for _, e := range list {
				switch {
				case e.Source == policy.ProfileSourceBuiltin:
				case e.Error != "":
					fmt.Fprintf(tw, "  %s\t%s\n", e.Name, p.Err("error: "+e.Error))
				default:
					note := extendsNote(e.Extends)
					if e.Source == policy.ProfileSourceOverride {
						note += " " + p.Warn("[overrides built-in]")
					}
					fmt.Fprintf(tw, "  %s\t%s%s\n", e.Name, e.Description, note)
				}
			}
			return tw.Flush()
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}

func extendsNote(ext []string) string {
	if len(ext) == 0 {
		return ""
	}
	return " (extends " + strings.Join(ext, ", ") + ")"
}

// --- show ---

func newProfileShowCmd(g *globals) *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:               "show PROFILE [--json]",
		Short:             "Show a fully resolved profile (extends merged, paths expanded)",
		Args:              withUsage(cobra.ExactArgs(1)),
		ValidArgsFunction: firstArgProfile,
		RunE: func(cmd *cobra.Command, args []string) error {
			x, cwd, err := expander()
			if err != nil {
				return err
			}
			v, err := policy.ShowProfile(args[0], x, cwd)
			if err != nil {
				return err
			}
			if asJSON {
				return writeJSON(cmd.OutOrStdout(), v)
			}
			return printProfileView(cmd.OutOrStdout(), stdoutPrinter(g, cmd.OutOrStdout()), v)
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}

func firstArgProfile(cmd *cobra.Command, args []string, prefix string) ([]string, cobra.ShellCompDirective) {
	if len(args) > 0 {
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
	return completeProfiles(cmd, args, prefix)
}

type uiStyler interface{ Accent(string) string }

func printProfileView(w io.Writer, p uiStyler, v *policy.ProfileView) error {
	var b strings.Builder
	head := func(s string) { fmt.Fprintf(&b, "\n%s\n", p.Accent(s)) }
	list := func(label string, items []string) {
		if len(items) > 0 {
			fmt.Fprintf(&b, "  %s: %s\n", label, strings.Join(items, ", "))
		}
	}
	src := v.Source
	if v.Path != "" {
		src += ", " + v.Path
	}
	fmt.Fprintf(&b, "%s %s (%s)\n", p.Accent("Profile:"), v.Name, src)
	if v.Description != "" {
		fmt.Fprintf(&b, "Description: %s\n", v.Description)
	}
	if len(v.Extends) > 0 {
		fmt.Fprintf(&b, "Extends: %s\n", strings.Join(v.Extends, ", "))
	}

	head(fmt.Sprintf("Groups (%d active on this platform):", len(v.Groups.Active)))
	for _, gname := range v.Groups.Active {
		desc := ""
		if gr, ok := policy.LookupGroup(gname); ok {
			desc = gr.Description
		}
		fmt.Fprintf(&b, "  %-26s %s\n", gname, desc)
	}
	list("excluded", v.Groups.Exclude)

	head("Filesystem:")
	n := 0
	for _, field := range []string{"allow", "read", "write", "allow_file", "read_file", "write_file",
		"unix_socket", "unix_socket_bind", "unix_socket_dir", "unix_socket_dir_bind", "deny", "bypass_protection"} {
		entries := v.Filesystem[field]
		if len(entries) == 0 {
			continue
		}
		fmt.Fprintf(&b, "  %s:\n", field)
		for _, e := range entries {
			n++
			switch {
			case e.Error != "":
				fmt.Fprintf(&b, "    %s -> (cannot expand: %s)\n", e.Raw, e.Error)
			case e.Raw == e.Expanded:
				fmt.Fprintf(&b, "    %s\n", e.Raw)
			default:
				fmt.Fprintf(&b, "    %s -> %s\n", e.Raw, e.Expanded)
			}
		}
	}
	if n == 0 {
		b.WriteString("  (no profile paths; groups only)\n")
	}

	nv := v.Network
	mode := nv.Mode
	if nv.NetworkProfile != "" {
		mode += " (network profile " + nv.NetworkProfile + ")"
	}
	head("Network: " + mode)
	list("allow_domain", nv.AllowDomain)
	list("deny_domain", nv.DenyDomain)
	list("credentials", nv.Credentials)
	for _, k := range sortedKeys(nv.CustomCredentials) {
		fmt.Fprintf(&b, "  custom credential %s -> %s\n", k, nv.CustomCredentials[k])
	}
	list("open_port", uintsToStrings(nv.OpenPort))
	list("listen_port", uintsToStrings(nv.ListenPort))
	if nv.UpstreamProxy != "" {
		fmt.Fprintf(&b, "  upstream_proxy: %s\n", nv.UpstreamProxy)
	}
	list("upstream_bypass", nv.UpstreamBypass)

	head("Workdir: " + v.Workdir)

	head("Environment:")
	if v.Environment.AllowVars == nil {
		b.WriteString("  allow_vars: (all inherited variables pass, minus the dangerous ones)\n")
	} else {
		fmt.Fprintf(&b, "  allow_vars: [%s]\n", strings.Join(v.Environment.AllowVars, ", "))
	}
	list("deny_vars", v.Environment.DenyVars)
	for _, k := range sortedKeys(v.Environment.SetVars) {
		fmt.Fprintf(&b, "  set %s=%s\n", k, v.Environment.SetVars[k])
	}
	list("secrets in the environment (env_credentials)", v.EnvCredentials)

	head("Security:")
	fmt.Fprintf(&b, "  signal_mode: %s\n  ipc_mode: %s\n  capability_elevation: %v\n  allow_gpu: %v\n",
		v.Security.SignalMode, v.Security.IPCMode, v.Security.CapabilityElevation, v.AllowGPU)
	if len(v.Commands.Allow)+len(v.Commands.Deny) > 0 {
		head("Commands (deprecated startup check):")
		list("allow", v.Commands.Allow)
		list("deny", v.Commands.Deny)
	}
	if len(v.Rollback.ExcludePatterns)+len(v.Rollback.ExcludeGlobs) > 0 {
		head("Rollback exclusions:")
		list("patterns", v.Rollback.ExcludePatterns)
		list("globs", v.Rollback.ExcludeGlobs)
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func uintsToStrings(ps []uint16) []string {
	var out []string
	for _, p := range ps {
		out = append(out, fmt.Sprint(p))
	}
	return out
}

func sortedKeys[V any](m map[string]V) []string { return slices.Sorted(maps.Keys(m)) }

// --- diff ---

func newProfileDiffCmd(g *globals) *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "diff PROFILE_A PROFILE_B [--json]",
		Short: "Show what PROFILE_B adds to and removes from PROFILE_A",
		Args:  withUsage(cobra.ExactArgs(2)),
		ValidArgsFunction: func(cmd *cobra.Command, args []string, prefix string) ([]string, cobra.ShellCompDirective) {
			if len(args) >= 2 {
				return nil, cobra.ShellCompDirectiveNoFileComp
			}
			return completeProfiles(cmd, args, prefix)
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			x, cwd, err := expander()
			if err != nil {
				return err
			}
			a, err := policy.ShowProfile(args[0], x, cwd)
			if err != nil {
				return err
			}
			b, err := policy.ShowProfile(args[1], x, cwd)
			if err != nil {
				return err
			}
			d := policy.DiffProfiles(a, b)
			w := cmd.OutOrStdout()
			if asJSON {
				return writeJSON(w, d)
			}
			p := stdoutPrinter(g, w)
			var out strings.Builder
			fmt.Fprintf(&out, "%s\n%s\n", p.Err("--- "+a.Name), p.OK("+++ "+b.Name))
			if len(d) == 0 {
				out.WriteString("(no differences)\n")
			}
			for _, s := range policy.DiffSections {
				sec, ok := d[s]
				if !ok {
					continue
				}
				fmt.Fprintf(&out, "\n%s\n", p.Accent("["+s+"]"))
				changed, added, removed := sec.Changes()
				for _, c := range changed {
					fmt.Fprintf(&out, "  %s %s: %s -> %s\n", p.Warn("~"), c.Key, c.From, c.To)
				}
				for _, r := range removed {
					fmt.Fprintf(&out, "  %s\n", p.Err("- "+r))
				}
				for _, a := range added {
					fmt.Fprintf(&out, "  %s\n", p.OK("+ "+a))
				}
			}
			_, err = io.WriteString(w, out.String())
			return err
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON: {section: {added, removed}}")
	return cmd
}

// --- validate ---

func newProfileValidateCmd(g *globals) *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "validate FILE|NAME [--json]",
		Short: "Check a profile and list every problem with its JSON path",
		Long: `Check a profile file, or a user or built-in profile by name, the way
'nono run' would use it: JSONC syntax, unknown keys and wrong types, groups,
extends, variables, network profile and host entries, and whether it resolves
on this machine. Every error names its JSON path (e.g. $.filesystem.allow[2]).
Exits 1 when there are errors.`,
		Args:              withUsage(cobra.ExactArgs(1)),
		ValidArgsFunction: firstArgProfile,
		RunE: func(cmd *cobra.Command, args []string) error {
			x, cwd, err := expander()
			if err != nil {
				return err
			}
			rep := policy.ValidateProfile(args[0], x, cwd, hostEntryCheck)
			w := cmd.OutOrStdout()
			if asJSON {
				if err := writeJSON(w, rep); err != nil {
					return err
				}
			} else {
				p := stdoutPrinter(g, w)
				var b strings.Builder
				fmt.Fprintf(&b, "Validating %s\n", rep.File)
				if len(rep.Errors) == 0 {
					fmt.Fprintf(&b, "  %s syntax, schema, groups, extends and network settings\n", p.OK("[ok]"))
				}
				for _, e := range rep.Errors {
					fmt.Fprintf(&b, "  %s %s: %s\n", p.Err("[err]"), e.Path, e.Message)
				}
				for _, e := range rep.Warnings {
					fmt.Fprintf(&b, "  %s %s: %s\n", p.Warn("[warn]"), e.Path, e.Message)
				}
				if rep.Valid {
					fmt.Fprintf(&b, "Result: %s (%d warning(s))\n", p.OK("valid"), len(rep.Warnings))
				} else {
					fmt.Fprintf(&b, "Result: %s (%d error(s))\n", p.Err("invalid"), len(rep.Errors))
				}
				if _, err := io.WriteString(w, b.String()); err != nil {
					return err
				}
			}
			if !rep.Valid {
				return &session.ExitError{Code: 1}
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON: {file, valid, errors[], warnings[]}")
	return cmd
}

// hostEntryCheck validates one allow/deny entry with the gateway's own rules.
func hostEntryCheck(entry string) error {
	if _, err := proxy.NewHostPolicy(proxy.PolicyConfig{Allow: []string{entry}}); err != nil {
		if inner := errors.Unwrap(err); inner != nil {
			return inner // drop the "allow list:" context; the JSON path says which list
		}
		return err
	}
	return nil
}

// --- groups ---

func newProfileGroupsCmd(g *globals) *cobra.Command {
	var asJSON, all bool
	cmd := &cobra.Command{
		Use:   "groups [NAME] [--json] [--all-platforms]",
		Short: "List policy groups, or show one group's paths",
		Args:  withUsage(cobra.MaximumNArgs(1)),
		ValidArgsFunction: func(cmd *cobra.Command, args []string, prefix string) ([]string, cobra.ShellCompDirective) {
			if len(args) > 0 {
				return nil, cobra.ShellCompDirectiveNoFileComp
			}
			return completeGroups(cmd, args, prefix)
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			w := cmd.OutOrStdout()
			p := stdoutPrinter(g, w)
			if len(args) == 0 {
				list := policy.ListGroups(all)
				if asJSON {
					return writeJSON(w, list)
				}
				tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
				fmt.Fprintln(tw, "NAME\tPLATFORM\tALLOW\tDENY\tDESCRIPTION")
				for _, gr := range list {
					name := gr.Name
					if gr.Required {
						name += " (required)"
					}
					fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%s\n", name, gr.Platform, gr.Allow, gr.Deny, gr.Description)
				}
				if err := tw.Flush(); err != nil {
					return err
				}
				_, err := fmt.Fprintf(w, "\n%s\n", p.Dim("Details: nono profile groups NAME"))
				return err
			}
			x, _, err := expander()
			if err != nil {
				return err
			}
			d, err := policy.ShowGroup(args[0], x)
			if err != nil {
				return err
			}
			if asJSON {
				return writeJSON(w, d)
			}
			var b strings.Builder
			req := ""
			if d.Required {
				req = "required, "
			}
			fmt.Fprintf(&b, "%s %s (%s%s)\n%s\n", p.Accent("Group:"), d.Name, req, d.Platform, d.Description)
			paths := func(label string, es []policy.ExpandedPath) {
				if len(es) == 0 {
					return
				}
				fmt.Fprintf(&b, "\n%s\n", p.Accent(label))
				for _, e := range es {
					switch {
					case e.Error != "":
						fmt.Fprintf(&b, "  %s -> (cannot expand: %s)\n", e.Raw, e.Error)
					case e.Raw == e.Expanded:
						fmt.Fprintf(&b, "  %s\n", e.Raw)
					default:
						fmt.Fprintf(&b, "  %s -> %s\n", e.Raw, e.Expanded)
					}
				}
			}
			paths("Read:", d.AllowRead)
			paths("Write:", d.AllowWrite)
			paths("Read+write:", d.AllowReadWrite)
			paths("Denied (never granted):", d.DenyAccess)
			if len(d.DenyCommands) > 0 {
				fmt.Fprintf(&b, "\n%s\n  %s\n", p.Accent("Blocked startup commands (deprecated check):"), strings.Join(d.DenyCommands, " "))
			}
			if d.DenyUnlink {
				b.WriteString("\nDeletion protection (macOS only; on Linux deletion follows write access)\n")
			}
			used := "(no built-in profile)"
			if len(d.UsedBy) > 0 {
				used = strings.Join(d.UsedBy, ", ")
			}
			fmt.Fprintf(&b, "\nUsed by: %s\n", used)
			_, err = io.WriteString(w, b.String())
			return err
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	cmd.Flags().BoolVar(&all, "all-platforms", false, "include groups for other operating systems")
	return cmd
}

// --- schema, guide ---

func newProfileSchemaCmd(g *globals) *cobra.Command {
	var output string
	cmd := &cobra.Command{
		Use:   "schema [-o FILE]",
		Short: "Print the profile JSON Schema (draft 2020-12)",
		Args:  withUsage(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			s := policy.Schema()
			if output == "" {
				_, err := cmd.OutOrStdout().Write(s)
				return err
			}
			if err := os.WriteFile(output, s, 0o644); err != nil {
				return fmt.Errorf("writing the schema: %w", err)
			}
			g.printer.Printf("Wrote the profile schema to %s\n", output)
			return nil
		},
	}
	cmd.Flags().StringVarP(&output, "output", "o", "", "write to FILE instead of standard output")
	return cmd
}

func newProfileGuideCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "guide",
		Short: "Print the profile authoring guide (Markdown)",
		Args:  withUsage(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			_, err := io.WriteString(cmd.OutOrStdout(), policy.Guide())
			return err
		},
	}
}
