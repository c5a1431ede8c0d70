package main

import (
	"fmt"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/nono-sandbox/nono/config"
	"github.com/nono-sandbox/nono/ui"
)

// globals are the flags every command accepts.
type globals struct {
	silent     bool
	theme      string
	verbose    int
	configPath string

	cfg     *config.Config
	printer *ui.Printer
}

// newRoot builds the whole command tree.
func newRoot() *cobra.Command { return newRootFor(nil) }

// newRootFor builds the command tree for args. When args name run, wrap or
// shell, the hot path of every sandboxed start, only that command is
// built: defining why, profile, setup and completion with all their flags
// was a few per cent of a wrap. Anything else gets the whole tree.
func newRootFor(args []string) *cobra.Command {
	g := &globals{}
	root := &cobra.Command{
		Use:               "nono",
		Short:             "Kernel-enforced sandbox for AI coding agents, with a credential gateway",
		Long:              rootLong,
		Version:           fmt.Sprintf("%s (commit %s)", version, commit),
		SilenceUsage:      true,
		SilenceErrors:     true,
		CompletionOptions: cobra.CompletionOptions{DisableDefaultCmd: true},
		PersistentPreRunE: func(cmd *cobra.Command, _ []string) error { return g.init(cmd) },
	}
	root.SetVersionTemplate("nono {{.Version}}\n")
	pf := root.PersistentFlags()
	pf.BoolVarP(&g.silent, "silent", "s", false, "suppress all nono output (banner, summary, status, footer)")
	pf.StringVar(&g.theme, "theme", "", "colour theme: mocha, latte, frappe, macchiato, tokyo-night, minimal (env NONO_THEME)")
	pf.CountVarP(&g.verbose, "verbose", "v", "increase verbosity (-v info, -vv debug, -vvv trace)")
	pf.StringVarP(&g.configPath, "config", "c", "", "configuration file (default $XDG_CONFIG_HOME/nono/config.toml)")
	root.SetFlagErrorFunc(func(cmd *cobra.Command, err error) error {
		return fmt.Errorf("%w\nRun '%s --help' for usage.", err, cmd.CommandPath())
	})
	rf, shared := newRunFlags()
	switch name := commandName(args); name {
	case "run", "wrap":
		root.AddCommand(newRunCmd(g, rf, shared, name))
	case "shell":
		root.AddCommand(newShellCmd(g, rf, shared))
	default:
		root.AddCommand(newRunCmd(g, rf, shared, "run"), newRunCmd(g, rf, shared, "wrap"), newShellCmd(g, rf, shared), newSetupCmd(g),
			newWhyCmd(g), newProfileCmd(g), newCompletionCmd())
	}
	return root
}

// commandName is the first argument that is not a global flag or a global
// flag's value, or "" if there is none or a flag is not a known global one.
func commandName(args []string) string {
	for i := 0; i < len(args); i++ {
		a := args[i]
		switch {
		case a == "-s" || a == "--silent" || a == "--verbose" || (len(a) > 1 && strings.Trim(a, "v") == "-"):
		case a == "--theme" || a == "--config" || a == "-c":
			i++ // the value
		case strings.HasPrefix(a, "--theme=") || strings.HasPrefix(a, "--config=") || strings.HasPrefix(a, "-s=") || strings.HasPrefix(a, "--silent="):
		case strings.HasPrefix(a, "-"):
			return "" // anything else: let cobra see the whole tree
		default:
			return a
		}
	}
	return ""
}

// init applies the environment and the config file to the global flags.
func (g *globals) init(cmd *cobra.Command) error {
	if err := applyEnv(cmd.Flags(), globalEnv); err != nil {
		return err
	}
	explicit := g.configPath != ""
	path := g.configPath
	if !explicit {
		path = config.DefaultPath(os.LookupEnv)
	}
	cfg, err := config.Load(path, explicit)
	if err != nil {
		return err
	}
	g.cfg = cfg
	theme := g.theme
	if theme == "" {
		theme = cfg.UI.Theme
	}
	resolved, known := ui.ResolveTheme(theme)
	g.printer = ui.NewPrinter(os.Stderr, resolved, g.silent, g.verbose)
	if !known {
		g.printer.Warnf("unknown theme %q; using mocha (themes: mocha, latte, frappe, macchiato, tokyo-night, minimal)", theme)
	}
	return nil
}

// globalEnv maps global flags to their environment variables.
var globalEnv = map[string]string{"theme": "NONO_THEME"}

// withUsage makes an argument check's error end with the command's usage
// line, so "accepts 1 arg(s), received 0" says what the argument is.
func withUsage(check cobra.PositionalArgs) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if err := check(cmd, args); err != nil {
			return fmt.Errorf("%w (usage: %s)", err, strings.TrimSuffix(cmd.UseLine(), " [flags]"))
		}
		return nil
	}
}
