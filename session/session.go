package session

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"

	"github.com/nono-sandbox/nono/certs"
	"github.com/nono-sandbox/nono/policy"
	"github.com/nono-sandbox/nono/sandbox"
	"github.com/nono-sandbox/nono/ui"
)

// Mode is how the child is started.
type Mode int

const (
	// Supervised keeps nono as an unsandboxed parent (run, shell).
	Supervised Mode = iota
	// Direct confines nono and execs the target (wrap).
	Direct
)

// Options is everything the CLI collected for one run.
type Options struct {
	Mode    Mode
	Command []string // argv; Command[0] is looked up on PATH

	Request     policy.Request
	Network     Network
	Credentials Credentials
	AllowCwd    bool
	BlockNet    bool
	AllowNet    bool

	AllowCommands []string
	BlockCommands []string

	DryRun        bool
	NoDiagnostics bool

	Printer *ui.Printer
	Stdin   *os.File
	Stdout  *os.File
	Stderr  *os.File
}

// ExitError carries the exit code nono must exit with after a run whose
// outcome was already reported (the child's own code, or 128+signal).
type ExitError struct{ Code int }

func (e *ExitError) Error() string { return fmt.Sprintf("exit status %d", e.Code) }

// Plan is a fully prepared run.
type Plan struct {
	opts     Options
	resolved *policy.Resolved
	spec     sandbox.Spec
	program  string
	// noProgram is why the command could not be found, in a dry run
	// only: a preview still shows the capabilities and says a real run
	// would stop there.
	noProgram *sandbox.ExecError
	argv      []string
	env       []string
	dir       string
	cwd       string
	capFile   string
	gateway   *gatewayPlan
	creds     *credPlan
	extraEnv  map[string]string
	dropEnv   []string

	mu       sync.Mutex
	denials  []sandbox.Denial // refused by the notify supervisor
	gwEvents *memorySink

	stderrScanned bool // the child's stderr went through the footer's tee
}

// Prepare resolves policy, the working-directory grant and the program.
func Prepare(o Options) (*Plan, error) {
	if len(o.Command) == 0 {
		return nil, errors.New("no command given: use 'nono run [OPTIONS] -- COMMAND [ARGS...]'")
	}
	if o.BlockNet && o.AllowNet {
		return nil, errors.New("--block-net and --allow-net conflict: choose one")
	}
	cwd, err := os.Getwd()
	if err != nil {
		return nil, fmt.Errorf("cannot determine the current directory: %w", err)
	}
	if o.Request.Env == nil {
		o.Request.Env = os.LookupEnv
	}
	r, err := policy.Resolve(o.Request)
	if err != nil {
		return nil, err
	}
	p := &Plan{opts: o, resolved: r, cwd: cwd}
	for _, w := range r.Warnings {
		o.Printer.Warnf("%s", w)
	}
	if err := p.planCredentials(); err != nil {
		return nil, err
	}
	if err := p.planNetwork(); err != nil {
		return nil, err
	}
	if err := p.shareWorkdir(); err != nil {
		return nil, err
	}
	if err := p.resolveProgram(); err != nil {
		return nil, err
	}
	p.buildSpec()
	if err := p.checkKernel(); err != nil {
		return nil, err
	}
	return p, nil
}

// workdir is the directory the child starts in: --workdir, else the cwd,
// as policy.Resolve canonicalised it (it fails when it cannot).
func (p *Plan) workdir() string { return p.resolved.Workdir }

// shareWorkdir applies the seed's --allow-cwd rules.
func (p *Plan) shareWorkdir() error {
	need := p.resolved.WorkdirAccess
	if need == 0 {
		return nil
	}
	dir := p.workdir()
	if covered(p.resolved.Grants, dir, need) {
		return nil
	}
	word := map[sandbox.Access]string{sandbox.AccessRead: "read", sandbox.AccessWrite: "write", sandbox.AccessReadWrite: "read+write"}[need]
	switch {
	case p.opts.AllowCwd:
	case p.opts.Printer.Silent:
		return errors.New("CWD access requires --allow-cwd in non-interactive mode (--silent cannot prompt)")
	case p.opts.DryRun || !ui.IsTerminal(p.opts.Stdin) || !ui.IsTerminal(p.opts.Stderr):
		p.opts.Printer.Printf("Skipping CWD prompt (non-interactive). Use --allow-cwd to include working directory.\n")
		return nil
	default:
		q := fmt.Sprintf("  Share %s with %s access?\n  use --allow-cwd to skip this prompt\n ", dir, word)
		if !ui.Confirm(p.opts.Stdin, p.opts.Stderr, q) {
			return nil
		}
	}
	if err := p.resolved.AddGrant(dir, need, false, "user", "--allow-cwd"); err != nil {
		return err
	}
	// policy.Resolve validated everything else; only the new grant can
	// introduce a deny overlap or a read-only-inside-writable conflict.
	return p.resolved.Validate()
}

// covered reports whether a grant with at least access covers path.
func covered(gs []sandbox.Grant, path string, access sandbox.Access) bool {
	var have sandbox.Access
	for _, g := range gs {
		if g.Path == path || (!g.File && within(path, g.Path)) {
			have |= g.Access
		}
	}
	return have&access == access
}

func within(path, dir string) bool {
	if dir == "/" {
		return true
	}
	return path == dir || strings.HasPrefix(path, dir+"/")
}

func (p *Plan) resolveProgram() error {
	name := p.opts.Command[0]
	path, err := exec.LookPath(name)
	if err != nil {
		// "cannot execute ./x: no such file or directory", not the
		// exec.Error and PathError wrapping around it.
		var ee *exec.Error
		if errors.As(err, &ee) && !errors.Is(err, exec.ErrNotFound) {
			err = ee.Err
		}
		var pe *fs.PathError
		if errors.As(err, &pe) {
			err = pe.Err
		}
		execErr := &sandbox.ExecError{Path: name, Err: err}
		if errors.Is(err, exec.ErrNotFound) {
			execErr.Err = errors.New("command not found on PATH")
		}
		if p.opts.DryRun {
			// The seed's own example previews `my-agent`: the policy is
			// the point of a dry run, whether or not the command exists.
			p.noProgram = execErr
			p.argv = append([]string{name}, p.opts.Command[1:]...)
			return nil
		}
		return execErr
	}
	if abs, err := filepath.Abs(path); err == nil {
		path = abs
	}
	if err := p.resolved.CheckCommand(path, p.opts.AllowCommands, p.opts.BlockCommands); err != nil {
		return err
	}
	p.program = path
	p.argv = append([]string{name}, p.opts.Command[1:]...)
	return nil
}

func (p *Plan) buildSpec() {
	r := p.resolved
	s := &p.spec // the network fields were set by planNetwork
	s.Grants = r.Grants
	s.UnixSockets = r.UnixSockets
	s.IPCFull = r.IPCMode == "full"
	s.AllowSignalsOutside = r.SignalMode == "allow_all"
	p.dir = p.workdir()
	if !covered(s.Grants, p.dir, sandbox.AccessRead) {
		// The child may not read its working directory, so it starts in
		// /, as the original does; say so, or `nono run --allow ./out --
		// make` in a project would look like make lost its Makefile.
		if p.dir != "/" {
			p.opts.Printer.Printf("Starting the command in / because %s is not shared with the sandbox (--allow-cwd shares it).\n", p.dir)
		}
		p.dir = "/"
	}
}

// env builds the child's environment: the host's, filtered, plus the
// variables that tell the agent it is sandboxed.
func (p *Plan) buildEnv() {
	env := policy.ChildEnv(os.Environ(), p.resolved.Profile)
	for _, k := range p.dropEnv {
		env = unsetEnv(env, k)
	}
	env = setEnv(env, "NONO_SANDBOX", "1")
	if p.capFile != "" {
		env = setEnv(env, "NONO_CAP_FILE", p.capFile)
	}
	if p.dir != p.cwd {
		env = setEnv(env, "PWD", p.dir)
	}
	keys := make([]string, 0, len(p.extraEnv))
	for k := range p.extraEnv {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		env = setEnv(env, k, p.extraEnv[k])
	}
	p.env = env
}

func setEnv(env []string, k, v string) []string {
	return append(unsetEnv(env, k), k+"="+v)
}

func unsetEnv(env []string, k string) []string {
	out := env[:0:0]
	for _, kv := range env {
		if !strings.HasPrefix(kv, k+"=") {
			out = append(out, kv)
		}
	}
	return out
}

// prepareEnvCredentials loads secrets the user chose to put directly in
// the child's environment, and hides env:// source variables.
func (p *Plan) prepareCredentials() error {
	if p.creds == nil {
		return nil
	}
	if err := p.loadSecrets(); err != nil {
		return err
	}
	p.dropEnv = append(p.dropEnv, p.creds.envSourceVars()...)
	for name, sec := range p.creds.envSecrets {
		p.opts.Printer.Warnf("%s holds a real secret in the child's environment (--env-credential): the agent can read and leak it; prefer --credential, which gives it only a phantom", name)
		p.extraEnv[name] = string(sec.Bytes())
	}
	return nil
}

// Run executes the plan and returns an *ExitError for non-zero exits.
func (p *Plan) Run() error {
	if p.opts.DryRun {
		p.printDryRun(p.opts.Stdout)
		return nil
	}
	if p.opts.Mode == Direct {
		return p.exec()
	}
	return p.supervise()
}

func (p *Plan) exec() error {
	p.extraEnv = map[string]string{}
	if err := p.prepareCredentials(); err != nil {
		return err
	}
	p.buildEnv()
	if err := os.Chdir(p.dir); err != nil {
		return &sandbox.SetupError{Err: fmt.Errorf("chdir %s: %w", p.dir, err)}
	}
	return p.explainExec(sandbox.Exec(&p.spec, p.program, p.argv, p.env))
}

// explainExec adds the fix to an exec refused because the program itself
// is not granted (a pyenv shim or a tool under an ungranted directory): the
// kernel only says "permission denied".
func (p *Plan) explainExec(err error) error {
	var ee *sandbox.ExecError
	if !errors.As(err, &ee) || !errors.Is(ee.Err, syscall.EACCES) || covered(p.spec.Grants, p.program, sandbox.AccessRead) {
		return err
	}
	ee.Err = fmt.Errorf("%w: the sandbox does not grant read access to it; add --read %s (nono why --path %s explains)",
		ee.Err, filepath.Dir(p.program), p.program)
	return err
}

func (p *Plan) supervise() error {
	p.extraEnv = map[string]string{}
	if err := p.prepareCredentials(); err != nil {
		return err
	}
	if p.creds != nil {
		defer p.creds.wipe()
	}
	// Registering the forwarded signals is slow; let it run while the
	// gateway starts and the capability file is written.
	sigs := sandbox.CatchSignals()
	started := false
	defer func() {
		if !started {
			sigs.Stop()
		}
	}()
	capNet := policy.CapNet{Blocked: p.spec.Net == sandbox.NetBlock}
	if p.gateway != nil {
		gw, err := p.startGateway()
		if err != nil {
			return err
		}
		defer gw.stop()
		p.gwEvents = gw.audit
		for k, v := range gw.proxyEnv() {
			p.extraEnv[k] = v
		}
		if p.creds != nil {
			for k, v := range p.creds.credentialEnv("http://"+gw.srv.Addr().String(), gw.token) {
				p.extraEnv[k] = v
			}
		}
		if gw.bundle != "" {
			for _, kv := range certs.EnvVars(gw.bundle) {
				k, v, _ := strings.Cut(kv, "=")
				p.extraEnv[k] = v
			}
			p.spec.Grants = append(p.spec.Grants, sandbox.Grant{Path: gw.bundle, Access: sandbox.AccessRead, File: true, Source: "system", Handle: gw.bundleF})
		}
		capNet.AllowedDomains = p.gateway.allow
		capNet.Proxy, capNet.AllowPublic, capNet.CredentialHosts = true, p.gateway.allowPublic, p.gateway.implicit
		if p.gateway.allowPublic {
			p.opts.Printer.Infof("gateway listening on %s (every public host, chained to %s)\n", gw.srv.Addr(), p.gateway.upstream.Addr())
		} else {
			p.opts.Printer.Infof("gateway listening on %s (%d allowed host entries)\n", gw.srv.Addr(), len(p.gateway.allow))
		}
	}
	capF, err := policy.WriteCapFile(capDir(), p.resolved, capNet)
	if err != nil {
		return fmt.Errorf("writing the capability file for 'nono why --self': %w", err)
	}
	p.capFile = capF.Name()
	defer os.Remove(p.capFile)
	defer capF.Close()
	// The grant is tied to the file just written, not to its name in
	// $TMPDIR, which another sandbox may be able to replace meanwhile.
	p.spec.Grants = append(p.spec.Grants, sandbox.Grant{Path: p.capFile, Access: sandbox.AccessRead, File: true, Source: "system", Handle: capF})
	p.buildEnv()

	cmd := &exec.Cmd{Path: p.program, Args: p.argv, Env: p.env, Dir: p.dir}
	cmd.Stdin, cmd.Stdout = p.opts.Stdin, p.opts.Stdout
	tail := newTail(64 << 10)
	var copyDone chan struct{}
	var stderrR *os.File // the tee's end of the child's stderr pipe
	stderr := p.opts.Stderr
	if !ui.IsTerminal(stderr) && !p.opts.NoDiagnostics && !p.opts.Printer.Silent {
		// Tee the child's stderr so the footer can explain denials it printed.
		r, w, err := os.Pipe()
		if err != nil {
			return fmt.Errorf("creating the stderr pipe: %w", err)
		}
		defer r.Close()
		stderrR = r
		cmd.Stderr = w
		p.stderrScanned = true
		copyDone = make(chan struct{})
		go func() {
			io.Copy(io.MultiWriter(stderr, tail), r)
			close(copyDone)
		}()
		defer w.Close()
	} else {
		cmd.Stderr = stderr
	}
	ttyFD := -1
	cmd.SysProcAttr = newProcAttr(p.opts.Stdin, &ttyFD)

	started = true // Start owns the catch from here
	child, err := sandbox.Start(&p.spec, cmd, sigs)
	err = p.explainExec(err)
	if w, ok := cmd.Stderr.(*os.File); ok && w != stderr {
		w.Close() // the child holds its own copy now
	}
	var intr *sandbox.InterruptedError
	if errors.As(err, &intr) {
		p.opts.Printer.Infof("%v\n", err)
		return &ExitError{Code: 128 + int(intr.Signal)}
	}
	if err != nil {
		return err
	}
	served := make(chan struct{})
	go func() {
		child.Serve(func(d sandbox.Denial) {
			p.mu.Lock()
			if len(p.denials) < 1000 && !containsDenial(p.denials, d) {
				p.denials = append(p.denials, d)
			}
			p.mu.Unlock()
		})
		close(served)
	}()
	ex, err := child.Supervise(ttyFD)
	child.Stop()
	<-served
	if copyDone != nil {
		if err := finishStderr(stderrR, stderr, copyDone); err != nil {
			p.opts.Printer.Warnf("the command left a process writing to stderr, and its output could not be passed on after nono exits: %v", err)
		}
	}
	if err != nil {
		return fmt.Errorf("waiting for the child: %w", err)
	}
	if ex.Code != 0 {
		if !p.opts.NoDiagnostics {
			p.footer(ex, tail.Bytes())
		}
		return &ExitError{Code: ex.Code}
	}
	return nil
}

func capDir() string {
	if d := os.Getenv("TMPDIR"); filepath.IsAbs(d) {
		return d
	}
	return "/tmp"
}

func containsDenial(ds []sandbox.Denial, d sandbox.Denial) bool {
	for _, x := range ds {
		if x == d {
			return true
		}
	}
	return false
}

// checkKernel refuses what this kernel cannot enforce and says out loud
// what it enforces less strictly than asked.
func (p *Plan) checkKernel() error {
	if p.spec.Net == sandbox.NetAllow && len(p.spec.UnixSockets) == 0 && p.opts.Printer.Verbose == 0 && !p.opts.DryRun {
		// Only the Landlock ABI decides anything here: skip reading
		// /proc/sys/kernel/seccomp/actions_avail and the other probes.
		return p.checkKernelWith(sandbox.Report{LandlockABI: sandbox.ABI()})
	}
	return p.checkKernelWith(sandbox.ProbeEnforcement())
}

func (p *Plan) checkKernelWith(rep sandbox.Report) error {
	if rep.LandlockABI == 0 {
		return sandbox.ErrNoLandlock
	}
	if p.spec.Net != sandbox.NetAllow && !(rep.SeccompNotif && rep.PidfdGetfd) {
		return errors.New("this kernel lacks seccomp user notification or pidfd_getfd (Linux 5.9+ needed): restricted network modes (--block-net, proxy mode) cannot be enforced here; refusing to run. 'nono setup --check-only' shows what is available")
	}
	if rep.LandlockABI < 6 {
		if !p.spec.IPCFull {
			p.opts.Printer.Warnf("Landlock ABI %d cannot isolate abstract unix sockets (needs ABI 6): host services on abstract sockets (X11, some D-Bus) stay reachable", rep.LandlockABI)
		}
		if !p.spec.AllowSignalsOutside {
			p.opts.Printer.Warnf("Landlock ABI %d cannot stop signals to processes outside the sandbox (needs ABI 6)", rep.LandlockABI)
		}
	}
	if p.opts.Printer.Verbose > 0 && !p.opts.DryRun {
		p.opts.Printer.Infof("kernel: %s, Landlock ABI %d, seccomp notify %v\n", rep.Kernel, rep.LandlockABI, rep.SeccompNotif)
		for _, e := range relevantLayers(rep, p.spec) {
			if !e.Enforced {
				p.opts.Printer.Infof("  not enforced here: %s (%s)\n", e.Rule, e.Layer)
			}
		}
	}
	return nil
}
