package main

import (
	"fmt"
	"os"
	"strconv"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/nono-sandbox/nono/policy"
	"github.com/nono-sandbox/nono/session"
)

// runFlags are the flags shared by run, wrap and shell.
type runFlags struct {
	allow, read, write, allowFile, readFile, writeFile           []string
	unixSocket, unixSocketBind, unixSocketDir, unixSocketDirBind []string
	bypass                                                       []string
	allowCwd                                                     bool
	workdir, profile                                             string
	blockNet, allowNet                                           bool
	dryRun, noDiagnostics, allowGPU                              bool
	allowCommand, blockCommand                                   []string
	shell                                                        string

	networkProfile, upstreamProxy string
	allowDomain, upstreamBypass   []string
	proxyPort                     uint16
	listenPort, openPort          []string

	credential, allowEndpoint, envCredential, envCredentialMap []string
}

// runEnv maps run flags to the seed's environment variables.
var runEnv = map[string]string{
	"allow":     "NONO_ALLOW",
	"block-net": "NONO_BLOCK_NET",
	"allow-net": "NONO_ALLOW_NET",
	"profile":   "NONO_PROFILE",

	"network-profile": "NONO_NETWORK_PROFILE",
	"allow-domain":    "NONO_ALLOW_DOMAIN",
	"upstream-proxy":  "NONO_UPSTREAM_PROXY",
	"upstream-bypass": "NONO_UPSTREAM_BYPASS",
	"credential":      "NONO_CREDENTIAL",
	"env-credential":  "NONO_ENV_CREDENTIAL",
}

func (f *runFlags) register(fs *pflag.FlagSet) {
	listVarP(fs, &f.allow, "allow", "a", "grant read+write access to a directory (recursive; repeatable)")
	listVarP(fs, &f.read, "read", "r", "grant read-only access to a directory (recursive; repeatable)")
	listVarP(fs, &f.write, "write", "w", "grant write-only access to a directory (recursive; repeatable)")
	listVarP(fs, &f.allowFile, "allow-file", "", "grant read+write access to a single file")
	listVarP(fs, &f.readFile, "read-file", "", "grant read-only access to a single file")
	listVarP(fs, &f.writeFile, "write-file", "", "grant write-only access to a single file")
	listVarP(fs, &f.unixSocket, "allow-unix-socket", "", "allow connect(2) to an existing AF_UNIX socket file")
	listVarP(fs, &f.unixSocketBind, "allow-unix-socket-bind", "", "allow connect(2) and bind(2) on an AF_UNIX socket path")
	listVarP(fs, &f.unixSocketDir, "allow-unix-socket-dir", "", "allow connect(2) to sockets directly inside a directory")
	listVarP(fs, &f.unixSocketDirBind, "allow-unix-socket-dir-bind", "", "allow connect(2) and bind(2) on sockets directly inside a directory")
	listVarP(fs, &f.bypass, "bypass-protection", "", "remove a deny-group rule for PATH (must also be granted explicitly)")
	fs.BoolVar(&f.allowCwd, "allow-cwd", false, "share the current directory without prompting (access level from the profile's workdir, default read)")
	fs.StringVar(&f.workdir, "workdir", "", "working directory for $WORKDIR expansion in profiles (default: current directory)")
	fs.StringVarP(&f.profile, "profile", "p", "", "built-in profile name or path to a JSON profile (env NONO_PROFILE)")
	fs.BoolVar(&f.blockNet, "block-net", false, "block all network access (env NONO_BLOCK_NET)")
	fs.BoolVar(&f.allowNet, "allow-net", false, "force unrestricted network for this run (env NONO_ALLOW_NET)")
	fs.BoolVar(&f.dryRun, "dry-run", false, "show what would be granted and enforced, run nothing")
	fs.BoolVar(&f.noDiagnostics, "no-diagnostics", false, "suppress the diagnostic footer on a non-zero exit")
	fs.BoolVar(&f.allowGPU, "allow-gpu", false, "grant GPU compute devices (DRM render nodes, NVIDIA, AMD KFD)")
	listVarP(fs, &f.allowCommand, "allow-command", "", "deprecated: allow a startup command from the default blocklist")
	listVarP(fs, &f.blockCommand, "block-command", "", "deprecated: add a startup command to the blocklist")
	fs.StringVar(&f.networkProfile, "network-profile", "", "filter egress through nono's gateway with a network profile: minimal, developer, claude-code, codex, opencode, enterprise (env NONO_NETWORK_PROFILE)")
	listVarP(fs, &f.allowDomain, "allow-domain", "", "let the gateway reach a host, *.suffix or host group; enables proxy mode (repeatable; env NONO_ALLOW_DOMAIN, comma-separated)")
	fs.StringVar(&f.upstreamProxy, "upstream-proxy", "", "chain the gateway through a corporate proxy host:port or http://user@host:port; alone, it passes every public host to that proxy (env NONO_UPSTREAM_PROXY)")
	listVarP(fs, &f.upstreamBypass, "upstream-bypass", "", "host or *.suffix that goes direct instead of through --upstream-proxy (repeatable; env NONO_UPSTREAM_BYPASS)")
	fs.Uint16Var(&f.proxyPort, "proxy-port", 0, "fixed gateway port on 127.0.0.1 (default: ephemeral)")
	listVarP(fs, &f.listenPort, "listen-port", "", "let the child listen on a TCP port (proxy mode; repeatable)")
	listVarP(fs, &f.openPort, "open-port", "", "allow loopback TCP connect and bind on a port (repeatable)")
	listVarP(fs, &f.credential, "credential", "", "inject a credential through the gateway: openai, anthropic, gemini, google-ai, github, gitlab or a profile custom credential; the child gets only a phantom (repeatable; env NONO_CREDENTIAL)")
	listVarP(fs, &f.allowEndpoint, "allow-endpoint", "", "restrict a credential service to SERVICE:METHOD:PATH (* one segment, ** any); any rule makes the service default-deny (repeatable)")
	listVarP(fs, &f.envCredential, "env-credential", "", "put real secrets in the child's environment: keyring accounts or REF=VAR, comma-separated (env NONO_ENV_CREDENTIAL); prefer --credential")
	listVarP(fs, &f.envCredentialMap, "env-credential-map", "", "put the secret REF into the child's environment as VAR: --env-credential-map REF VAR (repeatable)")
	_ = fs.MarkDeprecated("allow-command", "it only checks the directly invoked program; rely on filesystem and network grants")
	_ = fs.MarkDeprecated("block-command", "it only checks the directly invoked program; rely on filesystem and network grants")
}

func (f *runFlags) options(g *globals, fs *pflag.FlagSet, mode session.Mode, command []string) (session.Options, error) {
	if err := applyEnv(fs, runEnv); err != nil {
		return session.Options{}, err
	}
	if v, ok := os.LookupEnv("NONO_CAPABILITY_ELEVATION"); ok {
		on, err := parseBool(v)
		if err != nil {
			return session.Options{}, fmt.Errorf("NONO_CAPABILITY_ELEVATION=%q: %w", v, err)
		}
		if on {
			return session.Options{}, fmt.Errorf("NONO_CAPABILITY_ELEVATION=%s asks for runtime capability elevation, which this nono does not implement yet; unset it (the sandbox keeps its start-up grants)", v)
		}
	}
	if f.blockNet && f.allowNet {
		return session.Options{}, fmt.Errorf("%s and %s conflict: choose one", source(fs, "block-net"), source(fs, "allow-net"))
	}
	profile := f.profile
	if profile == "" && g.cfg != nil {
		profile = g.cfg.Defaults.Profile
	}
	listen, err := parsePorts("--listen-port", f.listenPort)
	if err != nil {
		return session.Options{}, err
	}
	open, err := parsePorts("--open-port", f.openPort)
	if err != nil {
		return session.Options{}, err
	}
	var maps [][2]string
	for _, v := range f.envCredentialMap {
		ref, dest, ok := strings.Cut(v, envMapSep)
		if !ok {
			return session.Options{}, fmt.Errorf("--env-credential-map takes two values: --env-credential-map REF VAR")
		}
		maps = append(maps, [2]string{ref, dest})
	}
	return session.Options{
		Mode:    mode,
		Command: command,
		Request: policy.Request{
			Profile: profile, Workdir: f.workdir,
			Allow: f.allow, Read: f.read, Write: f.write,
			AllowFile: f.allowFile, ReadFile: f.readFile, WriteFile: f.writeFile,
			UnixSocket: f.unixSocket, UnixSocketBind: f.unixSocketBind,
			UnixSocketDir: f.unixSocketDir, UnixSocketDirBind: f.unixSocketDirBind,
			BypassProtection: f.bypass,
			AllowGPU:         f.allowGPU,
			Env:              os.LookupEnv,
		},
		Network: session.Network{
			Profile: f.networkProfile, AllowDomains: f.allowDomain,
			UpstreamProxy: f.upstreamProxy, UpstreamBypass: f.upstreamBypass,
			ProxyPort: f.proxyPort, ListenPorts: listen, OpenPorts: open,
			DNSServer: os.Getenv("NONO_DNS_SERVER"),
		},
		Credentials: session.Credentials{
			Services: splitList(f.credential), Endpoints: f.allowEndpoint,
			EnvLists: f.envCredential, EnvMappings: maps,
		},
		AllowCwd:      f.allowCwd,
		BlockNet:      f.blockNet,
		AllowNet:      f.allowNet,
		AllowCommands: f.allowCommand,
		BlockCommands: f.blockCommand,
		DryRun:        f.dryRun,
		NoDiagnostics: f.noDiagnostics || g.silent,
		Printer:       g.printer,
		Stdin:         os.Stdin, Stdout: os.Stdout, Stderr: os.Stderr,
	}, nil
}

// newRunFlags defines the flags of run, wrap and shell once. At most one of
// the three commands runs per process, so they share the definitions (and
// the values behind them) instead of building the same 35 flags three
// times at every start.
func newRunFlags() (*runFlags, *pflag.FlagSet) {
	f := &runFlags{}
	fs := pflag.NewFlagSet("run", pflag.ContinueOnError)
	f.register(fs)
	return f, fs
}

func newRunCmd(g *globals, f *runFlags, shared *pflag.FlagSet, name string) *cobra.Command {
	mode := session.Supervised
	short := "Run a command inside the sandbox (nono stays as a supervising parent)"
	if name == "wrap" {
		mode = session.Direct
		short = "Apply the sandbox and exec into the command (no parent process remains)"
	}
	cmd := &cobra.Command{
		Use:   name + " [OPTIONS] -- COMMAND [ARGS...]",
		Short: short,
		Example: fmt.Sprintf(`  nono %[1]s --allow . -- claude
  nono %[1]s --read ./src --allow ./target -- cargo build
  nono %[1]s --allow . --block-net -- make test
  nono %[1]s --allow . --dry-run -- my-agent`, name),
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) == 0 {
				return fmt.Errorf("no command given: use 'nono %s [OPTIONS] -- COMMAND [ARGS...]' (e.g. nono %s --allow . -- claude)", name, name)
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			o, err := f.options(g, cmd.Flags(), mode, args)
			if err != nil {
				return err
			}
			return runPlan(o)
		},
	}
	cmd.Flags().SetInterspersed(false)
	cmd.Flags().AddFlagSet(shared)
	return cmd
}

func newShellCmd(g *globals, f *runFlags, shared *pflag.FlagSet) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "shell [OPTIONS] [--shell PATH]",
		Short: "Start an interactive shell inside the sandbox",
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) > 0 {
				return fmt.Errorf("shell takes no command; to run one in the sandbox, use 'nono run [OPTIONS] -- %s'", strings.Join(args, " "))
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, _ []string) error {
			sh := f.shell
			if sh == "" {
				sh = os.Getenv("SHELL")
			}
			if sh == "" {
				sh = "/bin/sh"
			}
			o, err := f.options(g, cmd.Flags(), session.Supervised, []string{sh})
			if err != nil {
				return err
			}
			if !o.DryRun {
				g.printer.Printf("Exit the shell with Ctrl-D or 'exit'.\n")
			}
			return runPlan(o)
		},
	}
	cmd.Flags().AddFlagSet(shared)
	cmd.Flags().StringVar(&f.shell, "shell", "", "shell binary (default $SHELL, else /bin/sh)")
	return cmd
}

func runPlan(o session.Options) error {
	p, err := session.Prepare(o)
	if err != nil {
		return err
	}
	return p.Run()
}

// parsePorts validates TCP port numbers given to flag.
func parsePorts(flag string, vals []string) ([]uint16, error) {
	var out []uint16
	for _, v := range vals {
		n, err := strconv.ParseUint(strings.TrimSpace(v), 10, 16)
		if err != nil || n == 0 {
			return nil, fmt.Errorf("%s %q: not a TCP port (1-65535)", flag, v)
		}
		out = append(out, uint16(n))
	}
	return out, nil
}

// splitList splits comma-separated entries of repeatable flags.
func splitList(vals []string) []string {
	var out []string
	for _, v := range vals {
		for _, p := range strings.Split(v, ",") {
			if p = strings.TrimSpace(p); p != "" {
				out = append(out, p)
			}
		}
	}
	return out
}

// envMapSep joins the two values of --env-credential-map into one flag value.
const envMapSep = "\x00"

// joinTwoValueFlags rewrites "--env-credential-map REF VAR" (pflag has no
// two-value flags) into one value, before the command's "--".
func joinTwoValueFlags(args []string) ([]string, error) {
	out := make([]string, 0, len(args))
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			return append(out, args[i:]...), nil
		}
		if a == "--env-credential-map" {
			if i+2 >= len(args) || args[i+1] == "--" || args[i+2] == "--" {
				return nil, fmt.Errorf("--env-credential-map takes two values: --env-credential-map REF VAR")
			}
			out = append(out, "--env-credential-map="+args[i+1]+envMapSep+args[i+2])
			i += 2
			continue
		}
		out = append(out, a)
	}
	return out, nil
}
