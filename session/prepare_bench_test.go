package session

import (
	"os"
	"testing"

	"github.com/nono-sandbox/nono/policy"
	"github.com/nono-sandbox/nono/ui"
)

// BenchmarkPrepare is everything `nono wrap --allow DIR -- true` does
// before applying the sandbox: policy, workdir, program lookup, kernel probe.
func BenchmarkPrepare(b *testing.B) {
	dir := b.TempDir()
	if err := os.Chdir(dir); err != nil {
		b.Fatal(err)
	}
	pr := ui.NewPrinter(os.Stderr, "minimal", true, 0)
	for i := 0; i < b.N; i++ {
		_, err := Prepare(Options{Mode: Direct, Command: []string{"true"}, Printer: pr,
			Request: policy.Request{Allow: []string{dir}, Env: os.LookupEnv}, Stdin: os.Stdin, Stdout: os.Stdout, Stderr: os.Stderr})
		if err != nil {
			b.Fatal(err)
		}
	}
}
