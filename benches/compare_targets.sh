#!/usr/bin/env bash
# The same `mo2fa bench http` command against three verifiers on loopback, each through its
# profile: mo2fa serve (profile mo2fa), the Hono baseline (benches/hono, mo2fa's API in Node:
# profile mo2fa) and the article-shaped demo (benches/hono-demo: profile blooio-demo). Each run
# gets a fresh server; REPS runs each, interleaved, so that a burst of load on a shared machine
# does not fall on one server only. Prints one line per run and the medians.
#   Usage: benches/compare_targets.sh        (REPS=3 STEP=1 DURATION=3 to change)
# Needs a release build (cargo build --release --bin mo2fa) and node with `npm ci` done in
# benches/hono and benches/hono-demo.
set -euo pipefail
cd "$(dirname "$0")/.."
REPS=${REPS:-3}
STEP=${STEP:-1}
DURATION=${DURATION:-3}
# RATE=N measures latency at N requests/s offered instead of searching for the saturation.
RATE_ARGS=()
[ -n "${RATE:-}" ] && RATE_ARGS=(--rate "$RATE")
BIN=target/release/mo2fa
export MO2FA_WEBHOOK_SECRET=${MO2FA_WEBHOOK_SECRET:-compare-targets-secret}
OUT=$(mktemp -d)
pid=""
trap '[ -n "$pid" ] && kill $pid 2>/dev/null; rm -rf "$OUT"' EXIT

free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

start() { # name port: the server in the background, its pid in $pid, once it answers
  case $1 in
    mo2fa) $BIN serve --addr "127.0.0.1:$2" >/dev/null 2>&1 & pid=$! ;;
    hono) node benches/hono/server.mjs "$2" >/dev/null 2>&1 & pid=$! ;;
    # The demo logs every verification to stdout: not kept.
    demo) node benches/hono-demo/server.mjs "$2" >/dev/null 2>&1 & pid=$! ;;
  esac
  for _ in $(seq 100); do
    curl -s -o /dev/null "http://127.0.0.1:$2/" && return
    sleep 0.1
  done
  echo "$1 did not start" >&2; exit 1
}

echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "command: $BIN bench http --target URL --profile P --endpoint start --endpoint webhook --step $STEP --duration $DURATION ${RATE_ARGS[*]}"
for rep in $(seq "$REPS"); do
  for name in mo2fa hono demo; do
    profile=mo2fa; [ $name = demo ] && profile=blooio-demo
    port=$(free_port)
    start $name "$port"
    url="http://127.0.0.1:$port"
    dir="$OUT/$name-$rep"
    $BIN bench http --target "$url" --profile $profile --endpoint start --endpoint webhook \
      --step "$STEP" --duration "$DURATION" "${RATE_ARGS[@]}" --out "$dir" >/dev/null 2>&1 || true
    kill $pid; wait $pid 2>/dev/null || true; pid=""
    python3 - "$name" "$rep" "$dir/bench.json" <<'EOF'
import json, sys
name, rep, path = sys.argv[1:]
try:
    b = json.load(open(path))
except OSError:
    print(f"{name} {rep} no bench.json"); sys.exit()
row = {e["endpoint"]: e for e in b["endpoints"]}
def f(e):
    r = row.get(e)
    if not r: return "- - -"
    return f'{r["saturation_per_s"] or r["achieved_per_s"]:.0f} {r["latency_ms"]["p50"]:.3f} {r["latency_ms"]["p99"]:.3f}'
print(name, rep, f("start"), f("webhook"), (row.get("webhook") or {}).get("seen") or "", sep="\t")
EOF
  done
  echo "load average after rep $rep: $(cut -d' ' -f1-3 /proc/loadavg)"
done | tee "$OUT/runs.txt"
echo "medians (saturation/s, p50 ms, p99 ms at half of it; start then webhook):"
python3 - "$OUT/runs.txt" <<'EOF'
import statistics, sys
rows = {}
for line in open(sys.argv[1]):
    parts = line.rstrip("\n").split("\t")
    if len(parts) < 4 or parts[2].startswith("-"):
        continue
    rows.setdefault(parts[0], []).append([float(x) for x in (parts[2] + " " + parts[3]).split()])
for name, runs in rows.items():
    med = [statistics.median(col) for col in zip(*runs)]
    print(name, len(runs), "runs:", " ".join(f"{v:.3f}" if i % 3 else f"{v:.0f}" for i, v in enumerate(med)))
EOF
