#!/usr/bin/env bash
# Runs the README's serve walkthrough exactly as written: the shell block between
# `<!-- walkthrough:begin -->` and `<!-- walkthrough:end -->`, in a scratch directory, with the
# `mo2fa` found first on PATH (CI puts target/debug there; the README builds target/release).
# Then checks what a reader is told to expect: the delivery verifies, the retry is a duplicate,
# and the status names the sender.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
bin_dir="${MO2FA_BIN_DIR:-$root/target/debug}"
[ -x "$bin_dir/mo2fa" ] || { echo "readme_walkthrough: no mo2fa in $bin_dir (cargo build first)" >&2; exit 1; }

block=$(awk '/<!-- walkthrough:begin -->/{on=1; next} /<!-- walkthrough:end -->/{on=0} on' "$root/README.md" \
  | sed '/^```/d')
[ -n "$block" ] || { echo "readme_walkthrough: README.md has no walkthrough block" >&2; exit 1; }

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work"
out=$(PATH="$bin_dir:$PATH" timeout 60 bash -euo pipefail -c "$block" 2>&1) || {
  echo "$out"; echo "readme_walkthrough: the README block failed" >&2; exit 1; }
echo "$out"

fail=0
expect() { grep -qF -- "$1" <<<"$out" || { echo "readme_walkthrough: expected $1 in the output" >&2; fail=1; }; }
expect '"result":"verified"'
expect '"duplicate":false'
expect '"duplicate":true'
expect '"status":"verified"'
expect '"sender":"+15550100001"'
expect 'https://start.msg.new/verify%40yourapp%2Eexample?text='
[ "$fail" -eq 0 ] && echo "readme walkthrough: 1 passed, 0 failed"
exit "$fail"
