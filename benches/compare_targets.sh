#!/usr/bin/env bash
# The same `mo2fa bench http` command against three verifiers on loopback, each through its
# profile: mo2fa serve (profile mo2fa), the Hono baseline (benches/hono, mo2fa's API in Node:
# profile mo2fa) and the article-shaped demo (benches/hono-demo: profile blooio-demo). Each run
# gets a fresh server; REPS runs each, interleaved, so that a burst of load on a shared machine
# does not fall on one server only. Prints one line per run and the medians, and fails (exit 1,
# naming the run and the end of its log) when a run wrote no complete bench.json.
#   Usage: benches/compare_targets.sh        (REPS=3 STEP=1 DURATION=3 to change)
#   KEEP=DIR keeps every run's bench.json, bench log and server log in DIR; NAMES="mo2fa demo"
#   runs only those of the three (mo2fa, hono, demo).
# Needs a release build (cargo build --release --bin mo2fa, or MO2FA_BIN=path) and node with
# `npm ci` done in benches/hono and benches/hono-demo.
set -euo pipefail
cd "$(dirname "$0")/.."
REPS=${REPS:-3}
STEP=${STEP:-1}
DURATION=${DURATION:-3}
NAMES=${NAMES:-mo2fa hono demo}
# RATE=N measures latency at N requests/s offered instead of searching for the saturation.
RATE_ARGS=()
[ -n "${RATE:-}" ] && RATE_ARGS=(--rate "$RATE")
BIN=${MO2FA_BIN:-target/release/mo2fa}
[ -x "$BIN" ] || { echo "$BIN: no such binary (cargo build --release --bin mo2fa)" >&2; exit 1; }
export MO2FA_WEBHOOK_SECRET=${MO2FA_WEBHOOK_SECRET:-compare-targets-secret}
if [ -n "${KEEP:-}" ]; then
  mkdir -p "$KEEP"
  OUT=$(cd "$KEEP" && pwd)
else
  OUT=$(mktemp -d)
fi
pid=""
cleanup() {
  if [ -n "$pid" ]; then kill "$pid" 2>/dev/null || true; fi
  [ -n "${KEEP:-}" ] || rm -rf "$OUT"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

start() { # name port log: the server in the background, its pid in $pid, once it answers
  case $1 in
    mo2fa) "$BIN" serve --addr "127.0.0.1:$2" >"$3" 2>&1 & pid=$! ;;
    hono) node benches/hono/server.mjs "$2" >"$3" 2>&1 & pid=$! ;;
    # The demo logs a line per verification (a few MB a run, in the temporary directory).
    demo) node benches/hono-demo/server.mjs "$2" >"$3" 2>&1 & pid=$! ;;
  esac
  for _ in $(seq 100); do
    curl -s -o /dev/null "http://127.0.0.1:$2/" && return
    sleep 0.1
  done
  echo "$1 did not start on port $2; its log:" >&2
  tail -5 "$3" >&2
  stop
  exit 1
}

stop() { # the server started last
  kill "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  pid=""
}

echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "command: $BIN bench http --target URL --profile P --endpoint start --endpoint webhook --step $STEP --duration $DURATION ${RATE_ARGS[*]}"
for rep in $(seq "$REPS"); do
  for name in $NAMES; do
    profile=mo2fa; [ $name = demo ] && profile=blooio-demo
    port=$(free_port)
    dir="$OUT/$name-$rep"
    start $name "$port" "$dir.server.log"
    url="http://127.0.0.1:$port"
    status=0
    "$BIN" bench http --target "$url" --profile $profile --endpoint start --endpoint webhook \
      --step "$STEP" --duration "$DURATION" "${RATE_ARGS[@]}" --out "$dir" >"$dir.log" 2>&1 || status=$?
    stop
    python3 - "$name" "$rep" "$dir/bench.json" "$status" <<'EOF'
import json, sys
name, rep, path, status = sys.argv[1:]
try:
    b = json.load(open(path))
except OSError:
    print(f"{name}\t{rep}\tno bench.json (bench exited {status})"); sys.exit()
row = {e["endpoint"]: e for e in b["endpoints"]}
steps = {s["endpoint"]: s["steps"] for s in (b.get("search") or {}).get("endpoints", [])}
def f(e):
    # saturation (- when no step kept up), the highest rate a search step achieved, and the
    # measured step's p50 and p99 ms
    r = row.get(e)
    if not r: return "- - - -"
    sat = r["saturation_per_s"]
    best = max((s["achieved_per_s"] for s in steps.get(e, [])), default=r["achieved_per_s"])
    return f'{"-" if sat is None else f"{sat:.0f}"} {best:.0f} {r["latency_ms"]["p50"]:.3f} {r["latency_ms"]["p99"]:.3f}'
print(name, rep, f("start"), f("webhook"), (row.get("webhook") or {}).get("seen") or "", sep="\t")
EOF
  done
  echo "load average after rep $rep: $(cut -d' ' -f1-3 /proc/loadavg)"
done | tee "$OUT/runs.txt"
echo "medians of the runs, start then webhook: saturation/s (of the runs whose search kept up at"
echo "a step), highest rate a search step achieved /s, p50 ms, p99 ms (measured at half the"
echo "saturation, or of the highest rate achieved when no step kept up):"
python3 - "$OUT/runs.txt" <<'EOF'
import statistics, sys
rows = {}
for line in open(sys.argv[1]):
    parts = line.rstrip("\n").split("\t")
    if len(parts) < 4 or parts[2].startswith("no "):
        continue
    rows.setdefault(parts[0], []).append(parts[2].split() + parts[3].split())
for name, runs in rows.items():
    out = []
    for i, col in enumerate(zip(*runs)):
        known = [float(v) for v in col if v != "-"]
        m = statistics.median(known) if known else None
        if i % 4 == 0:
            out.append("-" if m is None else f"{m:.0f} ({len(known)} of {len(col)} runs)")
        else:
            out.append("-" if m is None else (f"{m:.0f}" if i % 4 == 1 else f"{m:.3f}"))
    print(name, len(runs), "runs:", "start", *out[:4], "webhook", *out[4:])
EOF

# Every run must have written a report with both endpoints measured: a missing one fails the
# script, with the end of that run's log, instead of a shorter median.
missing=0
runs=$((REPS * $(wc -w <<<"$NAMES")))
for rep in $(seq "$REPS"); do
  for name in $NAMES; do
    dir="$OUT/$name-$rep"
    if ! python3 -c 'import json, sys
b = json.load(open(sys.argv[1]))
names = {e["endpoint"] for e in b["endpoints"]}
sys.exit(0 if {"start", "webhook"} <= names else 1)' "$dir/bench.json" 2>/dev/null; then
      echo "FAIL $name run $rep wrote no bench.json with start and webhook; the end of its log:" >&2
      tail -5 "$dir.log" >&2 || true
      missing=$((missing + 1))
    fi
  done
done
if [ "$missing" -gt 0 ]; then
  echo "compare_targets: $missing of $runs runs wrote no complete report" >&2
  exit 1
fi
echo "compare_targets: all $runs runs wrote bench.json"
