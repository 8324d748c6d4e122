#!/usr/bin/env bash
# Webhook saturation throughput, one load generator command for all three servers:
#   bare hyper (constant body), mo2fa serve (signature checked, code matched), Node.js Hono
#   (the same handlers in JavaScript, benches/hono/server.mjs).
# Each server gets its own fixture of unique signed deliveries for codes it issued itself,
# replayed by wrk (benches/webhook.lua). Needs wrk (apt-get install wrk) and node/npm.
#   Usage: benches/compare.sh            (DUR=5s COUNT=800000 CONNS=64 to change)
# COUNT must cover the run (req/s x seconds), or the tail replays deliveries already verified.
# SERVER_CPUS / WRK_CPUS (taskset lists, e.g. SERVER_CPUS=0-1 WRK_CPUS=2-3) keep the load
# generator off the server's cores; unset, they share all cores as the issue's figures assume.
# TOKIO_WORKER_THREADS=1 gives both Rust servers one runtime worker (mo2fa serve --workers 1);
# Node is single-threaded anyway.
set -euo pipefail
cd "$(dirname "$0")/.."
DUR=${DUR:-5s}
COUNT=${COUNT:-800000}
CONNS=${CONNS:-64}
# SERVE_ARGS: extra `mo2fa serve` flags (e.g. "--runtime per-core"); SERVERS: which to run.
SERVE_ARGS=${SERVE_ARGS:-}
SERVERS=${SERVERS:-bare-hyper mo2fa hono}
on() { # cpus command...: becomes the command, on those cores or anywhere if none are named.
  # Only ever run in the background (`on ... &`): the exec keeps `$!` the command's own pid.
  local cpus=$1; shift
  if [ -n "$cpus" ]; then exec taskset -c "$cpus" "$@"; else exec "$@"; fi
}
export MO2FA_WEBHOOK_SECRET=${MO2FA_WEBHOOK_SECRET:-compare-secret}

# MO2FA=path runs that binary as mo2fa (e.g. a copy of another branch's build, to alternate
# two builds in the same minutes); BUILD=0 skips cargo (the benches already built).
MO2FA=${MO2FA:-target/release/mo2fa}
[ "${BUILD:-1}" = 0 ] || cargo build --release --quiet --bin mo2fa --bench bare_hyper --bench webhook_fixture
bin() { ls -t target/release/deps/"$1"-* | grep -v '\.d$' | head -1; }
BARE=$(bin bare_hyper)
FIXTURE_GEN=$(bin webhook_fixture)
case " $SERVERS " in *" hono "*) (cd benches/hono && npm install --silent --no-audit --no-fund) ;; esac
FIXTURE=$(mktemp)
RESULTS=$(mktemp)
trap 'rm -f "$FIXTURE" "$RESULTS"; kill $(jobs -p) 2>/dev/null || true' EXIT

measure() { # name port command...
  local name=$1 port=$2; shift 2
  on "${SERVER_CPUS:-}" "$@" >/dev/null 2>&1 &
  local pid=$!
  for _ in $(seq 50); do curl -s -o /dev/null "http://127.0.0.1:$port/" && break; sleep 0.1; done
  if [ "$name" = bare-hyper ]; then
    # The baseline issues no codes; it is fed deliveries made against mo2fa.
    "$MO2FA" serve --addr 127.0.0.1:18199 >/dev/null 2>&1 & local helper=$!
    sleep 0.5; "$FIXTURE_GEN" http://127.0.0.1:18199 "$COUNT" "$FIXTURE" 2>/dev/null; kill $helper
  else
    "$FIXTURE_GEN" "http://127.0.0.1:$port" "$COUNT" "$FIXTURE" 2>/dev/null
  fi
  # CPU time per request, server and wrk apart, from /proc: where the cores went. Counted
  # from the first request (the server starting to burn CPU), so wrk's Lua init, which loads
  # the fixture, is not charged to the requests.
  local out; out=$(mktemp)
  FIXTURE=$FIXTURE on "${WRK_CPUS:-}" bash -c 'wrk "$@"; echo "wrk-ticks $(awk "{print \$16+\$17}" /proc/$$/stat)"' \
    wrk -t1 -c"$CONNS" -d"$DUR" -s benches/webhook.lua "http://127.0.0.1:$port" >"$out" &
  local wrapper=$! wrk_pid="" idle before wrk_init after
  until [ -n "$wrk_pid" ]; do
    kill -0 $wrapper 2>/dev/null || { cat "$out" >&2; echo "$name: wrk did not start" >&2; exit 1; }
    wrk_pid=$(pgrep -P $wrapper -x wrk || true); sleep 0.01
  done
  idle=$(cpu_ticks "$pid")
  while [ "$(cpu_ticks "$pid")" -le $((idle + 2)) ] && kill -0 "$wrk_pid" 2>/dev/null; do sleep 0.01; done
  wrk_init=$(cpu_ticks "$wrk_pid"); before=$(cpu_ticks "$pid")
  wait $wrapper
  after=$(cpu_ticks "$pid")
  kill $pid; wait $pid 2>/dev/null || true
  # A delivery sent twice is answered from the dedupe record (cheaper): report how many were.
  awk -v name="$name" -v server=$((after - before)) -v init="$wrk_init" -v count="$COUNT" \
      -v hz="$(getconf CLK_TCK)" '
    /requests in/ { n = $1 } /Requests\/sec/ { rps = $2 } /^wrk-ticks/ { wrk = $2 - init }
    /Non-2xx/ { bad = $NF }
    END { printf "%s %s %.2f %.2f %d %d\n", name, rps, server / hz * 1e6 / n, wrk / hz * 1e6 / n,
          (n > count ? n - count : 0), bad }' "$out"
  rm -f "$out"
}
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }

echo "cores: server ${SERVER_CPUS:-any}, wrk ${WRK_CPUS:-any}; tokio workers: ${TOKIO_WORKER_THREADS:-one per core}"
echo "mo2fa serve flags: ${SERVE_ARGS:-none}"
echo "command: wrk -t1 -c$CONNS -d$DUR -s benches/webhook.lua (unique signed deliveries, $COUNT per server)"
{
  for s in $SERVERS; do
    case $s in
      bare-hyper) measure bare-hyper 18101 "$BARE" 127.0.0.1:18101 ;;
      # shellcheck disable=SC2086 # SERVE_ARGS is a list of flags
      mo2fa) measure mo2fa 18102 "$MO2FA" serve --addr 127.0.0.1:18102 $SERVE_ARGS ;;
      hono) measure hono 18103 node benches/hono/server.mjs 18103 ;;
    esac
  done
} | tee "$RESULTS"
awk '{r[$1]=$2; s[$1]=$3; w[$1]=$4; rep[$1]=$5; bad[$1]=$6} END {
  printf "\n%-12s %10s %18s %15s %9s %9s\n", "server", "req/s", "server CPU µs/req", "wrk CPU µs/req", "replayed", "non-2xx"
  # The baseline verifies nothing, so its replays cost it nothing either.
  for (k in r) printf "%-12s %10.0f %18.2f %15.2f %9s %9d\n", k, r[k], s[k], w[k], (k == "bare-hyper" ? "-" : rep[k]), bad[k]
  if (r["bare-hyper"] && r["mo2fa"]) {
    printf "\nmo2fa / bare hyper = %.2f (target >= 0.85)\n", r["mo2fa"]/r["bare-hyper"]
    printf "server CPU per request, mo2fa - bare hyper = %.2f µs (target <= 2.0)\n", s["mo2fa"]-s["bare-hyper"]
  }
  if (r["hono"] && r["mo2fa"]) printf "mo2fa / hono       = %.2f (target >= 2)\n", r["mo2fa"]/r["hono"]
}' "$RESULTS"
