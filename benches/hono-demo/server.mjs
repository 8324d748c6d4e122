// A reverse-2FA verifier written the way Blooio's article describes its demo (see
// docs/audit.md): two handlers on Hono. It exists to be audited (`mo2fa audit --profile
// blooio-demo`), so it keeps the demo's shape on purpose:
//   - POST /2fa/start answers {code, link};
//   - POST /webhook/blooio reads event.event, event.text and event.sender, matches the code and
//     answers {ok: true};
//   - no signature check, no deduplication, no status route.
// Do not deploy this. benches/hono/server.mjs is the same stack written with those checks.
import { serve } from "@hono/node-server";
import { Hono } from "hono";
import { randomInt } from "node:crypto";

const SYMBOLS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
const HANDLE = process.env.DEMO_HANDLE ?? "verify@example.com";
const TEN_MINUTES = 10 * 60 * 1000;
const pending = new Map(); // code -> { createdAt }

function makeCode() {
  let code = "";
  for (let i = 0; i < 6; i++) code += SYMBOLS[randomInt(SYMBOLS.length)];
  return code;
}

const app = new Hono();

app.post("/2fa/start", (c) => {
  const code = makeCode();
  pending.set(code, { createdAt: Date.now() });
  setTimeout(() => pending.delete(code), TEN_MINUTES).unref();
  const link = `imessage://${HANDLE}?body=${encodeURIComponent(code)}`;
  return c.json({ code, link });
});

app.post("/webhook/blooio", async (c) => {
  const event = await c.req.json();
  if (event.event === "message.received") {
    const code = String(event.text ?? "").trim().toUpperCase();
    if (pending.has(code)) {
      pending.delete(code);
      console.log(`verified ${code} from ${event.sender}`);
    }
  }
  return c.json({ ok: true });
});

const port = Number(process.argv[2] ?? 8091);
serve({ fetch: app.fetch, port, hostname: "127.0.0.1" }, (info) => {
  console.log(`hono-demo listening on http://127.0.0.1:${info.port}`);
});
