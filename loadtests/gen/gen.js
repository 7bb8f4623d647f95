#!/usr/bin/env node
// Load generator worker. One process holds many members (socket.io-client 4 +
// socket.io-msgpack-parser, websocket transport, one connection each) and is driven
// by loadtests/run.py through JSON lines:
//
//   stdin, first line: config
//     {urls: [..], secret, space, members: [[sub, room, urlIndex, role], ...] | null,
//      gen: {count, prefix, rooms: [..], urlCount, role} (members built here instead),
//      connectConcurrency, label}
//   stdin, later lines: commands
//     {cmd: "go", mode: "window", total, window}   the first member sends `total` messages,
//                                                   keeping `window` unacked
//     {cmd: "go", mode: "rate", hz, seconds, senders?: n}  each member (or the first n)
//                                                   sends hz msg/s for `seconds`, random phase
//     {cmd: "expect", count, timeout}               report "received" once this process has
//                                                   received `count` chat:message since go
//     {cmd: "halt"}                                 connect no further members (then "ready")
//     {cmd: "add", members: [[sub, room, urlIndex, role], ...]}
//                                                   connect and join these members too, keeping
//                                                   those connected (then "added")
//     {cmd: "count"}                                print {received, sent, acked, connected,
//                                                   presenceJoins (presence:join heard)} so far
//     {cmd: "report"}                               print the measurements since go
//     {cmd: "quit"}
//   stdout: JSON lines {ev: "ready" | "progress" | "sent" | "received" | "report" | "error"}
//
// Message text is "b <seq> t<sendTimeMs>" (ms since the epoch, sub-ms precision from
// performance.timeOrigin + performance.now(), comparable between processes on one host;
// the "t" keeps "<seq> <ms>" from reading as a phone number to the message filter);
// the cid is "<sub>.<seq>". A delivery later than cfg.lateMs (default 1000) after its send
// is counted as late. Receivers compute send-to-receive latency from the text and
// check that each sender's messages arrive exactly once and in order.
"use strict";

const { io } = require("socket.io-client");
const msgpackParser = require("socket.io-msgpack-parser");
const jwt = require("jsonwebtoken");
const readline = require("node:readline");
const WebSocket = require("ws");
const notepack = require("notepack.io");
const { connectLean } = require("./lean");
const { createSecretKey } = require("node:crypto");

const now = () => performance.timeOrigin + performance.now();
const out = (obj) => process.stdout.write(JSON.stringify(obj) + "\n");
let errorCount = 0;
// errors are counted; only the first few are printed
const outError = (error) => {
  errorCount++;
  if (errorCount <= 5) out({ ev: "error", error });
  else if (errorCount === 6) out({ ev: "error", error: "(further errors counted, not printed)" });
};

const JOIN_TIMEOUT_MS = 30000;
let cfg = null;
const members = []; // {sub, room, socket, seq, lastSeen: Map}
let phaseStart = 0;
let recording = false;
let lat = [];
let ackLat = [];
let received = 0;
let firstRecv = 0;
let lastRecv = 0;
let dupes = 0;
let outOfOrder = 0;
let late = 0;
let ackErrors = 0;
let sent = 0;
let acked = 0;
let firstSend = 0;
let lastAck = 0;
let cpuAtGo = null;
let expect = null; // {count, timer}
let halted = false; // stop connecting further members
const lastSeq = new Map(); // receiverIdx -> Map(senderSub -> seq)
let presenceJoins = 0; // presence:join events received by all members (storm benchmark)
let lastPresenceAt = 0;
const onEvent = (name) => {
  if (name === "presence:join") {
    presenceJoins++;
    lastPresenceAt = now();
  }
};

// the secret as a KeyObject, made once: given a string, jsonwebtoken's sign first tries
// it as a PEM private key (createPrivateKey, which throws) and then makes a secret key of
// it, for every token: half of a storm worker's CPU went there (same tokens either way)
let secretKey = null;

function token(sub, role) {
  secretKey = secretKey || createSecretKey(Buffer.from(cfg.secret));
  return jwt.sign(
    { sub, name: `Bench ${sub}`, role: role || "student", space: cfg.space },
    secretKey,
    { algorithm: "HS256", audience: "twinspace-live", expiresIn: 3600 },
  );
}

function onMessage(idx, msg) {
  if (msg && typeof msg.text === "string") recordChat(idx, msg.user && msg.user.id, msg.text);
}

function recordChat(idx, sender, text) {
  if (!recording || text[0] !== "b") return;
  const t = now();
  const parts = text.split(" ");
  const seq = Number(parts[1]);
  const sentAt = Number(parts[2].slice(1));
  lat.push(t - sentAt);
  if (t - sentAt > (cfg.lateMs || 1000)) late++;
  received++;
  if (!firstRecv) firstRecv = t;
  lastRecv = t;
  let seen = lastSeq.get(idx);
  if (!seen) lastSeq.set(idx, (seen = new Map()));
  const prev = seen.get(sender);
  if (prev !== undefined) {
    if (seq === prev) dupes++;
    else if (seq < prev) outOfOrder++;
  }
  seen.set(sender, seq);
  if (expect && received >= expect.count) {
    clearTimeout(expect.timer);
    expect = null;
    out({ ev: "received", received, at: lastRecv });
  }
}

function connectOne(idx, sub, room, urlIndex, role) {
  return new Promise((resolve) => {
    const socket = io(cfg.urls[urlIndex % cfg.urls.length], {
      transports: ["websocket"],
      parser: msgpackParser,
      auth: { token: token(sub, role) },
      forceNew: true,
      reconnection: false,
      timeout: 60000,
    });
    const m = { idx, sub, room, socket, seq: 0 };
    let done = false;
    const finish = (ok, why) => {
      if (done) return;
      done = true;
      if (!ok) socket.disconnect();
      resolve(ok ? m : { error: why });
    };
    socket.on("connect_error", (e) => finish(false, `connect_error ${e && (e.data ? JSON.stringify(e.data) : e.message)}`));
    socket.on("chat:message", (msg) => onMessage(idx, msg));
    socket.on("presence:join", () => onEvent("presence:join"));
    socket.on("disconnect", (reason) => {
      if (done && reason !== "io client disconnect") outError(`member ${sub} disconnected: ${reason}`);
    });
    socket.on("connect", () => {
      socket.timeout(JOIN_TIMEOUT_MS).emit("join", { room }, (err, ack) => {
        if (err) finish(false, "join: no ack within 30 s");
        else if (ack && ack.ok) finish(true);
        else finish(false, `join ${JSON.stringify(ack)}`);
      });
    });
  });
}

// A lean member for receive-heavy loads (cfg.client = "raw"): the same wire protocol
// (Engine.IO v4 over a WebSocket, Socket.IO v5 packets in MessagePack exactly as
// socket.io-msgpack-parser writes and reads them, with the same packet checks) but
// without the socket.io-client/engine.io-client layers, so one core receives more.
function connectRaw(idx, sub, room, urlIndex, role) {
  return new Promise((resolve) => {
    const base = cfg.urls[urlIndex % cfg.urls.length].replace(/^http/, "ws");
    // offer permessage-deflate exactly as socket.io-client (engine.io-client) does, so a
    // server that accepts it does the same work for these members as for real clients
    const ws = new WebSocket(`${base}/socket.io/?EIO=4&transport=websocket`, {
      perMessageDeflate: cfg.deflate === false ? false : { threshold: 1024 },
    });
    const acks = new Map();
    let nextId = 0;
    let done = false;
    const m = { idx, sub, room, seq: 0 };
    m.socket = {
      emit(event, data, cb) {
        const id = nextId++;
        acks.set(id, cb);
        ws.send(notepack.encode({ type: 2, data: [event, data], nsp: "/", id }));
      },
      disconnect() {
        done = true;
        m.closing = true;
        ws.close();
      },
    };
    const finish = (ok, why) => {
      if (done) return;
      done = true;
      if (!ok) {
        m.closing = true;
        ws.terminate();
      }
      resolve(ok ? m : { error: why });
    };
    ws.on("message", (data, isBinary) => {
      if (!isBinary) {
        const s = data.toString();
        if (s === "2") ws.send("3"); // ping -> pong
        else if (s[0] === "0") ws.send(notepack.encode({ type: 0, nsp: "/", data: { token: token(sub, role) } }));
        return;
      }
      const p = notepack.decode(data);
      if (typeof p.type !== "number" || typeof p.nsp !== "string") throw new Error("invalid packet");
      if (p.type === 2) {
        if (!Array.isArray(p.data)) throw new Error("invalid payload");
        if (p.data[0] === "chat:message") onMessage(idx, p.data[1]);
      } else if (p.type === 3) {
        const cb = acks.get(p.id);
        if (cb) {
          acks.delete(p.id);
          cb(...p.data);
        }
      } else if (p.type === 0) {
        const timer = setTimeout(() => finish(false, "join: no ack within 30 s"), JOIN_TIMEOUT_MS);
        m.socket.emit("join", { room }, (ack) => {
          clearTimeout(timer);
          if (ack && ack.ok) finish(true);
          else finish(false, `join ${JSON.stringify(ack)}`);
        });
      } else if (p.type === 4) finish(false, `connect_error ${JSON.stringify(p.data)}`);
    });
    ws.on("error", (e) => finish(false, `ws error ${e.message}`));
    ws.on("close", () => {
      if (!done) finish(false, "closed");
      else if (!m.closing) outError(`member ${sub} closed`);
    });
  });
}

async function connectLeanMember(idx, sub, room, urlIndex, role) {
  const r = await connectLean({
    url: cfg.urls[urlIndex % cfg.urls.length],
    token: token(sub, role),
    room,
    timeoutMs: JOIN_TIMEOUT_MS + 30000,
    onChat: (sender, text) => recordChat(idx, sender, text),
    onEvent,
    onClose: () => outError(`member ${sub} closed`),
  });
  if (r.error) return r;
  return { idx, sub, room, seq: 0, socket: { emit: r.emit, disconnect: r.close } };
}

async function connectAll() {
  let list = cfg.members;
  if (!list) {
    const g = cfg.gen;
    list = [];
    for (let i = 0; i < g.count; i++) {
      list.push([`${g.prefix}${i}`, g.rooms[i % g.rooms.length], i % (g.urlCount || 1), g.role || "student"]);
    }
  }
  const t0 = now();
  const conc = cfg.connectConcurrency || 50;
  let next = 0;
  let failed = 0;
  let firstError = null;
  let lastProgress = t0;
  const worker = async () => {
    while (next < list.length && !halted) {
      const i = next++;
      const [sub, room, urlIndex, role] = list[i];
      const connect = { raw: connectRaw, lean: connectLeanMember }[cfg.client] || connectOne;
      const r = await connect(i, sub, room, urlIndex, role);
      if (r.error) {
        failed++;
        if (!firstError) firstError = r.error;
      } else members[i] = r;
      const t = now();
      if (t - lastProgress > 1000) {
        lastProgress = t;
        out({ ev: "progress", connected: members.filter(Boolean).length, failed, of: list.length });
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(conc, list.length) }, worker));
  const live = members.filter(Boolean);
  members.length = 0;
  members.push(...live);
  out({ ev: "ready", connected: live.length, failed, firstError, connectMs: now() - t0, t0, t1: now() });
}

// {cmd: "add"}: more members on top of those connected (capacity ramps add rooms without
// reopening the connections of the rooms already there)
let adding = Promise.resolve();
let nextAddIdx = 1e9; // receiver ids of added members (apart from the first members' indices)
function addMembers(list) {
  adding = adding.then(async () => {
    const t0 = now();
    const base = members.length;
    const idx0 = nextAddIdx;
    nextAddIdx += list.length;
    const conc = cfg.connectConcurrency || 50;
    const connect = { raw: connectRaw, lean: connectLeanMember }[cfg.client] || connectOne;
    let next = 0;
    let failed = 0;
    let ok = 0;
    let firstError = null;
    let lastProgress = t0;
    const worker = async () => {
      while (next < list.length) {
        const i = next++;
        const [sub, room, urlIndex, role] = list[i];
        const r = await connect(idx0 + i, sub, room, urlIndex, role);
        if (r.error) {
          failed++;
          if (!firstError) firstError = r.error;
        } else {
          members.push(r);
          ok++;
        }
        const t = now();
        if (t - lastProgress > 1000) {
          lastProgress = t;
          out({ ev: "progress", connected: members.length, failed, of: base + list.length });
        }
      }
    };
    await Promise.all(Array.from({ length: Math.min(conc, list.length) }, worker));
    out({ ev: "added", added: ok, connected: members.length, failed, firstError, connectMs: now() - t0 });
  });
}

function sendOne(m) {
  const seq = ++m.seq;
  const t = now();
  if (!firstSend) firstSend = t;
  sent++;
  return new Promise((resolve) => {
    m.socket.emit("chat:send", { room: m.room, text: `b ${seq} t${t}`, cid: `${m.sub}.${seq}` }, (ack) => {
      const ta = now();
      ackLat.push(ta - t);
      acked++;
      lastAck = ta;
      if (!ack || !ack.ok) {
        ackErrors++;
        if (ackErrors <= 3) outError(`ack ${JSON.stringify(ack)}`);
      }
      resolve();
    });
  });
}

function resetCounters() {
  lat = [];
  ackLat = [];
  received = firstRecv = lastRecv = dupes = outOfOrder = late = ackErrors = 0;
  sent = acked = firstSend = lastAck = 0;
  lastSeq.clear();
  phaseStart = now();
  cpuAtGo = process.cpuUsage();
  recording = true;
}

async function goWindow(c) {
  const m = members[0];
  let inFlight = 0;
  let issued = 0;
  await new Promise((resolve) => {
    const pump = () => {
      while (inFlight < c.window && issued < c.total) {
        issued++;
        inFlight++;
        sendOne(m).then(() => {
          inFlight--;
          if (acked >= c.total) resolve();
          else pump();
        });
      }
    };
    pump();
  });
  out({ ev: "sent", sent, acked, ackErrors, firstSend, lastAck });
}

async function goRate(c) {
  const senders = members.slice(0, c.senders == null ? members.length : c.senders);
  const period = 1000 / c.hz;
  const end = now() + c.seconds * 1000;
  const maxOutstanding = c.maxOutstanding || 20000;
  let skipped = 0;
  const timers = [];
  const progress = setInterval(() => {
    out({ ev: "progress", sent, acked, received, elapsed: (now() - phaseStart) / 1000 });
  }, 2000);
  await new Promise((resolve) => {
    let running = senders.length;
    for (const m of senders) {
      const phase = Math.random() * period;
      let due = now() + phase;
      const tick = () => {
        const t = now();
        if (t >= end) {
          if (--running === 0) resolve();
          return;
        }
        // catch up if the event loop lagged, but never burst more than a few
        let n = 0;
        while (due <= t && n < 5) {
          if (sent - acked < maxOutstanding) sendOne(m);
          else skipped++;
          due += period;
          n++;
        }
        if (due <= t) due = t + period; // drop the backlog beyond 5
        if (due >= end) {
          // no send left before the end: done now, not at the next due time (at 0.1 msg/s
          // that would stretch the phase by up to 10 s past `seconds`)
          if (--running === 0) resolve();
          return;
        }
        timers.push(setTimeout(tick, Math.max(0, due - now())));
      };
      if (due >= end) running--; // its first send would fall after the end
      else timers.push(setTimeout(tick, phase));
    }
    if (running === 0) resolve();
  });
  clearInterval(progress);
  // wait for outstanding acks (bounded)
  const waitEnd = now() + (c.drainMs || 10000);
  while (acked < sent && now() < waitEnd) await new Promise((r) => setTimeout(r, 20));
  out({ ev: "sent", sent, acked, skipped, ackErrors, firstSend, lastAck });
}

function pct(sorted, p) {
  if (!sorted.length) return null;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[i];
}

function summary(arr, keepRaw) {
  const s = Float64Array.from(arr).sort();
  const r = {
    n: s.length,
    p50: pct(s, 50),
    p90: pct(s, 90),
    p99: pct(s, 99),
    max: s.length ? s[s.length - 1] : null,
    mean: s.length ? s.reduce((a, b) => a + b, 0) / s.length : null,
  };
  if (keepRaw) {
    // a bounded sample for merging percentiles across processes and plotting
    const step = Math.max(1, Math.floor(s.length / keepRaw));
    const raw = [];
    for (let i = 0; i < s.length; i += step) raw.push(Math.round(s[i] * 1000) / 1000);
    r.sample = raw;
    r.sampleStep = step;
  }
  return r;
}

function report() {
  const cpu = process.cpuUsage(cpuAtGo || undefined);
  const wall = now() - phaseStart;
  const mem = process.memoryUsage();
  out({
    ev: "report",
    label: cfg.label,
    members: members.length,
    received,
    firstRecv,
    lastRecv,
    dupes,
    outOfOrder,
    late,
    sent,
    acked,
    ackErrors,
    firstSend,
    lastAck,
    lat: summary(lat, cfg.sample || 1000000),
    ack: summary(ackLat, cfg.sample || 1000000),
    cpu: { userMs: cpu.user / 1000, systemMs: cpu.system / 1000, wallMs: wall },
    rssMB: mem.rss / 1048576,
    errors: errorCount,
  });
}

async function handle(c) {
  switch (c.cmd) {
    case "go":
      if (members.some((m) => !m)) {
        // still connecting (or stopped part way): work with those connected
        const live = members.filter(Boolean);
        members.length = 0;
        members.push(...live);
      }
      resetCounters();
      if (c.mode === "window") await goWindow(c);
      else if (c.mode === "rate") await goRate(c);
      else if (c.mode === "listen") out({ ev: "listening" });
      break;
    case "expect":
      if (received >= c.count) out({ ev: "received", received, at: lastRecv });
      else
        expect = {
          count: c.count,
          timer: setTimeout(() => {
            expect = null;
            out({ ev: "received", received, at: lastRecv, timeout: true });
          }, c.timeout || 30000),
        };
      break;
    case "halt":
      halted = true;
      break;
    case "add":
      addMembers(c.members || []);
      break;
    case "count":
      out({ ev: "count", received, sent, acked, connected: members.filter(Boolean).length, errors: errorCount,
        presenceJoins, lastPresenceAt });
      break;
    case "report":
      report();
      break;
    case "quit":
      for (const m of members) if (m) m.socket.disconnect();
      setTimeout(() => process.exit(0), 200);
      break;
    default:
      out({ ev: "error", error: `unknown command ${c.cmd}` });
  }
}

const rl = readline.createInterface({ input: process.stdin });
rl.on("line", (line) => {
  if (!line.trim()) return;
  let c;
  try {
    c = JSON.parse(line);
  } catch {
    out({ ev: "error", error: "bad json line" });
    return;
  }
  if (!cfg) {
    cfg = c;
    connectAll().catch((e) => out({ ev: "error", error: String(e && e.stack) }));
  } else {
    handle(c).catch((e) => out({ ev: "error", error: String(e && e.stack) }));
  }
});
rl.on("close", () => process.exit(0));
// hard stop: a worker never outlives its driver by long
setTimeout(() => {
  out({ ev: "error", error: "worker lifetime exceeded, exiting" });
  process.exit(3);
}, Number(process.env.GEN_MAX_SECONDS || 900) * 1000).unref();
