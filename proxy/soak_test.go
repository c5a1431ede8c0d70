package proxy

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"runtime"
	"runtime/pprof"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nono-sandbox/nono/credentials"
)

// TestSoak runs tunnels and reverse requests through one gateway for
// NONO_SOAK (e.g. 5m; `go tool task soak`), logging heap, goroutines and fds
// every 30 s, and fails on any error, a leak, or unbounded heap growth.
func TestSoak(t *testing.T) {
	d, err := time.ParseDuration(os.Getenv("NONO_SOAK"))
	if err != nil || d <= 0 {
		t.Skip("set NONO_SOAK=5m (go tool task soak)")
	}
	port := startEcho(t)
	baseG, baseFD := runtime.NumGoroutine(), openFDs(t)
	o := startTLSOrigin(t, func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") })
	o.mu.Lock()
	o.forget = true
	o.mu.Unlock()
	var events atomic.Int64
	g := startCredGateway(t, []CredentialRoute{credRouteTo(t, "api", o, "", "sk-soak-secret", credentials.CustomCredential{})},
		func(_ *PolicyConfig, c *Config) { c.Audit = countSink{&events} }) // the test's memSink would keep every event
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 32, DisableCompression: true}}
	deadline := time.Now().Add(d)
	var tunnels, requests, failures atomic.Int64
	var wg sync.WaitGroup
	for w := 0; w < 32; w++ {
		wg.Add(2)
		go func() { // tunnels
			defer wg.Done()
			for time.Now().Before(deadline) {
				c, err := net.Dial("tcp", g.Addr().String())
				if err != nil {
					failures.Add(1)
					continue
				}
				c.SetDeadline(time.Now().Add(20 * time.Second))
				fmt.Fprintf(c, "CONNECT allowed.test:%d HTTP/1.1\r\nProxy-Authorization: %s\r\n\r\n", port, basicAuth("nono", testToken))
				br := bufio.NewReader(c)
				resp, err := http.ReadResponse(br, nil)
				ok := err == nil && resp.StatusCode == 200
				if ok {
					io.WriteString(c, "ping")
					buf := make([]byte, 4)
					_, err = io.ReadFull(br, buf)
					ok = err == nil && string(buf) == "ping"
				}
				c.Close()
				if !ok {
					failures.Add(1)
				}
				tunnels.Add(1)
			}
		}()
		go func() { // reverse requests
			defer wg.Done()
			for time.Now().Before(deadline) {
				req, _ := http.NewRequest("GET", g.url("/api/x"), nil)
				req.Header.Set("Authorization", bearerToken())
				resp, err := client.Do(req)
				if err != nil {
					failures.Add(1)
					continue
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != 200 {
					failures.Add(1)
				}
				requests.Add(1)
			}
		}()
	}
	var maxHeap float64
	every := 30 * time.Second
	if d < 2*every {
		every = d / 4
	}
	tick := time.NewTicker(every)
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
loop:
	for {
		select {
		case <-tick.C:
			runtime.GC() // live heap, not garbage waiting for the collector
			h := heapMiB()
			if path := os.Getenv("NONO_SOAK_HEAPPROFILE"); path != "" {
				if f, err := os.Create(path); err == nil {
					pprof.WriteHeapProfile(f)
					f.Close()
				}
			}
			if h > maxHeap {
				maxHeap = h
			}
			t.Logf("soak: %d tunnels, %d requests, %d failures, heap %.1f MiB, goroutines %d, fds %d",
				tunnels.Load(), requests.Load(), failures.Load(), h, runtime.NumGoroutine(), openFDs(t))
		case <-done:
			break loop
		}
	}
	tick.Stop()
	client.CloseIdleConnections()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	g.Shutdown(ctx)
	gs, fds := settle(t, baseG, baseFD)
	t.Logf("soak done: %d tunnels, %d requests, %d audit events, %d failures, peak heap %.1f MiB; after: goroutines %d (base %d), fds %d (base %d)",
		tunnels.Load(), requests.Load(), events.Load(), failures.Load(), maxHeap, gs, baseG, fds, baseFD)
	if failures.Load() != 0 {
		t.Fatalf("%d failures during the soak", failures.Load())
	}
	if gs > baseG+10 || fds > baseFD+10 {
		t.Fatalf("leak after soak: goroutines %d (base %d), fds %d (base %d)", gs, baseG, fds, baseFD)
	}
	if maxHeap > 256 {
		t.Fatalf("heap grew to %.1f MiB", maxHeap)
	}
}

type countSink struct{ n *atomic.Int64 }

func (c countSink) Record(Event) { c.n.Add(1) }
