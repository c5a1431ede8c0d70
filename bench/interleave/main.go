// Command interleave times commands run one after another in rounds
// (A, B, C, A, B, C, ...), so that drift in a shared machine's speed hits
// every command alike; hyperfine runs all of one command, then the next.
// It is how the one-change-at-a-time cold-start figures in bench/README.md
// were taken:
//
//	go run ./bench/interleave -n 500 "old/nono wrap --allow . -- /bin/true" "bin/nono wrap --allow . -- /bin/true"
//
// Each command is split on spaces (no shell); 20 warm-up rounds are not
// counted. It prints the median, mean and 10th percentile per command.
package main

import (
	"flag"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strings"
	"time"
)

func main() {
	n := flag.Int("n", 300, "rounds")
	warm := flag.Int("warmup", 20, "uncounted rounds first")
	flag.Parse()
	cmds := flag.Args()
	if len(cmds) == 0 {
		fmt.Fprintln(os.Stderr, "usage: interleave [-n ROUNDS] 'command one' 'command two' ...")
		os.Exit(2)
	}
	run := func(c string) time.Duration {
		f := strings.Fields(c)
		cmd := exec.Command(f[0], f[1:]...)
		t := time.Now()
		if err := cmd.Run(); err != nil {
			fmt.Fprintf(os.Stderr, "interleave: %s: %v\n", c, err)
			os.Exit(1)
		}
		return time.Since(t)
	}
	for range *warm {
		for _, c := range cmds {
			run(c)
		}
	}
	res := make([][]time.Duration, len(cmds))
	for range *n {
		for j, c := range cmds {
			res[j] = append(res[j], run(c))
		}
	}
	ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
	for j, c := range cmds {
		r := res[j]
		slices.Sort(r)
		var sum time.Duration
		for _, v := range r {
			sum += v
		}
		fmt.Printf("%-60s median %.2f  mean %.2f  p10 %.2f ms\n", c, ms(r[len(r)/2]), ms(sum/time.Duration(len(r))), ms(r[len(r)/10]))
	}
}
