// A consumer of entitled's webhooks, written from the contract and the Standard Webhooks
// specification alone (https://www.standardwebhooks.com):
//
//   WEBHOOK_SECRET=whsec_... PORT=8787 node consumer.js
//
// WEBHOOK_SECRET is the secret that POST /v1/webhooks showed (once) for this endpoint. Each
// verified event is printed to stdout as one JSON line {webhook_id, type, timestamp, data};
// everything else goes to stderr.
"use strict";

const http = require("node:http");
const { Webhook } = require("standardwebhooks");

const secret = process.env.WEBHOOK_SECRET;
if (!secret) {
  console.error("set WEBHOOK_SECRET to the endpoint's secret (whsec_...)");
  process.exit(2);
}
// The library takes the secret as entitled shows it, "whsec_" + base64.
const wh = new Webhook(secret);

// Delivery is at least once: a retry, or a delivery sent again after a crash, carries the same
// webhook-id. A real consumer keeps the ids it has handled in its own database, in the
// transaction that handles the event; a Set will do for an example.
const seen = new Set();

// Bodies are small JSON documents; refuse anything absurd rather than buffer it.
const maxBody = 1 << 20;

const server = http.createServer((req, res) => {
  if (req.method !== "POST") {
    res.writeHead(405).end();
    return;
  }
  const chunks = [];
  let size = 0;
  req.on("data", (chunk) => {
    size += chunk.length;
    if (size > maxBody) {
      res.writeHead(413).end();
      req.destroy();
      return;
    }
    chunks.push(chunk);
  });
  req.on("end", () => {
    if (res.writableEnded) return;
    // Verify the exact bytes received: re-serialised JSON would not match the signature.
    const body = Buffer.concat(chunks);
    let event;
    try {
      // Checks webhook-signature (any of its space-separated signatures, so a secret rotation
      // goes unnoticed) over webhook-id, webhook-timestamp and the body, and refuses a
      // webhook-timestamp more than 5 minutes off (a replay).
      event = wh.verify(body, req.headers);
    } catch (err) {
      console.error(`refused a delivery: ${err.message}`);
      res.writeHead(400).end();
      return;
    }
    const id = req.headers["webhook-id"];
    if (!seen.has(id)) {
      seen.add(id);
      // Events come in no guaranteed order: order by event.timestamp where order matters.
      process.stdout.write(
        JSON.stringify({ webhook_id: id, type: event.type, timestamp: event.timestamp, data: event.data }) + "\n",
      );
    }
    // Answer 2xx quickly (within 10 s), and for a repeat too: anything else is retried.
    res.writeHead(204).end();
  });
});

server.listen(Number(process.env.PORT || 8787), process.env.HOST || "127.0.0.1", () => {
  const { address, port } = server.address();
  console.error(`listening on http://${address}:${port}/`);
});
