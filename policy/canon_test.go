package policy

import (
	"errors"
	"io/fs"
	"math/rand"
	"os"
	"path/filepath"
	"reflect"
	"testing"
)

// canonTree builds a tree with every kind of path the canonicalizer must
// resolve exactly like filepath.EvalSymlinks, and returns the paths to ask.
func canonTree(t *testing.T) []string {
	t.Helper()
	root, err := filepath.EvalSymlinks(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	mk := func(rel string) {
		if err := os.MkdirAll(filepath.Join(root, rel), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	file := func(rel string) {
		if err := os.WriteFile(filepath.Join(root, rel), nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	link := func(target, rel string) {
		if err := os.Symlink(target, filepath.Join(root, rel)); err != nil {
			t.Fatal(err)
		}
	}
	mk("a/b/c")
	mk("x/y")
	file("a/f")
	file("x/y/g")
	link("a/b", "rel")                    // relative, to a directory
	link(filepath.Join(root, "x"), "abs") // absolute
	link("rel/c", "chain")                // through another link
	link("../x/y", "a/up")                // relative with ..
	link("missing", "dangling")           // dangling
	link("loop2", "loop1")                // loop
	link("loop1", "loop2")
	link("f", "a/flink") // to a file
	link("/", "a/toroot")
	var ps []string
	for _, rel := range []string{
		"", "a", "a/b", "a/b/c", "a/f", "a/f/more", "a/f/more/deeper", "x/y/g",
		"rel", "rel/c", "rel/nope", "rel/c/nope/nope", "abs", "abs/y", "abs/y/g", "abs/y/g/x",
		"chain", "chain/nope", "a/up", "a/up/g", "a/up/..", "dangling", "dangling/x",
		"loop1", "loop1/x", "a/flink", "a/flink/x", "a/toroot", "a/toroot/etc",
		"nope", "nope/deeper", "a/b/../f",
	} {
		ps = append(ps, filepath.Join(root, rel))
	}
	return append(ps, "/", "/proc/self", "/proc/self/fd", "/dev/stdin", "/etc", "/no/such/path")
}

func sameErr(a, b error) bool {
	if a == nil || b == nil {
		return a == nil && b == nil
	}
	var pa, pb *fs.PathError
	if errors.As(a, &pa) != errors.As(b, &pb) {
		return false
	}
	if pa != nil {
		return pa.Op == pb.Op && pa.Path == pb.Path && errors.Is(pa.Err, pb.Err)
	}
	return reflect.TypeOf(a) == reflect.TypeOf(b) && a.Error() == b.Error()
}

// TestCanonicalizerMatchesEvalSymlinks: one canonicalizer shared across
// paths asked in any order answers exactly what EvalSymlinks answers.
func TestCanonicalizerMatchesEvalSymlinks(t *testing.T) {
	ps := canonTree(t)
	for seed := int64(0); seed < 20; seed++ {
		order := append([]string(nil), ps...)
		rand.New(rand.NewSource(seed)).Shuffle(len(order), func(i, j int) { order[i], order[j] = order[j], order[i] })
		c := new(canonicalizer)
		for _, p := range order {
			p = filepath.Clean(p)
			want, wantErr := filepath.EvalSymlinks(p)
			e := c.eval(p)
			if e.path != want || !sameErr(e.err, wantErr) {
				t.Fatalf("seed %d: eval(%s) = %q, %v; EvalSymlinks = %q, %v", seed, p, e.path, e.err, want, wantErr)
			}
			if e.err == nil {
				st, err := os.Lstat(want)
				if err != nil || st.Mode().Type() != e.mode.Type() {
					t.Fatalf("eval(%s) mode %v, lstat %v %v", p, e.mode, st.Mode(), err)
				}
			}
			st, err := os.Lstat(p)
			if want := err == nil && st.Mode()&os.ModeSymlink != 0; c.isSymlink(p) != want {
				t.Fatalf("isSymlink(%s) = %v, lstat says %v", p, !want, want)
			}
			if got, ref := c.lenient(p), lenientRelative(p); got != ref {
				t.Fatalf("lenient(%s) = %q, want %q", p, got, ref)
			}
		}
	}
}
