#!/usr/bin/env bash
# Instructions per webhook request, bare hyper vs mo2fa, counted by callgrind: a figure that
# does not move with the machine's load, for comparing changes to the request path where
# compare.sh's req/s are too noisy. Counts user space only (the kernel's share, about the same
# for both servers, is not in it). valgrind emulates no SHA extensions, so SHA-256 runs in
# software here; its share is printed apart, and the count without it (on the real CPU, with
# SHA extensions, SHA-256 costs about a tenth of the software figure).
# Needs valgrind and wrk (apt-get install valgrind wrk).
#   Usage: benches/callgrind.sh            (COUNT=20000 deliveries, DUR=4s of wrk)
#   KEEP=/tmp/cg benches/callgrind.sh      keeps the profiles; then, per function, inclusive:
#     callgrind_annotate --inclusive=yes --tree=calling /tmp/cg/mo2fa.out.1
set -euo pipefail
cd "$(dirname "$0")/.."
COUNT=${COUNT:-20000}
DUR=${DUR:-4s}
# SERVE_ARGS: extra `mo2fa serve` flags (e.g. "--runtime per-core"); CONNS: wrk's connections.
SERVE_ARGS=${SERVE_ARGS:-}
CONNS=${CONNS:-16}
export MO2FA_WEBHOOK_SECRET=${MO2FA_WEBHOOK_SECRET:-compare-secret}

# MO2FA=path counts that binary as mo2fa (e.g. a copy of another build); BUILD=0 skips cargo.
MO2FA=${MO2FA:-target/release/mo2fa}
# SERVERS: which to count (default both).
SERVERS=${SERVERS:-bare-hyper mo2fa}
[ "${BUILD:-1}" = 0 ] || cargo build --release --quiet --bin mo2fa --bench bare_hyper --bench webhook_fixture
bin() { ls -t target/release/deps/"$1"-* | grep -v '\.d$' | head -1; }
BARE=$(bin bare_hyper)
FIXTURE_GEN=$(bin webhook_fixture)
# KEEP=DIR keeps each server's callgrind output there (DIR/NAME.out.1), for callgrind_annotate.
work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; [ -n "${KEEP:-}" ] && mkdir -p "$KEEP" && cp "$work"/*.out.1 "$KEEP"/; rm -rf "$work"' EXIT

# One server under callgrind: counters zeroed after the fixture is made, dumped after wrk.
count() { # name port fixture-from-port command...
  local name=$1 port=$2 issuer=$3; shift 3
  valgrind --tool=callgrind --callgrind-out-file="$work/$name.out" "$@" >/dev/null 2>&1 &
  local pid=$!
  for _ in $(seq 100); do curl -s -o /dev/null "http://127.0.0.1:$port/" && break; sleep 0.2; done
  "$FIXTURE_GEN" "http://127.0.0.1:$issuer" "$COUNT" "$work/$name.tsv" 2>/dev/null
  callgrind_control -z "$pid" >/dev/null 2>&1
  local n
  n=$(FIXTURE="$work/$name.tsv" wrk -t1 -c"$CONNS" -d"$DUR" -s benches/webhook.lua "http://127.0.0.1:$port" \
      | awk '/requests in/{print $1}')
  callgrind_control -d "$pid" >/dev/null 2>&1
  kill "$pid"; wait "$pid" 2>/dev/null || true
  local dump
  dump="$work/$name.out.1" # the dump; the file written at exit holds only what came after
  # SHA-256: the largest inclusive cost of a sha2 compression function (the outer one holds
  # the backend it dispatches to), whatever inlining made of the HMAC code around it.
  callgrind_annotate --inclusive=yes "$dump" 2>/dev/null | awk -v name="$name" -v n="$n" '
    /PROGRAM TOTALS/ { gsub(",", "", $1); total = $1 }
    /sha2::sha256::[a-z_:]*compress[0-9]* \[/ { gsub(",", "", $1); if ($1 + 0 > sha) sha = $1 + 0 }
    END { printf "%-12s %9d %12.0f %14.0f %12.0f\n", name, n, total / n, sha / n, (total - sha) / n }'
}

# The baseline issues no codes: its deliveries are made against a plain mo2fa beside it.
printf "%-12s %9s %12s %14s %12s\n" server requests "instr/req" "of which SHA" "without SHA"
case " $SERVERS " in *" bare-hyper "*)
  "$MO2FA" serve --addr 127.0.0.1:18299 >/dev/null 2>&1 &
  issuer=$!
  count bare-hyper 18201 18299 "$BARE" 127.0.0.1:18201
  kill $issuer ;;
esac
case " $SERVERS " in *" mo2fa "*)
  # shellcheck disable=SC2086 # SERVE_ARGS is a list of flags
  count mo2fa 18202 18202 "$MO2FA" serve --addr 127.0.0.1:18202 $SERVE_ARGS ;;
esac
