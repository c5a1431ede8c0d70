#!/usr/bin/env bash
# Cold start of `true`, side by side in one hyperfine run: bare, nono wrap,
# nono run, bubblewrap and Anthropic's sandbox-runtime (srt).
# Usage: bench/coldstart.sh [RUNS]   (needs: hyperfine, bubblewrap, socat, npm)
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-200}
out=bench/out; mkdir -p "$out"
go tool task build >/dev/null
nono=$PWD/bin/nono
work=$(mktemp -d /var/tmp/nono-bench-XXXXXX); trap 'rm -rf "$work"' EXIT
cd "$work"

cmds=(-n bare 'true'
      -n 'nono wrap' "$nono wrap --allow . -- true"
      -n 'nono run' "$nono run --allow . -- true"
      -n bwrap 'bwrap --ro-bind / / --dev /dev --proc /proc true')

# sandbox-runtime from npm, installed beside the bench (never committed).
srtdir=/var/tmp/nono-bench-srt
if [ ! -x "$srtdir/node_modules/.bin/srt" ]; then
  npm install --silent --prefix "$srtdir" @anthropic-ai/sandbox-runtime@0.0.83 >/dev/null 2>&1 || true
fi
if [ -x "$srtdir/node_modules/.bin/srt" ]; then
  cat > srt.json <<'JSON'
{"network":{"allowedDomains":[],"deniedDomains":[]},
 "filesystem":{"denyRead":[],"allowWrite":["."],"denyWrite":[]}}
JSON
  cmds+=(-n srt "$srtdir/node_modules/.bin/srt -s $work/srt.json -- true")
else
  echo "srt unavailable (npm install failed); benchmarking without it" >&2
fi

hyperfine -N --warmup 20 --runs "$runs" --export-json "$OLDPWD/$out/coldstart.json" "${cmds[@]}"
python3 - "$OLDPWD/$out/coldstart.json" <<'PY'
import json, sys
r = {x["command"]: x for x in json.load(open(sys.argv[1]))["results"]}
ms = {k: v["mean"] * 1000 for k, v in r.items()}
print("\n| setup | mean ms | ± | vs bare | vs nono wrap |")
print("|---|---|---|---|---|")
for k, v in r.items():
    print(f"| {k} | {ms[k]:.2f} | {v['stddev']*1000:.2f} | {ms[k]/ms['bare']:.2f}x | {ms[k]/ms['nono wrap']:.2f}x |")
print(f"\nnono run / nono wrap = {ms['nono run']/ms['nono wrap']:.2f} (goal <= 1.5)")
print(f"bwrap / nono wrap = {ms['bwrap']/ms['nono wrap']:.2f}, bwrap / nono run = {ms['bwrap']/ms['nono run']:.2f} (goal > 1)")
PY
