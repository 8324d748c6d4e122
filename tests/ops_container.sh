#!/usr/bin/env bash
# Checks of the container kit that need no container runtime (this machine has no Docker
# daemon, and no registry of images is reachable):
# - the Dockerfile lints clean with hadolint;
# - deploy/compose.yaml passes `docker-compose config` (the Compose schema), when installed;
# - its cross-references hold: every bind mount's source exists, Prometheus scrapes the
#   verifier service on the port its --metrics-addr names and its config passes
#   `promtool check config` (rules included), Grafana's data source is the Prometheus
#   service and its dashboard provider reads where the dashboards are mounted;
# - the verifier's compose command, run by the real binary (loopback addresses, the bind
#   mounts mapped back to the repository, Redis only if MO2FA_TEST_REDIS is set), starts
#   and serves /metrics on its metrics address;
# - the binary runs as the image's non-root user (uid 65532) and prints --help, as the
#   Dockerfile's smoke test does in the image.
# Needs: target/debug/mo2fa (or MO2FA_BIN), hadolint, promtool, python3 with PyYAML, curl.
# Run: bash tests/ops_container.sh
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${MO2FA_BIN:-target/debug/mo2fa}
passed=0
failed=0
ok() { echo "ok   $1"; passed=$((passed + 1)); }
fail() { echo "FAIL $1"; failed=$((failed + 1)); }

if out=$(hadolint Dockerfile 2>&1); then ok "hadolint Dockerfile"; else fail "hadolint Dockerfile: $out"; fi

if command -v docker-compose >/dev/null 2>&1; then
  if out=$(MO2FA_WEBHOOK_SECRET=x docker-compose -f deploy/compose.yaml config -q 2>&1); then
    ok "docker-compose config (the Compose schema)"
  else
    fail "docker-compose config: $out"
  fi
  # The secret is required: without it the file does not even resolve.
  if (unset MO2FA_WEBHOOK_SECRET; docker-compose -f deploy/compose.yaml config -q) >/dev/null 2>&1; then
    fail "compose resolves without MO2FA_WEBHOOK_SECRET"
  else
    ok "compose refuses to resolve without MO2FA_WEBHOOK_SECRET"
  fi
else
  echo "skip docker-compose config: docker-compose is not installed"
fi

if out=$(promtool check config deploy/prometheus/prometheus.yml 2>&1); then
  ok "promtool check config deploy/prometheus/prometheus.yml"
else
  fail "promtool check config: $out"
fi

# Cross-references, and the verifier's command as the real binary's flags. Prints one
# "ok ..." or "FAIL ..." line per check, then the command (one argument a line) after a
# "--" line.
checks=$(python3 - <<'EOF'
import os, yaml
compose = yaml.safe_load(open("deploy/compose.yaml"))
svc = compose["services"]
def check(ok, what):
    print(("ok   " if ok else "FAIL ") + what)
mounts = {}
for name, s in svc.items():
    for v in s.get("volumes", []):
        src, dst = v.split(":")[:2]
        if src.startswith("."):
            path = os.path.normpath(os.path.join("deploy", src))
            check(os.path.exists(path), f"{name}: bind mount {src} exists ({path})")
            mounts[(name, dst)] = path
check(set(svc) == {"verifier", "redis", "prometheus", "grafana"},
      f"services are verifier, redis, prometheus, grafana: {sorted(svc)}")
cmd = svc["verifier"]["command"]
flags = dict(a.split("=", 1) for a in cmd if a.startswith("--") and "=" in a)
metrics_port = flags["--metrics-addr"].rsplit(":", 1)[1]
prom = yaml.safe_load(open("deploy/prometheus/prometheus.yml"))
targets = [t for c in prom["scrape_configs"] for s in c["static_configs"] for t in s["targets"]]
check(targets == [f"verifier:{metrics_port}"],
      f"Prometheus scrapes verifier:{metrics_port} (--metrics-addr): {targets}")
rules = [os.path.join("/etc/prometheus", r) for r in prom["rule_files"]]
check(all(("prometheus", r) in mounts for r in rules), f"the rule files are mounted: {rules}")
check(flags["--store"].startswith("redis://redis:"), "the verifier's store is the redis service")
ds = yaml.safe_load(open("deploy/grafana/provisioning/datasources/prometheus.yaml"))
check([d["url"] for d in ds["datasources"]] == ["http://prometheus:9090"],
      "Grafana's data source is the prometheus service")
prov = yaml.safe_load(open("deploy/grafana/provisioning/dashboards/mo2fa.yaml"))
path = prov["providers"][0]["options"]["path"]
check(mounts.get(("grafana", path)) == "dashboards"
      and os.path.exists("dashboards/mo2fa.json"),
      f"Grafana's dashboard provider reads {path}, where dashboards/ is mounted")
print("--")
for a in cmd:
    for (name, dst), src in mounts.items():
        if name == "verifier" and a.endswith("=" + dst):
            a = a[: -len(dst)] + src
    a = a.replace("0.0.0.0:8080", "127.0.0.1:0").replace("0.0.0.0:9100", "127.0.0.1:0")
    if a.startswith("--store="):
        a = "--store=" + os.environ.get("MO2FA_TEST_REDIS", "memory")
    print(a)
EOF
)
while IFS= read -r line; do
  case $line in
    ok*) ok "${line#ok   }" ;;
    FAIL*) fail "${line#FAIL }" ;;
  esac
done < <(sed '/^--$/q' <<<"$checks")
mapfile -t cmd < <(sed '1,/^--$/d' <<<"$checks")

log=$(mktemp)
MO2FA_WEBHOOK_SECRET=ops-container "$BIN" "${cmd[@]}" >"$log" 2>&1 &
serve=$!
bindir=""
trap 'kill $serve 2>/dev/null || true; rm -rf "$log" "$bindir"' EXIT
for _ in $(seq 100); do grep -q '^mo2fa metrics on ' "$log" && break; sleep 0.1; done
metrics=$(sed -n 's/^mo2fa metrics on //p' "$log")
# Read the whole page before matching: under pipefail, `curl | grep -q` fails whenever
# grep stops reading before curl has written everything (curl then exits 23).
if [ -n "$metrics" ] && page=$(curl -sf "$metrics/metrics") && grep -q '^mo2fa_sms_sent_total ' <<<"$page"; then
  ok "the compose command starts the real binary (${cmd[*]}); /metrics on its metrics address"
else
  fail "the compose command (${cmd[*]}): $(cat "$log")"
fi
kill $serve

# A copy in a fresh directory, so that the user need not be able to reach the checkout.
bindir=$(mktemp -d)
chmod 755 "$bindir"
cp "$BIN" "$bindir/mo2fa"
if out=$(setpriv --reuid 65532 --regid 65532 --clear-groups "$bindir/mo2fa" --help 2>&1) &&
  grep -q 'Usage: mo2fa' <<<"$out"; then
  ok "mo2fa --help as uid 65532 (the image's user)"
else
  fail "mo2fa --help as uid 65532: $out"
fi

echo "ops_container: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
