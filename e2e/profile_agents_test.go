package e2e

import (
	"strings"
	"testing"
)

// TestAgentProfilesRunStartupPaths runs, under each built-in agent and
// language profile, a stand-in script that touches the files the real
// agent or toolchain touches when it starts (config, caches, state, the
// workspace), and checks every step succeeds while ~/.ssh stays unreadable.
func TestAgentProfilesRunStartupPaths(t *testing.T) {
	cases := map[string]struct {
		setup  []string // files created in the fake HOME beforehand
		script string   // run with HOME set; $W is the workspace
	}{
		"claude-code": {
			setup: []string{".claude/settings.json", ".claude.json", ".gitconfig", ".cache/claude/.keep"},
			script: `cat ~/.claude/settings.json >/dev/null && mkdir -p ~/.claude/projects/w && echo '{}' > ~/.claude/projects/w/s.jsonl &&
echo '{"numStartups":2}' > ~/.claude.json && cat ~/.gitconfig >/dev/null && mkdir -p ~/.cache/claude/x && echo note > "$W/CLAUDE.md"`,
		},
		"codex": {
			setup:  []string{".codex/config.toml", ".gitconfig"},
			script: `cat ~/.codex/config.toml >/dev/null && mkdir -p ~/.codex/sessions && echo s > ~/.codex/sessions/1.jsonl && cat ~/.gitconfig >/dev/null && echo x > "$W/out.txt"`,
		},
		"opencode": {
			setup: []string{".config/opencode/opencode.json", ".local/share/opencode/.keep", ".local/state/opencode/.keep", ".cache/opencode/.keep"},
			script: `cat ~/.config/opencode/opencode.json >/dev/null && echo s > ~/.local/share/opencode/session && echo k > ~/.local/state/opencode/kv &&
echo c > ~/.cache/opencode/c && echo x > "$W/out.txt"`,
		},
		"openclaw": {
			setup:  []string{".openclaw/openclaw.json", ".config/openclaw/.keep"},
			script: `cat ~/.openclaw/openclaw.json >/dev/null && echo s > ~/.openclaw/state && echo c > ~/.config/openclaw/c && ls "$W" >/dev/null`,
		},
		"python-dev": {
			setup:  []string{".pyenv/version", ".local/lib/python3/site.py"},
			script: `cat ~/.pyenv/version ~/.local/lib/python3/site.py >/dev/null && /usr/bin/python3 -c 'print(1)' >/dev/null && echo x > "$W/out.txt"`,
		},
		"node-dev": {
			setup:  []string{".npm/_cacache/index", ".nvm/alias/default"},
			script: `cat ~/.npm/_cacache/index ~/.nvm/alias/default >/dev/null && echo x > "$W/package.json"`,
		},
		"go-dev": {
			setup:  []string{"go/pkg/mod/cache/x", ".cache/go-build/README"},
			script: `cat ~/go/pkg/mod/cache/x >/dev/null && mkdir -p ~/.cache/go-build/00 && echo o > ~/.cache/go-build/00/o && echo x > "$W/main.go"`,
		},
		"java-dev": {
			setup:  []string{".m2/repository/org/x.pom", ".gradle/caches/modules-2/x", ".sdkman/candidates/java/current"},
			script: `cat ~/.m2/repository/org/x.pom ~/.gradle/caches/modules-2/x ~/.sdkman/candidates/java/current >/dev/null && echo x > "$W/pom.xml"`,
		},
		"bun-dev": {
			setup:  []string{".bun/install/global/x"},
			script: `cat ~/.bun/install/global/x >/dev/null && echo x > "$W/bun.lockb"`,
		},
		"mise-dev": {
			setup:  []string{".config/mise/config.toml", ".local/share/mise/installs/x"},
			script: `cat ~/.config/mise/config.toml ~/.local/share/mise/installs/x >/dev/null && echo x > "$W/.tool-versions"`,
		},
		"linux-host-compat": {
			script: `ls /run /sys/class /tmp >/dev/null && cat /proc/cpuinfo /sys/devices/system/cpu/online >/dev/null`,
		},
		"rust-dev": {
			setup:  []string{".cargo/config.toml", ".rustup/settings.toml"},
			script: `cat ~/.cargo/config.toml ~/.rustup/settings.toml >/dev/null && echo x > "$W/Cargo.toml"`,
		},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			e := newEnv(t)
			for _, f := range c.setup {
				e.write(f, "x")
			}
			script := "set -e; W=" + e.work + "; " + c.script + "; if cat ~/.ssh/id_ed25519 2>/dev/null; then echo SSH-READABLE; fi; echo STARTED"
			r := e.nono("run", "--profile", name, "--allow-cwd", "--", "sh", "-c", script)
			if r.code != 0 || !strings.Contains(r.stdout, "STARTED") {
				t.Fatalf("%s could not run its startup paths: %s", name, r)
			}
			if strings.Contains(r.stdout, "SSH-READABLE") || strings.Contains(r.stdout, "SECRET") {
				t.Fatalf("%s can read ~/.ssh: %s", name, r)
			}
		})
	}
}
