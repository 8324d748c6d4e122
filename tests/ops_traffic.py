"""Live SMS-OTP traffic for tests/ops_alerts.sh: legit users and, optionally, an SMS pumping
wave, sent to a running `mo2fa serve --sms-outbox` at `--speed` times the scenario's rates.

The shape is scenarios/pumping-wave.toml's: legit users arrive (Poisson) at --legit-rate per
virtual second, ask for a code (POST /sms/start), and with probability --p-send enter it
(read from GET /sms/outbox/{phone}, then POST /sms/check), mistyped with probability --typo;
the pumping attacker asks for codes to sequential numbers of --pump-country at --pump-rate
and never enters one. Unlike pumping-wave.toml, legit users here come only from the --legit
countries, so the pumped destination is one the app never had (what the new-destination
alert looks for). Requests are released on schedule whatever the server answers (open loop),
from a pool of keep-alive connections.

Prints one JSON line of counts by (kind, route, status) and exits 1 if a request failed to
get an answer, got a 5xx, or legit traffic got anything but 202 from /sms/start.
Usage: python3 tests/ops_traffic.py --base http://127.0.0.1:PORT --speed 120 --duration 40
"""
import argparse
import collections
import concurrent.futures
import http.client
import json
import random
import sys
import threading
import time
import urllib.parse

# Numbers per country: a prefix and how many random digits follow (valid for the verifier's
# calling-code table: US area codes, GB mobiles, MA mobiles).
NUMBERS = {
    "US": ("+1415", 7),
    "GB": ("+447700", 6),
    "FR": ("+336", 8),
    "MA": ("+2126", 8),
}


class Client:
    """One keep-alive connection per worker thread."""

    def __init__(self, base):
        self.url = urllib.parse.urlsplit(base)
        self.local = threading.local()

    def request(self, method, path, body=None):
        for attempt in (0, 1):
            conn = getattr(self.local, "conn", None)
            if conn is None:
                conn = http.client.HTTPConnection(self.url.hostname, self.url.port, timeout=10)
                self.local.conn = conn
            try:
                headers = {"content-type": "application/json"} if body is not None else {}
                conn.request(method, path, body=None if body is None else json.dumps(body),
                             headers=headers)
                resp = conn.getresponse()
                return resp.status, resp.read()
            except (OSError, http.client.HTTPException):
                conn.close()
                self.local.conn = None
                if attempt:
                    raise
        raise AssertionError("unreachable")


def parse_mix(text):
    mix = {}
    for part in text.split(","):
        iso, _, weight = part.partition("=")
        if iso not in NUMBERS:
            sys.exit(f"--legit: no numbers for {iso!r}; known: {', '.join(NUMBERS)}")
        mix[iso] = float(weight)
    return mix


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--base", required=True)
    ap.add_argument("--speed", type=float, required=True, help="virtual seconds per wall second")
    ap.add_argument("--duration", type=float, required=True, help="wall seconds")
    ap.add_argument("--seed", type=int, default=526)
    ap.add_argument("--legit-rate", type=float, default=0.25, help="users per virtual second")
    ap.add_argument("--legit", default="US=0.6,GB=0.4", help="country weights of legit users")
    ap.add_argument("--p-send", type=float, default=0.93)
    ap.add_argument("--typo", type=float, default=0.02)
    ap.add_argument("--pump-rate", type=float, default=0.0, help="codes per virtual second")
    ap.add_argument("--pump-country", default="MA")
    ap.add_argument("--pump-after", type=float, default=0.0, help="wall seconds before pumping")
    ap.add_argument("--workers", type=int, default=12)
    args = ap.parse_args()
    mix = parse_mix(args.legit)
    rng = random.Random(args.seed)
    client = Client(args.base)
    counts = collections.Counter()
    failures = []
    lock = threading.Lock()

    def note(kind, route, status):
        with lock:
            counts[f"{kind} {route} {status}"] += 1

    def legit(phone, enters, typo):
        status, _ = client.request("POST", "/sms/start", {"phone": phone})
        note("legit", "start", status)
        if status != 202:
            raise RuntimeError(f"legit /sms/start for {phone} answered {status}")
        if not enters:
            return
        status, body = client.request("GET", "/sms/outbox/" + urllib.parse.quote(phone))
        note("legit", "outbox", status)
        code = json.loads(body)["code"]
        if typo:
            code = ("1" if code[0] == "0" else "0") + code[1:]
        status, body = client.request("POST", "/sms/check", {"phone": phone, "code": code})
        result = json.loads(body).get("result")
        note("legit", "check", f"{status} {result}")

    def pump(phone):
        status, _ = client.request("POST", "/sms/start", {"phone": phone})
        note("pump", "start", status)
        if status >= 500:
            raise RuntimeError(f"pumping /sms/start for {phone} answered {status}")

    # The whole schedule, drawn up front from the seed: (wall offset, job, arguments).
    schedule = []
    t = 0.0
    while args.legit_rate > 0:
        t += rng.expovariate(args.legit_rate * args.speed)
        if t >= args.duration:
            break
        iso = rng.choices(list(mix), weights=list(mix.values()))[0]
        prefix, digits = NUMBERS[iso]
        phone = prefix + "".join(rng.choice("0123456789") for _ in range(digits))
        schedule.append((t, legit, (phone, rng.random() < args.p_send, rng.random() < args.typo)))
    t, n = args.pump_after, 0
    prefix, digits = NUMBERS[args.pump_country]
    while args.pump_rate > 0:
        t += rng.expovariate(args.pump_rate * args.speed)
        if t >= args.duration:
            break
        schedule.append((t, pump, (prefix + str(n).zfill(digits),)))
        n += 1
    schedule.sort(key=lambda s: s[0])

    start = time.monotonic()
    with concurrent.futures.ThreadPoolExecutor(args.workers) as pool:
        futures = []
        for at, job, job_args in schedule:
            delay = start + at - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            futures.append(pool.submit(job, *job_args))
        for f in futures:
            try:
                f.result()
            except Exception as e:  # noqa: BLE001 - every failure is reported, none hidden
                failures.append(str(e))
    lag = time.monotonic() - start - args.duration
    print(json.dumps({"counts": dict(sorted(counts.items())), "failures": len(failures),
                      "first_failures": failures[:5], "finished_late_s": round(lag, 2)}))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
