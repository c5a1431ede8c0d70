package policy

import (
	"errors"
	"io/fs"
	"math/rand"
	"os"
	"path/filepath"
	"reflect"
	"strings"
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
	link("rel/../f", "a/relup")                     // a missing first component
	link("rel/../f", "relup")                       // ".." after a link: applies to a/b, not lexically
	link("../x/../a/b", "a/midup")                  // ".." in the middle
	link("f/", "a/fslash")                          // a file with a trailing slash
	link("flink/x", "a/throughfile")                // through a link to a file
	link("f/..", "a/fileup")                        // ".." after a file
	link(".", "a/dot")                              // itself
	link(filepath.Join(root, "x")+"/../a", "absup") // absolute with ".."
	link("/proc/.."+root+"/a", "quirk")             // EvalSymlinks names errors /proc/../...
	link("/proc/.."+root+"/nope/x", "quirkmiss")
	link("../rel/../x", "a/up2")   // relative, through a link, then ".."
	link("selfdir/x", "selfdir")   // a loop through its own subpath
	link("dangling", "todangling") // a link to a dangling link
	var ps []string
	for _, rel := range []string{
		"", "a", "a/b", "a/b/c", "a/f", "a/f/more", "a/f/more/deeper", "x/y/g",
		"rel", "rel/c", "rel/nope", "rel/c/nope/nope", "abs", "abs/y", "abs/y/g", "abs/y/g/x",
		"chain", "chain/nope", "a/up", "a/up/g", "a/up/..", "dangling", "dangling/x",
		"loop1", "loop1/x", "a/flink", "a/flink/x", "a/toroot", "a/toroot/etc",
		"nope", "nope/deeper", "a/b/../f",
		"a/relup", "a/relup/x", "relup", "relup/x", "a/midup", "a/midup/c", "a/fslash", "a/fslash/x", "a/throughfile",
		"a/fileup", "a/dot", "a/dot/b", "a/dot/dot/dot/f", "absup", "absup/b/c", "quirk", "quirk/b",
		"quirkmiss", "quirkmiss/y", "a/up2", "a/up2/y/g", "selfdir", "selfdir/x", "todangling", "todangling/x",
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
		// EvalSymlinks may name a path in unclean form (/etc/../usr/x)
		// where the canonicaliser says /usr/x: the same file.
		return pa.Op == pb.Op && filepath.Clean(pa.Path) == filepath.Clean(pb.Path) && errors.Is(pa.Err, pb.Err)
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

// TestCanonicalizerRandomTrees compares the canonicaliser with
// filepath.EvalSymlinks on random trees whose symlinks point anywhere:
// relative and absolute, through other links, files and missing entries,
// with "." and ".." anywhere, in loops.
func TestCanonicalizerRandomTrees(t *testing.T) {
	names := []string{"a", "b", "c", "f", "l", "m"}
	for seed := int64(0); seed < 60; seed++ {
		rng := rand.New(rand.NewSource(seed))
		root, err := filepath.EvalSymlinks(t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		randRel := func(n int) string {
			parts := make([]string, n)
			for i := range parts {
				switch r := rng.Intn(10); {
				case r == 0:
					parts[i] = ".."
				case r == 1:
					parts[i] = "."
				default:
					parts[i] = names[rng.Intn(len(names))]
				}
			}
			return strings.Join(parts, "/")
		}
		var entries []string
		for i := 0; i < 25; i++ {
			rel := filepath.Clean(randRel(1 + rng.Intn(3)))
			if rel == "." || rel == ".." || strings.HasPrefix(rel, "../") {
				continue
			}
			p := filepath.Join(root, rel)
			if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
				continue // a file or link is in the way
			}
			var err error
			switch rng.Intn(3) {
			case 0:
				err = os.Mkdir(p, 0o755)
			case 1:
				err = os.WriteFile(p, nil, 0o644)
			default:
				target := randRel(1 + rng.Intn(3))
				switch rng.Intn(4) {
				case 0:
					target = filepath.Join(root, target) // absolute, cleaned
				case 1:
					target = root + "/" + target // absolute, raw
				case 2:
					target += "/"
				}
				err = os.Symlink(target, p)
				rel += " -> " + target
			}
			if err == nil {
				entries = append(entries, rel)
			}
		}
		c := new(canonicalizer)
		asked := 0
		for i := 0; i < 200 && asked < 80; i++ {
			p := filepath.Join(root, randRel(1+rng.Intn(4)))
			if !strings.HasPrefix(p, root+"/") {
				continue
			}
			asked++
			want, wantErr := filepath.EvalSymlinks(p)
			e := c.eval(p)
			if e.path != want || !sameErr(e.err, wantErr) {
				t.Fatalf("seed %d, tree %q: eval(%s) = %q, %v; EvalSymlinks = %q, %v", seed, entries, p, e.path, e.err, want, wantErr)
			}
		}
	}
}
