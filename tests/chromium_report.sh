#!/usr/bin/env bash
# Renders a report.html in headless Chromium and fails on console errors, failed resource
# loads, or a DOM without the charts. Not part of CI (needs Chromium: apt-get install chromium).
#
# usage: tests/chromium_report.sh [path/to/report.html] [screenshot.png]
#        tests/chromium_report.sh --all OUTDIR
# Default: reports/example/report.html. With a second argument, also saves a screenshot.
# --all: writes the four kinds of report a user meets with ${MO2FA:-target/release/mo2fa}
# (`mo2fa cost` on the us-eu mix at fraud 0/10/20 %, the quickstart run, an incident replay
# (healthchecks) and a threat scenario (threats/guessing-open)) into OUTDIR/<name>/, renders
# each and saves OUTDIR/<name>.png; the screenshots are for a person to look at.
set -euo pipefail

if [[ "${1:-}" == "--all" ]]; then
  out="${2:?usage: tests/chromium_report.sh --all OUTDIR}"
  bin="${MO2FA:-target/release/mo2fa}"
  [[ -x "$bin" ]] || { echo "no mo2fa binary at $bin (cargo build --release, or set MO2FA)" >&2; exit 2; }
  mkdir -p "$out"
  "$bin" cost --mix scenarios/mixes/us-eu.toml --fraud-share 0,0.1,0.2 --out "$out/cost" >/dev/null
  "$bin" run scenarios/quickstart.toml --out "$out/quickstart" --force >/dev/null
  "$bin" run scenarios/incidents/healthchecks.toml --out "$out/incident" --force >/dev/null
  "$bin" run scenarios/threats/guessing-open.toml --out "$out/threat" --force >/dev/null
  for name in cost quickstart incident threat; do
    "$0" "$out/$name/report.html" "$out/$name.png"
  done
  exit 0
fi

report="${1:-reports/example/report.html}"
shot="${2:-}"
browser="$(command -v chromium || command -v chromium-browser || command -v google-chrome || true)"
if [[ -z "$browser" ]]; then
  echo "chromium not found (apt-get install -y chromium)" >&2
  exit 2
fi
[[ -f "$report" ]] || { echo "no such file: $report" >&2; exit 2; }

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
url="file://$(cd "$(dirname "$report")" && pwd)/$(basename "$report")"
flags=(--headless --no-sandbox --disable-gpu --disable-background-networking
  --disable-component-update --disable-sync --no-first-run --user-data-dir="$work/profile"
  --enable-logging=stderr --v=0)

timeout 120 "$browser" "${flags[@]}" --dump-dom "$url" >"$work/dom.html" 2>"$work/log.txt" || {
  echo "chromium failed; log:" >&2; cat "$work/log.txt" >&2; exit 1; }

# Page problems only: console messages, uncaught exceptions, failed loads. Chromium's own
# noise in a container (dbus, GPU) is not about the page and is ignored.
if grep -E 'CONSOLE|Uncaught|Failed to load resource|net::ERR_|Refused to' "$work/log.txt" >"$work/errors.txt"; then
  echo "console errors while rendering $report:" >&2
  cat "$work/errors.txt" >&2
  exit 1
fi
svgs="$(grep -o '<svg' "$work/dom.html" | wc -l)"
if [[ "$svgs" -lt 1 ]]; then
  echo "rendered DOM has no <svg> charts" >&2
  exit 1
fi
if [[ -n "$shot" ]]; then
  timeout 120 "$browser" "${flags[@]}" --user-data-dir="$work/profile2" --hide-scrollbars \
    --window-size=1000,6000 --screenshot="$shot" "$url" >/dev/null 2>&1
  echo "screenshot: $shot"
fi
echo "ok: $report rendered with $svgs charts and no console errors"
