#!/usr/bin/env node
// Reference server for the load tests: a small Node.js socket.io 4 server doing the
// same work per chat message as twinspace-live's chat path, so the two can be measured
// side by side with the same load generator.
//
//   connect    verify the JWT from the CONNECT `auth: {token}` (HS256, aud twinspace-live,
//              secret from LIVE_JWT_SECRET); refused: connect_error {code, message}
//   join       {room} -> joins `space/room`; ack {ok, room, you, members: [], messages: last
//              50 from the room's Redis Stream (oldest first), polls: [], streams: [], locked}
//   chat:send  {room, text, cid} -> validate (role, joined, text 1..2000 after trim, cid),
//              XADD to the room's stream (MINID retention trim + PEXPIRE, one pipeline),
//              broadcast `chat:message` to the room through @socket.io/redis-adapter,
//              ack {ok, message}
//
// Wire serializer: socket.io-msgpack-parser (as the contract).
// Not done here (ours does them, so the reference does strictly less per message):
// idempotency on (user, cid), rate limits, metrics; presence only with --presence:
//
//   --presence (env REF_PRESENCE=1): the peer of issue 13 that "keeps presence in Redis and
//              announces joins", for the `storm` benchmark. A join writes the member to the
//              room's presence hash (HSET `ref:presence:<space/room>` conn -> member JSON,
//              PEXPIRE) and reads the hash and the history in the same pipelined round trip;
//              the ack's `members` is that hash (JSON-decoded); `presence:join {room, member}`
//              goes to the room's other members through the Redis adapter. A leave or a
//              disconnect removes the field (HDEL) and announces `presence:leave {room, user}`.
//              Without the flag: `members: []`, no presence record, no announcement.
//
// Usage: LIVE_JWT_SECRET=s node reference/server.js --port 9100 --redis redis://127.0.0.1:6400/0
//        [--presence] (or env REF_PORT / REF_REDIS_URL / REF_PRESENCE). GET /healthz answers 200.
"use strict";

const crypto = require("node:crypto");
const http = require("node:http");
const { Server } = require("socket.io");
const { createAdapter } = require("@socket.io/redis-adapter");
const { createClient } = require("redis");
const msgpackParser = require("socket.io-msgpack-parser");
const jwt = require("jsonwebtoken");

function arg(name, fallback) {
  const i = process.argv.indexOf(name);
  return i >= 0 && i + 1 < process.argv.length ? process.argv[i + 1] : fallback;
}

const PORT = Number(arg("--port", process.env.REF_PORT || 9100));
const HOST = arg("--host", process.env.REF_HOST || "127.0.0.1");
const REDIS_URL = arg("--redis", process.env.REF_REDIS_URL || "redis://127.0.0.1:6379/0");
const SECRET = process.env.LIVE_JWT_SECRET;
if (!SECRET) {
  console.error("LIVE_JWT_SECRET is required");
  process.exit(2);
}
// The secret as a KeyObject made once: given a string, jsonwebtoken 9 first tries it as a
// PEM public key (which throws) on every verify, ~350 us a token here (loadtests/README.md,
// "10,000 over 100 rooms, fourth pass"); a Node.js server tuned for speed does not pay that.
const KEY = crypto.createSecretKey(Buffer.from(SECRET));
const RETENTION_MS = Math.round(Number(process.env.LIVE_HISTORY_DAYS || 90) * 86_400_000);
const ROOM_NAME = /^[a-z0-9][a-z0-9_-]{0,63}$/;
const ROLES = new Set(["teacher", "student", "visitor"]);
const MAX_TEXT = 2000;
const MAX_CID = 64;
const PRESENCE = process.argv.includes("--presence") || process.env.REF_PRESENCE === "1";
const PRESENCE_TTL_MS = 86_400_000;

function fail(code, message) {
  return { ok: false, error: { code, message } };
}

function decodeEntry([id, fields]) {
  // fields: { m: json }
  try {
    const m = JSON.parse(fields.m);
    m.id = id;
    return m;
  } catch {
    return null;
  }
}

async function main() {
  const data = createClient({ url: REDIS_URL });
  const pub = createClient({ url: REDIS_URL });
  const sub = pub.duplicate();
  for (const c of [data, pub, sub]) c.on("error", (e) => console.error("redis:", e.message));
  await Promise.all([data.connect(), pub.connect(), sub.connect()]);

  const httpServer = http.createServer((req, res) => {
    if (req.url === "/healthz" || req.url === "/readyz") {
      res.writeHead(200, { "content-type": "text/plain" });
      res.end("ok\n");
      return;
    }
    res.writeHead(404);
    res.end();
  });

  const io = new Server(httpServer, {
    parser: msgpackParser,
    serveClient: false,
    adapter: createAdapter(pub, sub),
  });

  io.use((socket, next) => {
    const token = socket.handshake.auth && socket.handshake.auth.token;
    let claims;
    try {
      if (typeof token !== "string") throw new Error("no token");
      claims = jwt.verify(token, KEY, { algorithms: ["HS256"], audience: "twinspace-live" });
    } catch (e) {
      const err = new Error("not allowed");
      err.data =
        e && e.name === "TokenExpiredError"
          ? { code: "expired", message: "token expired" }
          : { code: "unauthorized", message: "not allowed" };
      return next(err);
    }
    const { sub: id, name, role, space } = claims;
    if (
      typeof id !== "string" || typeof name !== "string" || name.length < 1 || name.length > 80 ||
      !ROLES.has(role) || typeof space !== "string" || !space
    ) {
      const err = new Error("not allowed");
      err.data = { code: "unauthorized", message: "not allowed" };
      return next(err);
    }
    socket.data.user = { id, name, role };
    socket.data.space = space;
    next();
  });

  io.on("connection", (socket) => {
    const user = socket.data.user;
    const space = socket.data.space;
    const joined = new Set();

    socket.on("join", async (payload, ack) => {
      if (typeof ack !== "function") return;
      const room = payload && payload.room;
      if (typeof room !== "string" || !ROOM_NAME.test(room)) return ack(fail("bad_request", "bad room"));
      const key = `${space}/${room}`;
      try {
        const member = { id: user.id, name: user.name, role: user.role };
        let entries;
        let members = [];
        if (PRESENCE) {
          // one round trip: node-redis pipelines commands issued in the same tick
          const pkey = `ref:presence:${key}`;
          const written = data.hSet(pkey, socket.id, JSON.stringify(member));
          const expire = data.pExpire(pkey, PRESENCE_TTL_MS);
          const all = data.hGetAll(pkey);
          const history = data.xRevRange(`ref:chat:${key}`, "+", "-", { COUNT: 50 });
          await written;
          await expire;
          const hash = await all;
          entries = await history;
          const seen = new Set();
          for (const v of Object.values(hash)) {
            const m = JSON.parse(v);
            if (!seen.has(m.id)) {
              seen.add(m.id);
              members.push(m);
            }
          }
        } else {
          entries = await data.xRevRange(`ref:chat:${key}`, "+", "-", { COUNT: 50 });
        }
        socket.join(key);
        if (!joined.has(room) && PRESENCE) socket.to(key).emit("presence:join", { room, member });
        joined.add(room);
        const messages = entries.map((e) => decodeEntry([e.id, e.message])).filter(Boolean).reverse();
        ack({ ok: true, room, you: member, members, messages, polls: [], streams: [], locked: false });
      } catch (e) {
        ack(fail("unavailable", "store unavailable"));
      }
    });

    const leaveRoom = async (room) => {
      const key = `${space}/${room}`;
      socket.leave(key);
      if (!PRESENCE) return;
      try {
        await data.hDel(`ref:presence:${key}`, socket.id);
        io.to(key).emit("presence:leave", { room, user: user.id });
      } catch (e) {
        console.error("presence leave failed:", e.message);
      }
    };

    socket.on("leave", (payload, ack) => {
      const room = payload && payload.room;
      if (typeof room === "string" && joined.delete(room)) leaveRoom(room);
      if (typeof ack === "function") ack({ ok: true });
    });

    socket.on("disconnect", () => {
      for (const room of joined) leaveRoom(room);
      joined.clear();
    });

    socket.on("chat:send", async (payload, ack) => {
      if (typeof ack !== "function") return;
      if (!payload || typeof payload !== "object") return ack(fail("bad_request", "bad payload"));
      const { room, text, cid } = payload;
      if (typeof room !== "string" || !ROOM_NAME.test(room)) return ack(fail("bad_request", "bad room"));
      if (user.role === "visitor") return ack(fail("forbidden", "visitors cannot write"));
      if (!joined.has(room)) return ack(fail("not_joined", "join the room first"));
      if (typeof cid !== "string" || cid.length < 1 || cid.length > MAX_CID) return ack(fail("bad_request", "bad cid"));
      if (typeof text !== "string") return ack(fail("bad_request", "bad text"));
      const trimmed = text.trim();
      if (!trimmed) return ack(fail("bad_request", "text is empty"));
      if (trimmed.length > MAX_TEXT) return ack(fail("too_large", "text too long"));

      const key = `${space}/${room}`;
      const skey = `ref:chat:${key}`;
      const ts = Date.now();
      const body = { room, cid, user, text, ts };
      let id;
      try {
        // one round trip: node-redis pipelines commands issued in the same tick
        const added = data.xAdd(skey, "*", { m: JSON.stringify(body) }, {
          TRIM: { strategy: "MINID", strategyModifier: "~", threshold: ts - RETENTION_MS },
        });
        const expire = data.pExpire(skey, RETENTION_MS);
        id = await added;
        await expire;
      } catch (e) {
        return ack(fail("unavailable", "store unavailable"));
      }
      const message = { id, room, cid, user, text, ts };
      io.to(key).emit("chat:message", message);
      ack({ ok: true, message });
    });
  });

  httpServer.listen(PORT, HOST, () => {
    console.log(`reference listening on http://${HOST}:${PORT} redis=${REDIS_URL} presence=${PRESENCE} pid=${process.pid}`);
  });

  const stop = async () => {
    io.close();
    await Promise.allSettled([data.quit(), pub.quit(), sub.quit()]);
    process.exit(0);
  };
  process.on("SIGTERM", stop);
  process.on("SIGINT", stop);
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
