package policy

import (
	"os"
	"testing"
)

// BenchmarkResolveDefault is the policy part of every nono start: the
// default profile with one --allow.
func BenchmarkResolveDefault(b *testing.B) {
	dir := b.TempDir()
	for i := 0; i < b.N; i++ {
		if _, err := Resolve(Request{Allow: []string{dir}, Env: os.LookupEnv}); err != nil {
			b.Fatal(err)
		}
	}
}
