package credentials

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"syscall"
	"time"
)

// Loader resolves one ref to its secret.
type Loader interface {
	Load(ctx context.Context, ref Ref) (*Secret, error)
}

// LoadFunc adapts a function to Loader.
type LoadFunc func(ctx context.Context, ref Ref) (*Secret, error)

// Load calls f.
func (f LoadFunc) Load(ctx context.Context, ref Ref) (*Secret, error) { return f(ctx, ref) }

// DefaultLoadTimeout bounds one load. It is generous because a keyring or
// 1Password may show an unlock prompt.
const DefaultLoadTimeout = 60 * time.Second

// MaxSecretSize caps what any backend may return.
const MaxSecretSize = 64 << 10

// ErrNotFound is wrapped by every backend when the ref names nothing.
var ErrNotFound = errors.New("secret not found")

// ErrUnsupportedPlatform is wrapped when a backend does not exist on this OS.
var ErrUnsupportedPlatform = errors.New("credential backend not available on this platform")

// Resolver dispatches each ref to the backend for its scheme and bounds every
// load with Timeout. Backends missing from the map fail closed.
type Resolver struct {
	Backends map[Scheme]Loader
	// Timeout bounds each Load; zero means DefaultLoadTimeout.
	Timeout time.Duration
}

// NewResolver returns a Resolver wired to the real backends: go-keyring,
// the parent environment, files, 1Password (SDK helper or CLI, see
// OnePassword) and, on macOS, Apple Passwords. Close it when done.
func NewResolver() *Resolver {
	return &Resolver{Backends: map[Scheme]Loader{
		SchemeKeyring:       &Keyring{},
		SchemeEnv:           Env{},
		SchemeFile:          LoadFunc(loadFile),
		SchemeOnePassword:   NewOnePassword(),
		SchemeApplePassword: LoadFunc(loadApplePassword),
	}}
}

// Load resolves ref through its scheme's backend within the timeout. Errors
// name the ref and never contain the secret.
func (r *Resolver) Load(ctx context.Context, ref Ref) (*Secret, error) {
	b, ok := r.Backends[ref.Scheme]
	if !ok || b == nil {
		return nil, fmt.Errorf("no backend configured for %s:// refs", ref.Scheme)
	}
	timeout := r.Timeout
	if timeout <= 0 {
		timeout = DefaultLoadTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	s, err := b.Load(ctx, ref)
	if err != nil {
		s.Wipe()
		if ctx.Err() != nil && !errors.Is(err, ctx.Err()) {
			err = fmt.Errorf("%w (%w)", err, ctx.Err())
		}
		return nil, err
	}
	if s.Len() > MaxSecretSize {
		s.Wipe()
		return nil, fmt.Errorf("secret from %s is larger than %d bytes", ref.Describe(), MaxSecretSize)
	}
	return s, nil
}

// Close releases what backends keep between loads (the 1Password helper
// process). Call it once every ref is loaded, before the child starts.
func (r *Resolver) Close() error {
	var errs []error
	for _, b := range r.Backends {
		if c, ok := b.(io.Closer); ok {
			errs = append(errs, c.Close())
		}
	}
	return errors.Join(errs...)
}

// NamedRef is one credential to load: Name says what it is for (a service
// such as "openai", or a destination env var) and appears in errors.
type NamedRef struct {
	Name string
	Ref  Ref
}

// LoadAll resolves every ref before the child starts. On the first failure
// it wipes everything already loaded and returns an error naming the
// credential and the ref. Names must be unique. A ref listed twice is
// loaded once and cloned.
func LoadAll(ctx context.Context, l Loader, refs []NamedRef) (map[string]*Secret, error) {
	out := make(map[string]*Secret, len(refs))
	byRef := make(map[string]*Secret, len(refs))
	fail := func(err error) (map[string]*Secret, error) {
		WipeAll(out)
		return nil, err
	}
	for _, nr := range refs {
		if _, dup := out[nr.Name]; dup {
			return fail(fmt.Errorf("credential %q is listed twice", nr.Name))
		}
		if prev, ok := byRef[nr.Ref.String()]; ok {
			out[nr.Name] = prev.Clone()
			continue
		}
		s, err := l.Load(ctx, nr.Ref)
		if err != nil {
			return fail(fmt.Errorf("credential %q (%s): %w", nr.Name, nr.Ref.Describe(), err))
		}
		out[nr.Name] = s
		byRef[nr.Ref.String()] = s
	}
	return out, nil
}

// WipeAll wipes every secret in m.
func WipeAll(m map[string]*Secret) {
	for _, s := range m {
		s.Wipe()
	}
}

// Env loads env:// refs from the parent environment.
type Env struct {
	// LookupEnv defaults to os.LookupEnv.
	LookupEnv func(string) (string, bool)
}

// Load implements Loader.
func (e Env) Load(_ context.Context, ref Ref) (*Secret, error) {
	lookup := e.LookupEnv
	if lookup == nil {
		lookup = os.LookupEnv
	}
	v, ok := lookup(ref.Var)
	if !ok || v == "" {
		return nil, fmt.Errorf("%w: environment variable %s is unset or empty; export it before starting nono", ErrNotFound, ref.Var)
	}
	s, err := NewSecret([]byte(v))
	if err != nil {
		return nil, fmt.Errorf("environment variable %s: %w", ref.Var, err)
	}
	return s, nil
}

// loadFile reads a file:// ref. Symlinks are followed (mounted secrets such
// as Kubernetes' are symlinks), but the final target must be a regular file
// of at most MaxSecretSize bytes. The open is non-blocking so a FIFO or
// device cannot hang the load. One trailing "\n" or "\r\n" is trimmed.
func loadFile(ctx context.Context, ref Ref) (*Secret, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(ref.Path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("%w: %s does not exist", ErrNotFound, ref.Path)
		}
		return nil, fmt.Errorf("open %s: %w", ref.Path, err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("stat %s: %w", ref.Path, err)
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("%s is not a regular file (%s); point file:// at a file holding only the secret", ref.Path, fi.Mode().Type())
	}
	if fi.Size() > MaxSecretSize {
		return nil, fmt.Errorf("%s is %d bytes, more than the %d-byte limit for a secret file", ref.Path, fi.Size(), MaxSecretSize)
	}
	b, err := readCapped(f, MaxSecretSize)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", ref.Path, err)
	}
	s, err := NewSecret(trimNewline(b))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", ref.Path, err)
	}
	return s, nil
}

// readCapped reads all of r into a buffer it owns, failing (and wiping) if
// r holds more than limit bytes. The buffer is allocated once so no stale
// copies of the secret are left behind by growth.
func readCapped(r io.Reader, limit int) ([]byte, error) {
	buf := make([]byte, limit+1)
	n, err := io.ReadFull(r, buf)
	switch {
	case errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF):
	case err != nil:
		clear(buf)
		return nil, err
	default:
		clear(buf)
		return nil, fmt.Errorf("more than %d bytes", limit)
	}
	return buf[:n:n], nil
}

// trimNewline removes one trailing "\n" or "\r\n", as editors and
// `echo` leave them.
func trimNewline(b []byte) []byte {
	n := len(b)
	if n > 0 && b[n-1] == '\n' {
		n--
		if n > 0 && b[n-1] == '\r' {
			n--
		}
	}
	clear(b[n:])
	return b[:n]
}
