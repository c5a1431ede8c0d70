#!/usr/bin/env bash
# Cold start of `true`, side by side in one hyperfine run: bare, nono wrap,
# nono run, bubblewrap and Anthropic's sandbox-runtime (srt).
# Usage: [REPEAT=2] bench/coldstart.sh [RUNS]   (REPEAT whole hyperfine runs; the table shows each and the median)
#   needs: hyperfine, bubblewrap, socat, ripgrep (srt refuses to start without rg), npm
#   NONO_BIN=/path/to/nono uses that binary instead of building bin/nono.
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-200}
out=bench/out; mkdir -p "$out"
for tool in hyperfine bwrap python3; do
  command -v "$tool" >/dev/null || { echo "missing $tool: apt-get install -y hyperfine bubblewrap socat ripgrep python3" >&2; exit 1; }
done
if [ -n "${NONO_BIN:-}" ]; then
  nono=$(realpath "$NONO_BIN")
else
  go tool task build >/dev/null
  nono=$PWD/bin/nono
fi
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
  if "$srtdir/node_modules/.bin/srt" -s "$work/srt.json" -- true; then
    cmds+=(-n srt "$srtdir/node_modules/.bin/srt -s $work/srt.json -- true")
  else
    echo "srt is installed but 'srt -- true' failed (needs bwrap, socat, rg); benchmarking without it" >&2
  fi
else
  echo "srt unavailable (npm install failed); benchmarking without it" >&2
fi

repeat=${REPEAT:-2}
files=()
for i in $(seq 1 "$repeat"); do
  f="$OLDPWD/$out/coldstart-$i.json"
  # -i: srt occasionally exits 1 under load; failures are counted per setup
  # in the table instead of aborting the whole run.
  hyperfine -N -i --warmup 20 --runs "$runs" --export-json "$f" "${cmds[@]}"
  files+=("$f")
done
# Interleaved pass (bench/interleave): the four fast setups in alternating
# rounds, so drift in this shared machine's speed hits each alike. hyperfine
# runs all of one command before the next, which moved run/wrap by 0.18
# between the two methods in one hour (bench/README.md, run 8).
inter="$OLDPWD/$out/coldstart-interleaved.txt"
(cd "$OLDPWD" && go build -o "$work/interleave" ./bench/interleave)
"$work/interleave" -n "$runs" true "$nono wrap --allow . -- true" "$nono run --allow . -- true" \
  "bwrap --ro-bind / / --dev /dev --proc /proc true" > "$inter"
INTERLEAVED="$inter" python3 - "${files[@]}" > "$OLDPWD/$out/coldstart.md" <<'PY'
import json, os, re, sys, statistics
runs = [{x["command"]: x for x in json.load(open(f))["results"]} for f in sys.argv[1:]]
names = list(runs[0])
# per setup: mean of each repeat, then the median across repeats
means = {k: [r[k]["mean"] * 1000 for r in runs] for k in names}
ms = {k: statistics.median(v) for k, v in means.items()}
fails = {k: sum(sum(1 for c in r[k].get("exit_codes", []) if c) for r in runs) for k in names}
print(f"| setup | mean ms per run ({len(runs)} runs) | median ms | vs bare | vs nono wrap | failed runs |")
print("|---|---|---|---|---|---|")
for k in names:
    each = " / ".join(f"{m:.2f}" for m in means[k])
    print(f"| {k} | {each} | {ms[k]:.2f} | {ms[k]/ms['bare']:.2f}x | {ms[k]/ms['nono wrap']:.2f}x | {fails[k]} |")
def goals(ms):
    ratio = ms['nono run'] / ms['nono wrap']
    print(f"\n- nono run / nono wrap = {ratio:.2f} (goal <= 1.5: {'met' if ratio <= 1.5 else 'MISSED'})")
    for k in ('nono wrap', 'nono run'):
        r = ms['bwrap'] / ms[k]
        print(f"- bwrap / {k} = {r:.2f} (goal > 1: {'met' if r > 1 else 'MISSED'})")
goals(ms)
med = [float(m.group(1)) for m in (re.search(r"\smedian ([0-9.]+)", l) for l in open(os.environ["INTERLEAVED"])) if m]
if len(med) == 4:
    im = dict(zip(["bare", "nono wrap", "nono run", "bwrap"], med))
    print("\nInterleaved (bench/interleave, same rounds for all four):\n")
    print("| setup | median ms | vs bare | vs nono wrap |\n|---|---|---|---|")
    for k, v in im.items():
        print(f"| {k} | {v:.2f} | {v/im['bare']:.2f}x | {v/im['nono wrap']:.2f}x |")
    goals(im)
PY
cat "$OLDPWD/$out/coldstart.md"
