#!/bin/bash
# A provider retry storm against `mo2fa serve` on Redis, with Redis paused mid-run
# (docs/performance.md, "Retry storms"). For each server setting it:
#   - starts `mo2fa serve --store redis://` (one worker, --redis-timeout-ms 5000, so a request
#     waits out the pause instead of failing first) with the setting's flags;
#   - runs `mo2fa bench http --endpoint webhook` at 400 deliveries/s for 12 s over 256
#     connections, as a provider with a 1 s timeout and 5 retries (backoff 0.5 s doubling);
#   - pauses Redis for 3 s (`CLIENT PAUSE 3000 ALL`) once 800 deliveries were answered;
#   - prints the bench's table and the server's counters over the run, and the peak of
#     mo2fa_in_flight_requests sampled every 0.25 s.
# Needs redis-server and redis-cli (apt-get install redis-server) and curl. Everything runs on
# 127.0.0.1; the Redis it starts is its own, on a free port, and is stopped at the end.
# usage: benches/retry_storm.sh [MO2FA_BINARY]   (default target/release/mo2fa)
set -eu
bin=${1:-target/release/mo2fa}
out=$(mktemp -d /tmp/mo2fa-retry-storm.XXXXXX)
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
redis-server --port "$port" --bind 127.0.0.1 --save "" --appendonly no --daemonize yes \
  --pidfile "$out/redis.pid" --logfile "$out/redis.log"
spid=
cleanup() {
  [ -n "$spid" ] && kill "$spid" 2>/dev/null || true
  [ -f "$out/redis.pid" ] && kill "$(cat "$out/redis.pid")" 2>/dev/null || true
}
trap cleanup EXIT
for i in $(seq 50); do redis-cli -p "$port" ping >/dev/null 2>&1 && break; sleep 0.1; done
export MO2FA_WEBHOOK_SECRET=retry-storm-secret

# counter NAME FILE: the sample's value (0 if absent).
counter() { grep -F "$1 " "$2" | grep -v '^#' | awk '{print $2}' | head -1 || true; }

storm() {
  local name=$1; shift
  local dir=$out/$name; mkdir -p "$dir"
  "$bin" serve --addr 127.0.0.1:0 --store "redis://127.0.0.1:$port" --redis-prefix "storm-$name:" \
    --redis-timeout-ms 5000 --workers 1 "$@" > "$dir/serve.out" 2> "$dir/serve.err" &
  spid=$!
  for i in $(seq 100); do grep -q listening "$dir/serve.out" 2>/dev/null && break; sleep 0.1; done
  local url; url=$(sed -n 's/^mo2fa listening on //p' "$dir/serve.out")
  curl -s "$url/metrics" > "$dir/before.prom"
  "$bin" bench http --target "$url" --endpoint webhook --rate 400 --duration 12s --connections 256 \
    --retries 5 --timeout 1s --backoff 500ms --max-backoff 8s --retry-seed 28 --out "$dir/bench" \
    > "$dir/bench.out" 2> "$dir/bench.err" &
  local bpid=$!
  for i in $(seq 600); do
    local n; n=$(curl -s "$url/metrics" | sed -n 's/^mo2fa_responses_total{route="webhook",class="2xx"} //p')
    [ "${n:-0}" -ge 800 ] && break; sleep 0.1
  done
  redis-cli -p "$port" CLIENT PAUSE 3000 ALL > /dev/null
  local peak=0
  for i in $(seq 40); do
    local f; f=$(curl -s "$url/metrics" | sed -n 's/^mo2fa_in_flight_requests //p')
    [ "${f:-0}" -gt "$peak" ] && peak=$f; sleep 0.25
  done
  wait "$bpid" || true
  sleep 6  # attempts abandoned at the provider may still be finishing at the server
  curl -s "$url/metrics" > "$dir/after.prom"
  kill "$spid"; wait "$spid" 2>/dev/null || true; spid=
  echo "== serve $* =="
  cat "$dir/bench.out"
  for k in mo2fa_verifications_total mo2fa_messages_total mo2fa_duplicate_deliveries_total \
      mo2fa_no_match_total 'mo2fa_shed_total{route="webhook"}' \
      'mo2fa_responses_total{route="webhook",class="2xx"}' \
      'mo2fa_responses_total{route="webhook",class="5xx"}'; do
    echo "  $k $(( $(counter "$k" "$dir/after.prom") - $(counter "$k" "$dir/before.prom") ))"
  done
  echo "  peak mo2fa_in_flight_requests $peak (0 when shedding is off)"
}

storm off --max-in-flight 0
storm default
storm bounded --max-in-flight 64
echo "(files in $out)"
