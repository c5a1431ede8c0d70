package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"strconv"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/nono-sandbox/nono/config"
	"github.com/nono-sandbox/nono/credentials"
	"github.com/nono-sandbox/nono/policy"
	"github.com/nono-sandbox/nono/proxy"
	"github.com/nono-sandbox/nono/sandbox"
	"github.com/nono-sandbox/nono/session"
)

// whyFlags are the flags of `nono why`: the question, and the same
// capability context `nono run` takes.
type whyFlags struct {
	path, op, host string
	port           uint16
	self, json     bool

	allow, read, write, allowFile, readFile, writeFile, bypass []string
	blockNet, allowNet, allowCwd                               bool
	profile, workdir, networkProfile, upstreamProxy            string
	allowDomain                                                []string
}

// whyEnv maps why's context flags to the seed's environment variables, the
// same ones `nono run` honours.
var whyEnv = map[string]string{
	"allow":           "NONO_ALLOW",
	"block-net":       "NONO_BLOCK_NET",
	"allow-net":       "NONO_ALLOW_NET",
	"profile":         "NONO_PROFILE",
	"network-profile": "NONO_NETWORK_PROFILE",
	"allow-domain":    "NONO_ALLOW_DOMAIN",
	"upstream-proxy":  "NONO_UPSTREAM_PROXY",
}

// whyContextFlags are the flags that describe a hypothetical sandbox; they
// make no sense with --self.
var whyContextFlags = []string{"allow", "read", "write", "allow-file", "read-file", "write-file", "bypass-protection",
	"block-net", "allow-net", "allow-cwd", "profile", "workdir", "network-profile", "allow-domain", "upstream-proxy"}

func newWhyCmd(g *globals) *cobra.Command {
	f := &whyFlags{}
	cmd := &cobra.Command{
		Use:   "why (--path PATH [--op read|write|readwrite] | PATH | --host HOST [--port N]) [CONTEXT]",
		Short: "Explain why a path or host would be allowed or denied",
		Long: `Explain whether a sandboxed command could read or write a path, or reach a
host, and which rule decides it. The answer comes from the same policy
resolution 'nono run' uses, given the same context flags (--profile, --allow,
--read, --block-net, --network-profile, --allow-domain, ...), and their
NONO_* environment variables. The working directory is shared only with
--allow-cwd, as in a non-interactive run. A lone PATH argument is short for
--path PATH.

Inside a sandbox, --self answers from the sandbox's own capability file
(NONO_CAP_FILE); a file that was modified or moved is rejected with a
SECURITY error.

The exit code is 0 whether the answer is "allowed" or "denied"; use --json
for the machine-readable answer.`,
		Example: `  nono why --path ~/.ssh/id_ed25519
  nono why ~/.ssh/id_rsa                             # same as --path
  nono why --path ./build --op write --allow .
  nono why --profile claude-code --allow-cwd --path . --op readwrite
  nono why --host api.openai.com --network-profile developer
  nono why --json --host https://example.com/api --allow-domain example.com
  nono why --self --path /tmp --op write --json      # inside a sandbox`,
		Args: func(_ *cobra.Command, args []string) error {
			if len(args) > 1 {
				return fmt.Errorf("why checks one path at a time, got %d arguments (%s): run it once per path", len(args), strings.Join(args, " "))
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 1 {
				if cmd.Flags().Changed("path") || cmd.Flags().Changed("host") {
					return fmt.Errorf("%q and --%s both name what to check: give one", args[0], map[bool]string{true: "path", false: "host"}[cmd.Flags().Changed("path")])
				}
				f.path = args[0]
			}
			return runWhy(cmd, g, f)
		},
	}
	fs := cmd.Flags()
	fs.StringVar(&f.path, "path", "", "filesystem path to check")
	fs.StringVar(&f.op, "op", "read", "operation on --path: read, write or readwrite")
	fs.StringVar(&f.host, "host", "", "network host (or URL) to check")
	fs.Uint16Var(&f.port, "port", 443, "network port, with --host")
	fs.BoolVar(&f.self, "self", false, "answer from the current sandbox's capability file (inside 'nono run')")
	fs.BoolVar(&f.json, "json", false, "print the answer as one JSON object")
	listVarP(fs, &f.allow, "allow", "a", "context: directory with read+write access (env NONO_ALLOW)")
	listVarP(fs, &f.read, "read", "r", "context: directory with read-only access")
	listVarP(fs, &f.write, "write", "w", "context: directory with write-only access")
	listVarP(fs, &f.allowFile, "allow-file", "", "context: single file with read+write access")
	listVarP(fs, &f.readFile, "read-file", "", "context: single file with read-only access")
	listVarP(fs, &f.writeFile, "write-file", "", "context: single file with write-only access")
	listVarP(fs, &f.bypass, "bypass-protection", "", "context: deny-group rule lifted for PATH")
	fs.BoolVar(&f.allowCwd, "allow-cwd", false, "context: share the working directory (access from the profile's workdir, default read)")
	fs.StringVarP(&f.profile, "profile", "p", "", "context: profile name or file (env NONO_PROFILE, config [defaults] profile)")
	fs.StringVar(&f.workdir, "workdir", "", "context: working directory for $WORKDIR (default: current directory)")
	fs.BoolVar(&f.blockNet, "block-net", false, "context: network blocked (env NONO_BLOCK_NET)")
	fs.BoolVar(&f.allowNet, "allow-net", false, "context: unrestricted network (env NONO_ALLOW_NET)")
	fs.StringVar(&f.networkProfile, "network-profile", "", "context: network profile for the gateway (env NONO_NETWORK_PROFILE)")
	listVarP(fs, &f.allowDomain, "allow-domain", "", "context: host or host group the gateway allows (env NONO_ALLOW_DOMAIN)")
	fs.StringVar(&f.upstreamProxy, "upstream-proxy", "", "context: the gateway chains to this proxy; alone, it passes every public host (env NONO_UPSTREAM_PROXY)")
	_ = cmd.RegisterFlagCompletionFunc("op", cobra.FixedCompletions([]string{"read", "write", "readwrite"}, cobra.ShellCompDirectiveNoFileComp))
	_ = cmd.RegisterFlagCompletionFunc("profile", completeProfiles)
	_ = cmd.RegisterFlagCompletionFunc("network-profile", completeNetworkProfiles)
	return cmd
}

func runWhy(cmd *cobra.Command, g *globals, f *whyFlags) error {
	fs := cmd.Flags()
	if (f.path == "") == (f.host == "") {
		return errors.New("give exactly one of --path or --host")
	}
	if f.host != "" && fs.Changed("op") {
		return errors.New("--op applies to --path; with --host use --port")
	}
	if f.path != "" && fs.Changed("port") {
		return errors.New("--port applies to --host")
	}
	if _, err := policy.ParseOp(f.op); err != nil {
		return err
	}

	var r *policy.Resolved
	var net policy.NetRequest
	if f.self {
		for _, name := range whyContextFlags {
			if fs.Changed(name) {
				return fmt.Errorf("--%s describes a hypothetical sandbox; --self answers from the current one: drop one of them", name)
			}
		}
		capPath := os.Getenv(policy.CapFileEnv)
		if capPath == "" {
			return printWhy(cmd, g, f, policy.NotSandboxed(), "")
		}
		loaded, err := policy.LoadCapFile(capPath)
		if err != nil {
			// The SECURITY line is the whole message, printed even with --silent.
			fmt.Fprintln(cmd.ErrOrStderr(), err)
			return &session.ExitError{Code: 1}
		}
		r = loaded
	} else {
		resolved, req, err := f.resolve(fs, g)
		if err != nil {
			return err
		}
		r, net = resolved, req
	}

	var res policy.WhyResult
	var hint string // for people: the rule behind a deny, and how to lift it
	if f.path != "" {
		res = policy.WhyPath(r, f.path, f.op)
		if res.Reason == policy.ReasonFilesystemDeny {
			if pr, ok := policy.ProtectionFor(r, f.path, f.op); ok {
				hint = pr.Text()
			}
		}
	} else {
		host, port := hostArg(f.host, f.port, fs.Changed("port"))
		plan, err := r.NetworkPlan(net)
		if err != nil {
			return err
		}
		check, err := hostChecker(plan)
		if err != nil {
			return err
		}
		res = policy.WhyHost(plan, check, host, port)
	}
	return printWhy(cmd, g, f, res, hint)
}

// resolve builds the policy a `nono run` with the same context would use.
func (f *whyFlags) resolve(fs *pflag.FlagSet, g *globals) (*policy.Resolved, policy.NetRequest, error) {
	if err := applyEnv(fs, whyEnv); err != nil {
		return nil, policy.NetRequest{}, err
	}
	if f.blockNet && f.allowNet {
		return nil, policy.NetRequest{}, fmt.Errorf("%s and %s conflict: choose one", source(fs, "block-net"), source(fs, "allow-net"))
	}
	cfgProfile := ""
	if g.cfg != nil {
		cfgProfile = g.cfg.Defaults.Profile
	}
	profile, _ := config.Pick(
		config.Layer{Source: config.FromFlag, Value: f.profile, Set: true}, // flag or NONO_PROFILE (applyEnv)
		config.Layer{Source: config.FromConfig, Value: cfgProfile, Set: true},
	)
	r, err := policy.Resolve(policy.Request{
		Profile: profile, Workdir: f.workdir,
		Allow: f.allow, Read: f.read, Write: f.write,
		AllowFile: f.allowFile, ReadFile: f.readFile, WriteFile: f.writeFile,
		BypassProtection: f.bypass,
		Env:              os.LookupEnv,
	})
	if err != nil {
		return nil, policy.NetRequest{}, err
	}
	if f.allowCwd && r.WorkdirAccess != 0 && !coveredBy(r, r.Workdir, r.WorkdirAccess) {
		if err := r.AddGrant(r.Workdir, r.WorkdirAccess, false, policy.SourceUser, "--allow-cwd"); err != nil {
			return nil, policy.NetRequest{}, err
		}
		if err := r.Validate(); err != nil {
			return nil, policy.NetRequest{}, err
		}
	}
	for _, w := range r.Warnings {
		g.printer.Warnf("%s", w)
	}
	if f.upstreamProxy != "" {
		if f.allowNet {
			return nil, policy.NetRequest{}, errors.New("--allow-net conflicts with --upstream-proxy: choose one")
		}
		if f.blockNet || r.NetworkBlock {
			return nil, policy.NetRequest{}, errors.New("--block-net conflicts with proxy flags (--network-profile, --allow-domain, --upstream-proxy): choose one")
		}
		if _, err := proxy.ParseUpstream(f.upstreamProxy); err != nil {
			return nil, policy.NetRequest{}, fmt.Errorf("--upstream-proxy: %w", err)
		}
	}
	return r, policy.NetRequest{BlockNet: f.blockNet, AllowNet: f.allowNet, NetworkProfile: f.networkProfile, AllowDomains: f.allowDomain,
		UpstreamProxy: f.upstreamProxy != "", PresetHost: presetHost}, nil
}

// presetHost is the upstream host of a built-in credential service.
func presetHost(service string) (string, bool) {
	p, ok := credentials.LookupPreset(service)
	if !ok {
		return "", false
	}
	u, err := url.Parse(p.Upstream)
	if err != nil || u.Hostname() == "" {
		return "", false
	}
	return u.Hostname(), true
}

// coveredBy reports whether r already grants access on dir (as `nono run`
// checks before adding the --allow-cwd grant).
func coveredBy(r *policy.Resolved, dir string, access sandbox.Access) bool {
	var have sandbox.Access
	for _, g := range r.Grants {
		if g.Path == dir || (!g.File && (g.Path == "/" || strings.HasPrefix(dir, g.Path+"/"))) {
			have |= g.Access
		}
	}
	return have&access == access
}

// hostArg takes the host out of a URL or host:port; the URL's port (or its
// scheme's default) applies unless --port was given.
func hostArg(h string, port uint16, portSet bool) (string, uint16) {
	if strings.Contains(h, "://") {
		u, err := url.Parse(h)
		if err != nil || u.Host == "" {
			return h, port // the gateway's normaliser reports it as invalid_host
		}
		host := u.Hostname()
		if strings.Contains(host, ":") {
			host = "[" + host + "]"
		}
		if !portSet {
			if p, err := strconv.ParseUint(u.Port(), 10, 16); err == nil {
				port = uint16(p)
			} else if u.Port() == "" && u.Scheme == "http" {
				port = 80
			}
		}
		return host, port
	}
	if host, p, err := net.SplitHostPort(h); err == nil {
		if n, err := strconv.ParseUint(p, 10, 16); err == nil {
			if !portSet {
				port = uint16(n)
			}
			if strings.Contains(host, ":") {
				host = "[" + host + "]"
			}
			return host, port
		}
	}
	return h, port
}

// hostChecker adapts the gateway's pure host policy to policy.WhyHost.
func hostChecker(plan policy.NetworkPlan) (policy.HostChecker, error) {
	hp, err := proxy.NewHostPolicy(proxy.PolicyConfig{Allow: plan.Allow, Deny: plan.Deny, Implicit: plan.Implicit, AllowPublic: plan.AllowPublic})
	if err != nil {
		return nil, fmt.Errorf("network allowlist: %w", err)
	}
	return func(host string, port uint16) policy.HostVerdict {
		d := hp.Check(host, port)
		return policy.HostVerdict{Allow: d.Allow, Reason: d.Reason, Host: d.Host, Rule: d.Rule, Detail: d.Detail}
	}, nil
}

// printWhy writes res as JSON, or as text followed by hint.
func printWhy(cmd *cobra.Command, g *globals, f *whyFlags, res policy.WhyResult, hint string) error {
	w := cmd.OutOrStdout()
	if f.json {
		b, err := json.Marshal(res)
		if err != nil {
			return fmt.Errorf("encoding the answer: %w", err)
		}
		_, err = fmt.Fprintf(w, "%s\n", b)
		return err
	}
	text := res.Text()
	head, rest, _ := strings.Cut(text, "\n")
	p := stdoutPrinter(g, w)
	switch res.Status {
	case policy.StatusAllowed:
		head = p.OK(head)
	case policy.StatusDenied:
		head = p.Err(head)
	default:
		head = p.Accent(head)
	}
	_, err := io.WriteString(w, head+"\n"+rest+hint)
	return err
}
