package policy

import (
	"math/rand/v2"
	"regexp"
	"strings"
	"testing"
)

// TestDenyIndexMatchesPairwise checks denyIndex.overlaps against the
// pairwise definition it replaces, on random canonical paths drawn from a
// small alphabet so that equal paths, ancestors, descendants, siblings that
// share a prefix (/a/b vs /a/bc) and the root all occur often.
func TestDenyIndexMatchesPairwise(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	names := []string{"a", "b", "bc", "b.c", "a-", "ssh", ".ssh"}
	randPath := func() string {
		n := rng.IntN(4)
		if n == 0 {
			return "/"
		}
		parts := make([]string, n)
		for i := range parts {
			parts[i] = names[rng.IntN(len(names))]
		}
		return "/" + strings.Join(parts, "/")
	}
	for round := 0; round < 2000; round++ {
		var denies []Deny
		for i := rng.IntN(6); i > 0; i-- {
			if p := randPath(); p != "/" || rng.IntN(10) == 0 {
				denies = append(denies, Deny{Path: p})
			}
		}
		idx := newDenyIndex(denies)
		for i := 0; i < 20; i++ {
			p, dir := randPath(), rng.IntN(2) == 0
			want := false
			for _, d := range denies {
				if within(p, d.Path) || (dir && within(d.Path, p)) {
					want = true
				}
			}
			if got := idx.overlaps(p, dir); got != want {
				t.Fatalf("denies %v, path %q dir=%v: overlaps = %v, pairwise = %v", denies, p, dir, got, want)
			}
		}
	}
}

// TestValidProfileNameMatchesRegexp checks the hand-written name check
// against the regexp it replaced, exhaustively over short names.
func TestValidProfileNameMatchesRegexp(t *testing.T) {
	re := regexp.MustCompile(`^[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?$`)
	alphabet := []string{"a", "Z", "0", "9", "-", "_", ".", "/", " ", "é", "\x00"}
	var walk func(prefix string, depth int)
	walk = func(prefix string, depth int) {
		if got, want := ValidProfileName(prefix), re.MatchString(prefix); got != want {
			t.Fatalf("ValidProfileName(%q) = %v, regexp says %v", prefix, got, want)
		}
		if depth == 0 {
			return
		}
		for _, c := range alphabet {
			walk(prefix+c, depth-1)
		}
	}
	walk("", 4)
}
