// Baseline for benches/compare.sh: the same three handlers as mo2fa's verifier, written the
// way a small Node.js service would be (Hono on @hono/node-server, state in a Map). It checks
// the Blooio signature (HMAC-SHA256 over "<t>.<body>", 300 s tolerance, constant-time compare),
// deduplicates by message_id and matches the code to a pending challenge.
import { serve } from "@hono/node-server";
import { Hono } from "hono";
import { createHmac, randomBytes, randomInt, timingSafeEqual } from "node:crypto";

const SECRET = process.env.MO2FA_WEBHOOK_SECRET;
if (!SECRET) {
  console.error("MO2FA_WEBHOOK_SECRET is not set");
  process.exit(2);
}
const ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ";
const byId = new Map();
const byCode = new Map();
const seen = new Map();
const app = new Hono();

function newCode() {
  let c = "";
  for (let i = 0; i < 6; i++) c += ALPHABET[randomInt(ALPHABET.length)];
  return c;
}

app.post("/2fa/start", (c) => {
  let code = newCode();
  while (byCode.has(code)) code = newCode();
  const id = randomBytes(16).toString("base64url");
  const challenge = { id, code, status: "pending", sender: null, expiresAt: Date.now() + 300_000 };
  byId.set(id, challenge);
  byCode.set(code, challenge);
  return c.json({ id, code, link: `https://start.msg.new/verify?text=${code}`, expires_at: new Date(challenge.expiresAt).toISOString() }, 201);
});

app.get("/2fa/status/:id", (c) => {
  const ch = byId.get(c.req.param("id"));
  if (!ch) return c.json({ error: "unknown challenge id" }, 404);
  return c.json({ status: ch.status, sender: ch.sender });
});

function verifySignature(header, raw) {
  if (!header) return false;
  let t = null;
  const sigs = [];
  for (const part of header.split(",")) {
    const [k, v] = part.trim().split("=", 2);
    if (k === "t") t = v;
    else if (k === "v1" && v) sigs.push(v);
  }
  if (!t || Math.abs(Date.now() / 1000 - Number(t)) > 300) return false;
  const expected = createHmac("sha256", SECRET).update(`${t}.`).update(raw).digest();
  return sigs.some((s) => {
    const got = Buffer.from(s, "hex");
    return got.length === expected.length && timingSafeEqual(got, expected);
  });
}

app.post("/webhook/blooio", async (c) => {
  const raw = Buffer.from(await c.req.arrayBuffer());
  const header = c.req.header("blooio-signature") ?? c.req.header("x-blooio-signature");
  if (!verifySignature(header, raw)) return c.json({ error: "signature" }, 401);
  let ev;
  try {
    ev = JSON.parse(raw.toString("utf8"));
  } catch {
    return c.json({ error: "invalid JSON" }, 400);
  }
  if (ev.event !== "message.received") return c.json({ result: "ignored" });
  const prior = seen.get(ev.message_id);
  if (prior) return c.json({ ...prior, duplicate: true });
  const m = String(ev.text ?? "").toUpperCase().match(/\b[2-9A-HJKMNP-Z]{6}\b/);
  let answer = { result: "no_match" };
  const ch = m && byCode.get(m[0]);
  if (ch && ch.status === "pending") {
    ch.status = "verified";
    ch.sender = ev.external_id ?? ev.sender;
    byCode.delete(ch.code);
    answer = { result: "verified", id: ch.id };
  }
  seen.set(ev.message_id, answer);
  return c.json({ ...answer, duplicate: false });
});

const port = Number(process.argv[2] ?? 8090);
serve({ fetch: app.fetch, port, hostname: "127.0.0.1" }, (info) => {
  console.log(`hono listening on http://127.0.0.1:${info.port}`);
});
