package e2e

import (
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// Real-looking secrets: if any of these shows up in the child's world, the
// test fails. They are only ever given to nono, never to the child.
const (
	openaiSecret    = "sk-e2e-REAL-openai-7f3a9c1d2b"
	anthropicSecret = "sk-ant-e2e-REAL-anthropic-5e8b0f"
)

// fakeAPI is a local TLS upstream standing in for api.openai.com or
// api.anthropic.com. It records the credential each request carried.
type fakeAPI struct {
	port int
	mu   sync.Mutex
	seen []string // "METHOD PATH AUTH"
}

func (f *fakeAPI) record(r *http.Request, auth string) {
	f.mu.Lock()
	f.seen = append(f.seen, r.Method+" "+r.URL.Path+" "+auth+" "+r.Proto+" from "+r.RemoteAddr)
	f.mu.Unlock()
}

func (f *fakeAPI) log() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return strings.Join(f.seen, "\n")
}

// fakeAPIsHTTP1 makes startFakeAPI's upstreams speak HTTP/1.1 only.
var fakeAPIsHTTP1 bool

func startFakeAPI(t *testing.T, o *origin, name string, handler func(f *fakeAPI) http.Handler) *fakeAPI {
	t.Helper()
	f := &fakeAPI{}
	ln, err := net.Listen("tcp", originIP+":0")
	if err != nil {
		t.Fatal(err)
	}
	f.port = ln.Addr().(*net.TCPAddr).Port
	srv := &http.Server{Handler: handler(f), TLSConfig: o.tlsConfig(t, name)}
	if fakeAPIsHTTP1 {
		// A non-nil empty map turns HTTP/2 off: the gateway's own
		// HTTP/1.1 pool then carries the calls (proxy/h1pool.go).
		srv.TLSNextProto = map[string]func(*http.Server, *tls.Conn, http.Handler){}
	}
	go srv.ServeTLS(ln, "", "")
	t.Cleanup(func() { srv.Close() })
	return f
}

func sse(w http.ResponseWriter, events ...string) {
	w.Header().Set("Content-Type", "text/event-stream")
	w.WriteHeader(200)
	fl := w.(http.Flusher)
	for _, e := range events {
		io.WriteString(w, e+"\n\n")
		fl.Flush()
		time.Sleep(20 * time.Millisecond)
	}
}

func openaiHandler(f *fakeAPI) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/v1/chat/completions", func(w http.ResponseWriter, r *http.Request) {
		f.record(r, r.Header.Get("Authorization"))
		var ev []string
		for _, piece := range []string{"Hel", "lo ", "from ", "fake ", "OpenAI"} {
			b, _ := json.Marshal(map[string]any{"id": "c1", "object": "chat.completion.chunk", "created": 1, "model": "gpt-test",
				"choices": []any{map[string]any{"index": 0, "delta": map[string]any{"content": piece}, "finish_reason": nil}}})
			ev = append(ev, "data: "+string(b))
		}
		sse(w, append(ev, "data: [DONE]")...)
	})
	mux.HandleFunc("/v1/echo", func(w http.ResponseWriter, r *http.Request) {
		// A hostile or careless endpoint that reflects what it received.
		f.record(r, r.Header.Get("Authorization"))
		w.Header().Set("X-Echo-Auth", r.Header.Get("Authorization"))
		fmt.Fprintf(w, "you sent: %s\n", r.Header.Get("Authorization"))
	})
	mux.HandleFunc("/v1/models", func(w http.ResponseWriter, r *http.Request) {
		f.record(r, r.Header.Get("Authorization"))
		io.WriteString(w, `{"object":"list","data":[{"id":"gpt-test"}]}`)
	})
	return mux
}

func anthropicHandler(f *fakeAPI) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/v1/messages", func(w http.ResponseWriter, r *http.Request) {
		f.record(r, r.Header.Get("X-Api-Key"))
		ev := []string{
			`event: message_start` + "\n" + `data: {"type":"message_start","message":{"id":"m1","type":"message","role":"assistant","model":"claude-test","content":[],"stop_reason":null,"stop_sequence":null,"usage":{"input_tokens":1,"output_tokens":0}}}`,
			`event: content_block_start` + "\n" + `data: {"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}`,
		}
		for _, piece := range []string{"Hi ", "from ", "fake ", "Claude"} {
			b, _ := json.Marshal(piece)
			ev = append(ev, `event: content_block_delta`+"\n"+`data: {"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":`+string(b)+`}}`)
		}
		ev = append(ev,
			`event: content_block_stop`+"\n"+`data: {"type":"content_block_stop","index":0}`,
			`event: message_delta`+"\n"+`data: {"type":"message_delta","delta":{"stop_reason":"end_turn","stop_sequence":null},"usage":{"output_tokens":4}}`,
			`event: message_stop`+"\n"+`data: {"type":"message_stop"}`)
		sse(w, ev...)
	})
	return mux
}

// credWorld is a credential-gateway test world.
type credWorld struct {
	*gw
	openai, anthropic *fakeAPI
	profile           string
	secretDir         string
	nodeDir           string
}

func newCredWorld(t *testing.T, endpointRules string) *credWorld {
	t.Helper()
	g := newGW(t)
	g.dns.add("api.openai.nono.test", originIP)
	g.dns.add("api.anthropic.nono.test", originIP)
	c := &credWorld{gw: g}
	c.openai = startFakeAPI(t, g.origin, "api.openai.nono.test", openaiHandler)
	c.anthropic = startFakeAPI(t, g.origin, "api.anthropic.nono.test", anthropicHandler)
	c.secretDir = filepath.Join(g.root, "secrets") // outside every grant
	os.MkdirAll(c.secretDir, 0o700)
	keyFile := filepath.Join(c.secretDir, "anthropic.key")
	os.WriteFile(keyFile, []byte(anthropicSecret+"\n"), 0o600)
	caFile := filepath.Join(c.secretDir, "origin-ca.pem")
	os.WriteFile(caFile, g.origin.caPEM, 0o644)
	prof := map[string]any{
		"meta": map[string]any{"name": "e2e-creds"},
		"network": map[string]any{"custom_credentials": map[string]any{
			"openai": map[string]any{
				"upstream":       fmt.Sprintf("https://api.openai.nono.test:%d/v1", c.openai.port),
				"credential_key": "env://E2E_OPENAI_KEY",
				"env_var":        "OPENAI_API_KEY",
				"tls_ca":         caFile,
				"endpoint_rules": json.RawMessage(endpointRules),
			},
			"anthropic": map[string]any{
				"upstream":          fmt.Sprintf("https://api.anthropic.nono.test:%d", c.anthropic.port),
				"credential_key":    "file://" + keyFile,
				"inject_header":     "x-api-key",
				"credential_format": "{}",
				"env_var":           "ANTHROPIC_API_KEY",
				"tls_ca":            caFile,
			},
		}},
	}
	if endpointRules == "" {
		delete(prof["network"].(map[string]any)["custom_credentials"].(map[string]any)["openai"].(map[string]any), "endpoint_rules")
	}
	b, _ := json.MarshalIndent(prof, "", "  ")
	c.profile = filepath.Join(g.root, "creds-profile.json")
	os.WriteFile(c.profile, b, 0o644)
	c.nodeDir = nodeModulesDir(t)
	return c
}

// nodeModulesDir is e2e/node with the official SDKs installed by
// `go tool task e2e:deps` (npm ci), or NONO_E2E_NODE for the unprivileged run.
func nodeModulesDir(t *testing.T) string {
	if d := os.Getenv("NONO_E2E_NODE"); d != "" {
		return d
	}
	d, _ := filepath.Abs("node")
	return d
}

func (c *credWorld) needNode(t *testing.T) {
	t.Helper()
	if _, err := os.Stat(filepath.Join(c.nodeDir, "node_modules", "openai")); err != nil {
		t.Skip("needs the npm SDKs: go tool task e2e:deps")
	}
	if _, err := exec.LookPath("node"); err != nil {
		t.Skip("needs node")
	}
}

// run executes nono with both credentials; the openai key comes from the
// environment (env://), which the child must not inherit.
func (c *credWorld) run(args ...string) result {
	base := []string{"run", "--profile", c.profile, "--allow", c.work, "--credential", "openai", "--credential", "anthropic"}
	return c.nonoEnv([]string{"NONO_DNS_SERVER=" + c.dns.addr, "E2E_OPENAI_KEY=" + openaiSecret}, append(base, args...)...)
}

// noLeak fails if a real secret appears in the result or in any file the
// child could write.
func (c *credWorld) noLeak(t *testing.T, r result) {
	t.Helper()
	for _, s := range []string{openaiSecret, anthropicSecret} {
		if strings.Contains(r.stdout, s) || strings.Contains(r.stderr, s) {
			t.Fatalf("a real secret reached the child's output or nono's messages:\n%s", r)
		}
		filepath.Walk(c.work, func(p string, info os.FileInfo, err error) error {
			if err == nil && info.Mode().IsRegular() && info.Size() < 1<<20 {
				if b, _ := os.ReadFile(p); strings.Contains(string(b), s) {
					t.Fatalf("a real secret was written to %s", p)
				}
			}
			return nil
		})
	}
}

func TestCredentialsOfficialNodeSDKs(t *testing.T) {
	c := newCredWorld(t, "")
	c.needNode(t)
	script := filepath.Join(c.nodeDir, "sdk-test.mjs")
	r := c.run("--read", c.nodeDir, "--", "node", script)
	if r.code != 0 {
		t.Fatalf("SDKs failed: %s", r)
	}
	mustContain(t, r, r.stdout, "OPENAI:Hello from fake OpenAI", "ANTHROPIC:Hi from fake Claude", "ENV-OPENAI-KEY-LEN:64")
	if !strings.Contains(c.openai.log(), "Bearer "+openaiSecret) {
		t.Fatalf("the OpenAI upstream did not see the real key:\n%s", c.openai.log())
	}
	if !strings.Contains(c.anthropic.log(), anthropicSecret) {
		t.Fatalf("the Anthropic upstream did not see the real key:\n%s", c.anthropic.log())
	}
	c.noLeak(t, r)
}

// The same SDKs against upstreams that speak only HTTP/1.1 (self-hosted
// APIs, local model servers), twice in one session: the first calls teach
// the gateway the protocol through http.Transport, the second round goes
// through the reverse-path loop's own HTTP/1.1 pool.
func TestCredentialsOfficialNodeSDKsOverHTTP1Upstreams(t *testing.T) {
	fakeAPIsHTTP1 = true
	t.Cleanup(func() { fakeAPIsHTTP1 = false })
	c := newCredWorld(t, "")
	c.needNode(t)
	script := filepath.Join(c.nodeDir, "sdk-test.mjs")
	r := c.run("--read", c.nodeDir, "--", "sh", "-c", `node "$1" && echo ROUND2 && node "$1"`, "sh", script)
	if r.code != 0 {
		t.Fatalf("SDKs failed: %s", r)
	}
	round2 := r.stdout[strings.Index(r.stdout, "ROUND2"):]
	mustContain(t, r, round2, "OPENAI:Hello from fake OpenAI", "ANTHROPIC:Hi from fake Claude")
	for name, api := range map[string]*fakeAPI{"OpenAI": c.openai, "Anthropic": c.anthropic} {
		log := api.log()
		if strings.Contains(log, "HTTP/2") || strings.Count(log, "HTTP/1.1") < 2 {
			t.Fatalf("the %s upstream should have seen two HTTP/1.1 calls:\n%s", name, log)
		}
	}
	// Round 1 went through http.Transport, round 2 through the pool: two
	// different upstream connections, where the transport alone would
	// have reused its kept-alive one.
	for name, api := range map[string]*fakeAPI{"OpenAI": c.openai, "Anthropic": c.anthropic} {
		api.mu.Lock()
		first, last := api.seen[0], api.seen[len(api.seen)-1]
		api.mu.Unlock()
		if first[strings.LastIndex(first, " from "):] == last[strings.LastIndex(last, " from "):] {
			t.Fatalf("the %s calls of both rounds came over one upstream connection; the HTTP/1.1 pool was not used:\n%s", name, api.log())
		}
	}
	if strings.Count(c.openai.log(), "Bearer "+openaiSecret) < 2 || strings.Count(c.anthropic.log(), anthropicSecret) < 2 {
		t.Fatalf("an upstream did not see the real key on every call:\n%s\n%s", c.openai.log(), c.anthropic.log())
	}
	c.noLeak(t, r)
}

func TestCredentialsChildNeverHoldsTheSecret(t *testing.T) {
	c := newCredWorld(t, "")
	r := c.run("--", "sh", "-c", "env; cat /proc/self/environ | tr '\\0' '\\n' > env.txt; echo done")
	if r.code != 0 {
		t.Fatal(r)
	}
	mustContain(t, r, r.stdout, "OPENAI_BASE_URL=http://127.0.0.1:", "/openai", "ANTHROPIC_BASE_URL=", "OPENAI_API_KEY=", "SSL_CERT_FILE=")
	if strings.Contains(r.stdout, "E2E_OPENAI_KEY") {
		t.Fatal("the env:// source variable reached the child")
	}
	c.noLeak(t, r)
}

func TestCredentialsPythonRequests(t *testing.T) {
	needPython(t)
	if exec.Command(python, "-c", "import requests").Run() != nil {
		t.Skip("needs python3-requests")
	}
	c := newCredWorld(t, "")
	r := c.run("--", python, "-c", `
import os, requests
r = requests.get(os.environ["OPENAI_BASE_URL"] + "/models", headers={"Authorization": "Bearer " + os.environ["OPENAI_API_KEY"]}, timeout=10)
print("STATUS", r.status_code, r.text)
r = requests.get(os.environ["OPENAI_BASE_URL"] + "/models", headers={"Authorization": "Bearer wrong"}, timeout=10)
print("WRONG", r.status_code)
r = requests.get(os.environ["OPENAI_BASE_URL"] + "/models", timeout=10)
print("MISSING", r.status_code)
`)
	mustContain(t, r, r.stdout, "STATUS 200", "gpt-test", "WRONG 401", "MISSING 401")
	if n := strings.Count(c.openai.log(), "/v1/models"); n != 1 {
		t.Fatalf("upstream saw %d requests, want only the authorised one:\n%s", n, c.openai.log())
	}
	c.noLeak(t, r)
}

func TestCredentialsCurlThroughIntercept(t *testing.T) {
	c := newCredWorld(t, "")
	url := fmt.Sprintf("https://api.openai.nono.test:%d/v1/models", c.openai.port)
	// curl ignores *_BASE_URL: it goes through HTTPS_PROXY, the gateway
	// intercepts the credential host and injects; curl trusts CURL_CA_BUNDLE.
	r := c.run("--", "sh", "-c", `curl -sS -m 10 -H "Authorization: Bearer $OPENAI_API_KEY" `+url)
	mustContain(t, r, r.stdout, "gpt-test")
	if !strings.Contains(c.openai.log(), "Bearer "+openaiSecret) {
		t.Fatalf("the upstream did not see the real key via interception:\n%s", c.openai.log())
	}
	// Trailing dot and mixed case are the same intercepted host.
	for _, host := range []string{"api.openai.nono.test.", "API.OpenAI.nono.test"} {
		r = c.run("--", "sh", "-c", fmt.Sprintf(`curl -sS -m 10 -H "Authorization: Bearer $OPENAI_API_KEY" https://%s:%d/v1/models`, host, c.openai.port))
		mustContain(t, r, r.stdout, "gpt-test")
	}
	c.noLeak(t, r)
}

func TestCredentialsReflectionIsScrubbed(t *testing.T) {
	c := newCredWorld(t, "")
	r := c.run("--", "sh", "-c", `curl -sS -i -m 10 -H "Authorization: Bearer $OPENAI_API_KEY" "$OPENAI_BASE_URL/echo"; curl -sS -i -m 10 -X TRACE -H "Authorization: Bearer $OPENAI_API_KEY" "$OPENAI_BASE_URL/echo"`)
	if !strings.Contains(c.openai.log(), "/v1/echo Bearer "+openaiSecret) {
		t.Fatalf("the echo endpoint was not reached with the real key:\n%s", c.openai.log())
	}
	mustContain(t, r, r.stdout, "405")
	c.noLeak(t, r)
}

func TestCredentialsEndpointRules(t *testing.T) {
	c := newCredWorld(t, `[{"method":"POST","path":"/chat/completions"}]`)
	r := c.run("--allow-endpoint", "openai:GET:/models", "--", "sh", "-c", `
for p in /models /echo /models/../echo /%2e%2e/echo "/models%2f..%2fecho" //echo /./echo /models\;x; do
  printf '%s ' "$p"; curl -sS -o /dev/null -w '%{http_code}\n' -m 10 -H "Authorization: Bearer $OPENAI_API_KEY" "$OPENAI_BASE_URL$p"
done
printf 'lower-get '; curl -sS -o /dev/null -w '%{http_code}\n' -X get -m 10 -H "Authorization: Bearer $OPENAI_API_KEY" "$OPENAI_BASE_URL/models"
printf 'intercept-echo '; curl -sS -o /dev/null -w '%{http_code}\n' -m 10 -H "Authorization: Bearer $OPENAI_API_KEY" https://api.openai.nono.test:`+fmt.Sprint(c.openai.port)+`/v1/echo
printf 'intercept-models '; curl -sS -o /dev/null -w '%{http_code}\n' -m 10 -H "Authorization: Bearer $OPENAI_API_KEY" https://api.openai.nono.test:`+fmt.Sprint(c.openai.port)+`/v1/models
`)
	lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
	want := map[string]string{"/models": "200", "/echo": "403", "lower-get": "403", "intercept-echo": "403", "intercept-models": "200"}
	for _, l := range lines {
		f := strings.Fields(l)
		if len(f) != 2 {
			continue
		}
		if w, ok := want[f[0]]; ok && f[1] != w {
			t.Errorf("%s: got %s, want %s", f[0], f[1], w)
		} else if !ok && (f[1] == "200") {
			t.Errorf("bypass attempt %s reached the upstream (%s)", f[0], f[1])
		}
	}
	if strings.Contains(c.openai.log(), "/v1/echo") {
		t.Errorf("a denied endpoint reached the upstream:\n%s", c.openai.log())
	}
	if t.Failed() {
		t.Logf("%s", r)
	}
	c.noLeak(t, r)
}

func TestCredentialsMissingSecretFailsBeforeStart(t *testing.T) {
	c := newCredWorld(t, "")
	marker := filepath.Join(c.work, "ran")
	r := c.nonoEnv([]string{"NONO_DNS_SERVER=" + c.dns.addr}, "run", "--profile", c.profile, "--allow", c.work, "--credential", "openai", "--", "touch", marker)
	if r.code != 1 {
		t.Fatalf("want exit 1 for a missing secret: %s", r)
	}
	mustContain(t, r, r.stderr, "E2E_OPENAI_KEY")
	if _, err := os.Stat(marker); err == nil {
		t.Fatal("the child ran without its credential")
	}
	r = c.nono("run", "--allow", c.work, "--credential", "nosuchservice", "--", "true")
	oneClearError(t, r, "nosuchservice")
	r = c.nono("run", "--allow", c.work, "--allow-endpoint", "openai:GET:/x", "--", "true")
	oneClearError(t, r, "--credential")
	r = c.nono("wrap", "--allow", c.work, "--credential", "openai", "--", "true")
	oneClearError(t, r, "nono wrap does not support proxy flags")
}

// TestCredentialsOnePasswordHelper: with OP_SERVICE_ACCOUNT_TOKEN set, an
// op:// ref goes to nono-op next to nono, which runs the real 1Password SDK.
// A malformed token is refused before the child starts, in one short error
// that names the variable and the ref but not the token. A nono without
// nono-op says how to get it instead of falling back to the op CLI.
func TestCredentialsOnePasswordHelper(t *testing.T) {
	if _, err := os.Stat(filepath.Join(filepath.Dir(nonoBin), "nono-op")); err != nil {
		t.Fatalf("nono-op is not next to %s (go tool task build builds both): %v", nonoBin, err)
	}
	e := newEnv(t)
	const token = "ops_notarealtoken"
	marker := filepath.Join(e.work, "ran")
	args := []string{"run", "--allow", e.work, "--env-credential-map", "op://Vault/Item/field", "E2E_OP_SECRET", "--", "touch", marker}

	r := e.nonoEnv([]string{"OP_SERVICE_ACCOUNT_TOKEN=" + token}, args...)
	// The SDK takes seconds to refuse the token, so nono may first say
	// what it is waiting for (TestCredentialsSlowLoadSaysSo).
	r.stderr = strings.TrimPrefix(r.stderr, "Loading 1 credential from 1Password (up to 90 s)...\n")
	oneClearError(t, r, "OP_SERVICE_ACCOUNT_TOKEN is set")
	mustContain(t, r, r.stderr, "op://Vault/Item/field", "invalid service account token")

	alone := filepath.Join(e.root, "alone")
	if err := os.Mkdir(alone, 0o755); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(nonoBin)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(alone, "nono"), data, 0o755); err != nil {
		t.Fatal(err)
	}
	r2 := e.runBin(filepath.Join(alone, "nono"), []string{"OP_SERVICE_ACCOUNT_TOKEN=" + token}, args...)
	oneClearError(t, r2, "helper nono-op, which is neither next to nono")
	mustContain(t, r2, r2.stderr, "go install github.com/nono-sandbox/nono/cmd/nono-op@latest", "unset OP_SERVICE_ACCOUNT_TOKEN")

	for _, res := range []result{r, r2} {
		if strings.Contains(res.stderr+res.stdout, "notarealtoken") {
			t.Fatalf("the token appears in nono's output: %s", res)
		}
	}
	if _, err := os.Stat(marker); err == nil {
		t.Fatal("the child ran although its credential failed to load")
	}
}

// TestCredentialsSlowLoadSaysSo: a secret store that takes a while (here
// an `op` CLI stub that sleeps, as a biometric unlock would) gets one line
// saying what nono is waiting for; a fast one gets none. Neither names the
// secret.
func TestCredentialsSlowLoadSaysSo(t *testing.T) {
	e := newEnv(t)
	stub := filepath.Join(e.root, "stub")
	if err := os.MkdirAll(stub, 0o755); err != nil {
		t.Fatal(err)
	}
	script := "#!/bin/sh\n[ \"$1\" = read ] || exit 2\ncase \"$3\" in *slow*) sleep 1.6 ;; esac\nprintf 'sk-stub-secret-value\\n'\n"
	if err := os.WriteFile(filepath.Join(stub, "op"), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		ref    string
		notice bool
	}{{"op://Dev/slow/credential", true}, {"op://Dev/fast/credential", false}} {
		prof := filepath.Join(e.root, "p.json")
		if err := os.WriteFile(prof, []byte(`{"meta": {"name": "slow"}, "network": {"custom_credentials": {"svc": {
		  "upstream": "https://api.svc.test", "credential_key": "`+c.ref+`", "env_var": "SVC_API_KEY"}}}}`), 0o644); err != nil {
			t.Fatal(err)
		}
		r := e.nonoEnv([]string{"PATH=" + stub + ":/usr/local/bin:/usr/bin:/bin"}, "run", "--profile", prof, "--allow", e.work, "--credential", "svc", "--", "true")
		if r.code != 0 || strings.Contains(r.stdout+r.stderr, "sk-stub-secret-value") {
			t.Fatalf("%s: %s", c.ref, r)
		}
		if got := strings.Contains(r.stderr, "Loading 1 credential from 1Password (up to 90 s)..."); got != c.notice {
			t.Fatalf("%s: notice printed %v, want %v: %s", c.ref, got, c.notice, r)
		}
	}
}
