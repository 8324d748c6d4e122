#!/usr/bin/env bash
# The alert rules (deploy/prometheus/alerts.yml) in a real Prometheus scraping a real
# `mo2fa serve --sms-defences`, end to end, on loopback, in about a minute:
#
# - pumping: legit SMS users from US and GB, then a pumping wave to MA (tests/ops_traffic.py,
#   scenarios/pumping-wave.toml's shape); the pumping alerts (spend, conversion, new
#   destination) must fire for MA, and no alert for another country;
# - legit only: the same users without the wave; no alert may even be pending;
# - every query of dashboards/mo2fa.json is evaluated by the pumping case's Prometheus
#   without error, and returns data.
#
# Both cases run at once, each with its own server and Prometheus (1 s scrape and rule
# evaluation, temporary storage). Traffic runs SPEED times faster than the scenario, so the
# rules run on a clock SPEED times faster too: every duration in them is divided by SPEED and
# every per-hour factor (3600) likewise (the convention alerts.yml documents).
# The traffic is tests/ops_traffic.py, not `mo2fa run SCENARIO --live --target URL`: a live
# replay on a --target sends only the reverse flow (the SMS flow, mo2fa's own /sms/* API, is
# not replayed there), and the simulator's numbers follow its synthetic plan (country i owns
# +(100+i)*10^10..., scenarios/README.md), while serve bills and applies every per-country
# rule by the number's own calling code: a replayed wave to MA would reach serve as +1...
# numbers, so the per-country alerts this test checks could not fire for MA.
# Needs: target/debug/mo2fa (or MO2FA_BIN), prometheus and promtool (Debian's `prometheus`),
# python3 with PyYAML. Run: bash tests/ops_alerts.sh
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${MO2FA_BIN:-target/debug/mo2fa}
SPEED=120
DURATION=40 # wall seconds of traffic per case
PUMP_AFTER=12 # wall seconds of legit traffic before the wave (the new-destination baseline)

work=$(mktemp -d)
pids=""
cleanup() {
  for p in $pids; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
passed=0
failed=0
ok() { echo "ok   $1"; passed=$((passed + 1)); }
fail() { echo "FAIL $1"; failed=$((failed + 1)); }
free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# The rules on the faster clock.
python3 - "$SPEED" deploy/prometheus/alerts.yml >"$work/alerts.yml" <<'EOF'
import re, sys, yaml
speed = float(sys.argv[1])
UNIT = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
def scaled(m):
    ms = round(float(m.group(1)) * UNIT[m.group(2)] / speed * 1000)
    return f"{ms}ms"
dur = re.compile(r"(\d+)(ms|s|m|h|d|w)\b")
doc = yaml.safe_load(open(sys.argv[2]))
for group in doc["groups"]:
    for rule in group["rules"]:
        expr = re.sub(r"\[(\d+(?:ms|s|m|h|d|w))\]", lambda m: "[" + dur.sub(scaled, m.group(1)) + "]", rule["expr"])
        expr = re.sub(r"offset (\d+(?:ms|s|m|h|d|w))", lambda m: "offset " + dur.sub(scaled, m.group(1)), expr)
        rule["expr"] = re.sub(r"\b3600\b", repr(3600 / speed), expr)
        if "for" in rule:
            rule["for"] = dur.sub(scaled, rule["for"])
print(yaml.safe_dump(doc, sort_keys=False))
EOF
if promtool check rules "$work/alerts.yml" >/dev/null && grep -q '\[7500ms\]' "$work/alerts.yml"; then
  ok "the rules at ${SPEED}x pass promtool check rules"
else
  fail "the rules at ${SPEED}x"
fi

# start_case NAME: a server and a Prometheus scraping it; sets base_NAME and prom_NAME.
start_case() {
  local name=$1 dir="$work/$1"
  mkdir -p "$dir"
  MO2FA_WEBHOOK_SECRET=ops-alerts "$BIN" serve --addr 127.0.0.1:0 --sms-outbox \
    --sms-defences deploy/sms-defences.toml >"$dir/serve.log" 2>&1 &
  pids="$pids $!"
  for _ in $(seq 100); do grep -q "listening on" "$dir/serve.log" && break; sleep 0.1; done
  local base
  base=$(sed -n 's/^mo2fa listening on //p' "$dir/serve.log")
  [ -n "$base" ] || { cat "$dir/serve.log"; exit 1; }
  cat >"$dir/prometheus.yml" <<EOF
global:
  scrape_interval: 1s
  evaluation_interval: 1s
rule_files: ["$work/alerts.yml"]
scrape_configs:
  - job_name: mo2fa
    static_configs:
      - targets: ["${base#http://}"]
EOF
  local port
  port=$(free_port)
  prometheus --config.file="$dir/prometheus.yml" --storage.tsdb.path="$dir/data" \
    --web.listen-address="127.0.0.1:$port" --log.level=warn >"$dir/prometheus.log" 2>&1 &
  pids="$pids $!"
  for _ in $(seq 100); do curl -sf "http://127.0.0.1:$port/-/ready" >/dev/null && break; sleep 0.1; done
  curl -sf "http://127.0.0.1:$port/-/ready" >/dev/null || { cat "$dir/prometheus.log"; exit 1; }
  printf -v "base_$name" '%s' "$base"
  printf -v "prom_$name" '%s' "http://127.0.0.1:$port"
}

# watch NAME SECONDS: polls the case's /api/v1/alerts every half second while its traffic
# runs, appending "state alertname country" lines to $work/NAME/alerts.seen.
watch() {
  local prom=$1 out=$2 until=$(($(date +%s) + $3))
  while [ "$(date +%s)" -lt "$until" ]; do
    curl -sf "$prom/api/v1/alerts" |
      jq -r '.data.alerts[] | "\(.state) \(.labels.alertname) \(.labels.country // "-")"' >>"$out" || true
    sleep 0.5
  done
}

start_case pumping
start_case legit
started=$(date +%s)
python3 tests/ops_traffic.py --base "$base_pumping" --speed $SPEED --duration $DURATION \
  --pump-rate 0.296 --pump-country MA --pump-after $PUMP_AFTER >"$work/pumping/traffic.json" &
traffic_pumping=$!
python3 tests/ops_traffic.py --base "$base_legit" --speed $SPEED --duration $DURATION \
  >"$work/legit/traffic.json" &
traffic_legit=$!
pids="$pids $traffic_pumping $traffic_legit"
touch "$work/pumping/alerts.seen" "$work/legit/alerts.seen"
watch "$prom_pumping" "$work/pumping/alerts.seen" $((DURATION + 3)) &
watch_pumping=$!
watch "$prom_legit" "$work/legit/alerts.seen" $((DURATION + 3)) &
watch_legit=$!
pids="$pids $watch_pumping $watch_legit"

for case in pumping legit; do
  pid_var="traffic_$case"
  if wait "${!pid_var}"; then
    ok "$case traffic: $(jq -c .counts "$work/$case/traffic.json")"
  else
    fail "$case traffic: $(cat "$work/$case/traffic.json")"
  fi
done
wait $watch_pumping $watch_legit
echo "   (traffic and alert watch took $(($(date +%s) - started)) s)"

seen() { sort -u "$work/$1/alerts.seen" | sed 's/^/     /'; }
for alert in Mo2faSmsSpendHigh Mo2faSmsConversionLow Mo2faSmsNewDestination; do
  if grep -qx "firing $alert MA" "$work/pumping/alerts.seen"; then
    ok "pumping: $alert fired for MA"
  else
    fail "pumping: $alert never fired for MA; seen:"
    seen pumping
  fi
done
if grep -q -v ' MA$' "$work/pumping/alerts.seen"; then
  fail "pumping: alerts other than for MA:"
  grep -v ' MA$' "$work/pumping/alerts.seen" | sort -u
else
  ok "pumping: no alert for another country or the verifier's health"
fi
if [ -s "$work/legit/alerts.seen" ]; then
  fail "legit only: alerts pending or firing:"
  seen legit
else
  ok "legit only: no alert pending or firing in $DURATION s ($((DURATION * SPEED / 60)) virtual minutes)"
fi

# Every dashboard query, with its instance variable set to all, on the pumping case's data.
dash_ok=0
while IFS= read -r expr; do
  # Grafana's variables: all instances, and $__rate_interval as Grafana sets it for a 1 s
  # scrape interval (four scrape intervals).
  query=${expr//\$instance/.*}
  query=${query//\$__rate_interval/4s}
  # Grafana's label_values(METRIC, LABEL) variable query, as the PromQL it runs.
  query=$(sed -E 's/^label_values\(([^,]+), *([a-z_]+)\)$/group by (\2) (\1)/' <<<"$query")
  answer=$(curl -s --get "$prom_pumping/api/v1/query" --data-urlencode "query=$query")
  if [[ $query == *'$'* ]]; then
    fail "dashboard query with a variable this test does not know: $expr"
  elif [ "$(jq -r .status <<<"$answer")" != success ]; then
    fail "dashboard query failed: $expr: $(jq -r .error <<<"$answer")"
  elif [ "$(jq '.data.result | length' <<<"$answer")" -eq 0 ]; then
    fail "dashboard query returned no data: $expr"
  else
    dash_ok=$((dash_ok + 1))
  fi
done < <(jq -r '[.. | objects | select(has("expr")) | .expr] + [.templating.list[] | .query.query? // empty] | .[]' dashboards/mo2fa.json)
[ "$dash_ok" -gt 0 ] && ok "dashboard: $dash_ok queries evaluated with data"

echo "ops_alerts: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
