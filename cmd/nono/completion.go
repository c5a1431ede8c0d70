package main

import (
	"fmt"

	"github.com/spf13/cobra"
)

func newCompletionCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "completion bash|zsh|fish",
		Short: "Print a shell completion script",
		Long: `Print the completion script for your shell. Completions cover commands,
flags, profile names, network profiles and policy groups.

  bash:  source <(nono completion bash)
         # or: nono completion bash > /etc/bash_completion.d/nono
  zsh:   nono completion zsh > "${fpath[1]}/_nono"
         # needs 'autoload -U compinit; compinit' in ~/.zshrc
  fish:  nono completion fish > ~/.config/fish/completions/nono.fish`,
		Args:      withUsage(cobra.MatchAll(cobra.ExactArgs(1), cobra.OnlyValidArgs)),
		ValidArgs: []string{"bash", "zsh", "fish"},
		RunE: func(cmd *cobra.Command, args []string) error {
			root, w := cmd.Root(), cmd.OutOrStdout()
			switch args[0] {
			case "bash":
				return root.GenBashCompletionV2(w, true)
			case "zsh":
				return root.GenZshCompletion(w)
			case "fish":
				return root.GenFishCompletion(w, true)
			}
			return fmt.Errorf("unsupported shell %q: use bash, zsh or fish", args[0])
		},
	}
}
