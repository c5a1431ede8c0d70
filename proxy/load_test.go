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
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nono-sandbox/nono/credentials"
)

// startEcho runs a loopback TCP echo server for the test's lifetime.
func startEcho(t testing.TB) int {
	return serveEach(t, func(c net.Conn) { io.Copy(c, c) }).Port
}

func openFDs(t *testing.T) int {
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skip("needs /proc/self/fd")
	}
	return len(ents)
}

// settle waits for background goroutines and fds to drain after a load.
func settle(t *testing.T, baseG, baseFD int) (int, int) {
	var g, fd int
	for i := 0; i < 100; i++ {
		runtime.GC()
		g, fd = runtime.NumGoroutine(), openFDs(t)
		if g <= baseG+5 && fd <= baseFD+5 {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	return g, fd
}

func heapMiB() float64 {
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return float64(m.HeapInuse) / (1 << 20)
}

// TestLoadThousandConcurrentTunnels holds 1,000 CONNECT tunnels open at
// once through one gateway, pushes data through each, and checks that
// nothing fails and nothing leaks once they close.
func TestLoadThousandConcurrentTunnels(t *testing.T) {
	if testing.Short() {
		t.Skip("load test")
	}
	port := startEcho(t)
	baseG, baseFD := runtime.NumGoroutine(), openFDs(t)
	g := startGateway(t, nil)
	const n = 1000
	payload := strings.Repeat("x", 4096)
	var wg sync.WaitGroup
	allOpen := make(chan struct{})
	var opened sync.WaitGroup
	opened.Add(n)
	errs := make(chan error, n)
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			fail := func(err error) { errs <- err; opened.Done() }
			c, err := net.DialTimeout("tcp", g.Addr().String(), 10*time.Second)
			if err != nil {
				fail(err)
				return
			}
			defer c.Close()
			c.SetDeadline(time.Now().Add(60 * time.Second))
			fmt.Fprintf(c, "CONNECT allowed.test:%d HTTP/1.1\r\nHost: allowed.test:%d\r\nProxy-Authorization: %s\r\n\r\n", port, port, basicAuth("nono", testToken))
			br := bufio.NewReader(c)
			resp, err := http.ReadResponse(br, nil)
			if err != nil {
				fail(err)
				return
			}
			if resp.StatusCode != 200 {
				fail(fmt.Errorf("CONNECT status %d", resp.StatusCode))
				return
			}
			opened.Done()
			<-allOpen // every tunnel is open at the same time
			if _, err := io.WriteString(c, payload); err != nil {
				errs <- err
				return
			}
			buf := make([]byte, len(payload))
			if _, err := io.ReadFull(br, buf); err != nil || string(buf) != payload {
				errs <- fmt.Errorf("echo through tunnel: %v", err)
			}
		}()
	}
	opened.Wait()
	peak := heapMiB()
	close(allOpen)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("tunnel failed: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	g.Shutdown(ctx)
	gs, fds := settle(t, baseG, baseFD)
	t.Logf("1000 concurrent tunnels: heap in use %.1f MiB with all open; after: goroutines %d (base %d), fds %d (base %d)", peak, gs, baseG, fds, baseFD)
	if gs > baseG+5 || fds > baseFD+5 {
		t.Fatalf("leak after load: goroutines %d (base %d), fds %d (base %d)", gs, baseG, fds, baseFD)
	}
}

// TestLoadTenThousandReverseRequests sends 10,000 requests through the
// credential reverse path (64 at a time) and checks every one succeeded
// with the secret injected, then that nothing leaks.
func TestLoadTenThousandReverseRequests(t *testing.T) {
	if testing.Short() {
		t.Skip("load test")
	}
	baseG, baseFD := runtime.NumGoroutine(), openFDs(t)
	const secret = "sk-load-REAL-secret"
	var mu sync.Mutex
	bad := 0
	o := startTLSOrigin(t, func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer "+secret {
			mu.Lock()
			bad++
			mu.Unlock()
		}
		io.WriteString(w, "ok")
	})
	g := startCredGateway(t, []CredentialRoute{credRouteTo(t, "api", o, "", secret, credentials.CustomCredential{})}, nil)
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64, DisableCompression: true}}
	const total, workers = 10000, 64
	jobs := make(chan int, total)
	for i := 0; i < total; i++ {
		jobs <- i
	}
	close(jobs)
	errs := make(chan error, total)
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range jobs {
				req, _ := http.NewRequest("GET", g.url("/api/v1/models"), nil)
				req.Header.Set("Authorization", bearerToken())
				resp, err := client.Do(req)
				if err != nil {
					errs <- err
					continue
				}
				b, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.StatusCode != 200 || string(b) != "ok" {
					errs <- fmt.Errorf("status %d body %q", resp.StatusCode, b)
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("request failed: %v", err)
	}
	if bad != 0 || o.count() != total {
		t.Fatalf("upstream saw %d requests, %d without the injected secret", o.count(), bad)
	}
	peak := heapMiB()
	client.CloseIdleConnections()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	g.Shutdown(ctx)
	gs, fds := settle(t, baseG, baseFD)
	t.Logf("10000 reverse requests: heap in use %.1f MiB at the end; after: goroutines %d (base %d), fds %d (base %d)", peak, gs, baseG, fds, baseFD)
	if gs > baseG+10 || fds > baseFD+10 {
		t.Fatalf("leak after load: goroutines %d (base %d), fds %d (base %d)", gs, baseG, fds, baseFD)
	}
}
