"""Interop with the official Standard Webhooks library (PyPI `standardwebhooks`).

Runs the real binary with `--signature-scheme standard`: deliveries signed by the library are
accepted, tampered / stale / wrong-secret ones are refused with 401, and signatures made by
`mo2fa sign` verify with the library. Run: python3 tests/interop/test_standardwebhooks.py
(after `cargo build`). Prints "N passed, M failed" and exits non-zero on a failure.
"""
import base64
import datetime
import json
import os
import subprocess
import sys
import tempfile
import urllib.error
import urllib.request

from standardwebhooks.webhooks import Webhook, WebhookVerificationError

BIN = os.environ.get("MO2FA_BIN", "target/debug/mo2fa")
SECRET = "whsec_" + base64.b64encode(b"interop-secret-32-bytes-long!!!!").decode()
RESULTS = {"passed": 0, "failed": 0}


def check(name, ok, detail=""):
    RESULTS["passed" if ok else "failed"] += 1
    print(("ok   " if ok else "FAIL ") + name + ("" if ok else f": {detail}"))


def post(base, path, body, headers):
    req = urllib.request.Request(base + path, data=body, method="POST")
    req.add_header("content-type", "application/json")
    for k, v in headers.items():
        req.add_header(k, v)
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


def event(message_id, code):
    return json.dumps({"event": "message.received", "message_id": message_id,
                       "external_id": "+15550100001", "text": code, "protocol": "imessage"})


def signed_headers(wh, msg_id, when, body):
    return {"webhook-id": msg_id, "webhook-timestamp": str(int(when.timestamp())),
            "webhook-signature": wh.sign(msg_id, when, body)}


def main():
    env = dict(os.environ, MO2FA_WEBHOOK_SECRET=SECRET)
    server = subprocess.Popen([BIN, "serve", "--addr", "127.0.0.1:0", "--signature-scheme", "standard"],
                              stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env, text=True)
    try:
        base = server.stdout.readline().strip().removeprefix("mo2fa listening on ")
        wh = Webhook(SECRET)
        now = datetime.datetime.now(tz=datetime.timezone.utc)

        status, started = post(base, "/2fa/start", b"", {})
        check("start", status == 201, started)
        body = event("wh_1", started["code"])
        status, answer = post(base, "/webhook/blooio", body.encode(), signed_headers(wh, "wh_1", now, body))
        check("library-signed delivery verifies", status == 200 and answer["result"] == "verified", answer)

        tampered = body.replace("+15550100001", "+15550100002")
        status, answer = post(base, "/webhook/blooio", tampered.encode(), signed_headers(wh, "wh_2", now, body))
        check("tampered body refused", status == 401, answer)
        stale = now - datetime.timedelta(seconds=400)
        status, answer = post(base, "/webhook/blooio", body.encode(), signed_headers(wh, "wh_3", stale, body))
        check("stale timestamp refused", status == 401 and "tolerance" in answer["error"], answer)
        other = Webhook("whsec_" + base64.b64encode(b"some-other-secret-of-32-bytes!!!").decode())
        status, answer = post(base, "/webhook/blooio", body.encode(), signed_headers(other, "wh_4", now, body))
        check("wrong secret refused", status == 401, answer)

        # The other direction: mo2fa signs, the library verifies.
        with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
            f.write(body)
        out = subprocess.run([BIN, "sign", f.name, "--scheme", "standard", "--id", "wh_9"],
                             env=env, capture_output=True, text=True, check=True).stdout
        headers = dict(line.split(": ", 1) for line in out.strip().splitlines())
        try:
            wh.verify(body, headers)
            check("mo2fa signature verifies with the library", True)
        except WebhookVerificationError as e:
            check("mo2fa signature verifies with the library", False, e)
        try:
            wh.verify(tampered, headers)
            check("library refuses a tampered body signed by mo2fa", False, "accepted")
        except WebhookVerificationError:
            check("library refuses a tampered body signed by mo2fa", True)
        os.unlink(f.name)
    finally:
        server.terminate()
        server.wait(timeout=10)
    print(f"{RESULTS['passed']} passed, {RESULTS['failed']} failed")
    return 1 if RESULTS["failed"] else 0


if __name__ == "__main__":
    sys.exit(main())
