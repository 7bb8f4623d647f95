// A lean Socket.IO member for the receive-heavy fan-out benchmark ("--client lean").
//
// Why: on a 2-core machine the receivers share one core, and socket.io-client (or even
// the `ws` library) costs more per received message than the server under test spends
// sending it. This member speaks the same protocol with much less work per message:
//   - WebSocket over a plain TCP socket (RFC 6455: HTTP/1.1 upgrade, unmasked server
//     frames parsed in place, client frames masked), no permessage-deflate offered;
//   - Engine.IO v4 (open packet, ping -> pong), Socket.IO v5 packets in MessagePack as
//     socket.io-msgpack-parser writes them;
//   - a `chat:message` packet is read by walking the msgpack bytes for the fields the
//     benchmark needs (event name, `text`, `user.id`) without building the whole object;
//     every other packet (CONNECT, ACK, other events) is decoded fully with notepack.
"use strict";

const net = require("node:net");
const crypto = require("node:crypto");
const notepack = require("notepack.io");

// ---------------------------------------------------------------- msgpack walking
// Each returns the position after the value; `hdr` fills `H` with kind and length.
const H = { kind: 0, len: 0, pos: 0 };
const K_MAP = 1, K_ARR = 2, K_STR = 3, K_OTHER = 4;

function hdr(b, p) {
  const t = b[p];
  if (t <= 0x7f || t >= 0xe0) return set(K_OTHER, 0, p + 1); // fixint
  if (t >= 0x80 && t <= 0x8f) return set(K_MAP, t & 0x0f, p + 1);
  if (t >= 0x90 && t <= 0x9f) return set(K_ARR, t & 0x0f, p + 1);
  if (t >= 0xa0 && t <= 0xbf) return set(K_STR, t & 0x1f, p + 1);
  switch (t) {
    case 0xc0: case 0xc2: case 0xc3: return set(K_OTHER, 0, p + 1);
    case 0xd9: return set(K_STR, b[p + 1], p + 2);
    case 0xda: return set(K_STR, b.readUInt16BE(p + 1), p + 3);
    case 0xdb: return set(K_STR, b.readUInt32BE(p + 1), p + 5);
    case 0xdc: return set(K_ARR, b.readUInt16BE(p + 1), p + 3);
    case 0xdd: return set(K_ARR, b.readUInt32BE(p + 1), p + 5);
    case 0xde: return set(K_MAP, b.readUInt16BE(p + 1), p + 3);
    case 0xdf: return set(K_MAP, b.readUInt32BE(p + 1), p + 5);
    case 0xcc: case 0xd0: return set(K_OTHER, 1, p + 1);
    case 0xcd: case 0xd1: return set(K_OTHER, 2, p + 1);
    case 0xca: case 0xce: case 0xd2: return set(K_OTHER, 4, p + 1);
    case 0xcb: case 0xcf: case 0xd3: return set(K_OTHER, 8, p + 1);
    case 0xc4: return set(K_OTHER, b[p + 1], p + 2); // bin8
    case 0xc5: return set(K_OTHER, b.readUInt16BE(p + 1), p + 3);
    case 0xc6: return set(K_OTHER, b.readUInt32BE(p + 1), p + 5);
    case 0xd4: return set(K_OTHER, 2, p + 1); // fixext 1 (+type byte)
    case 0xd5: return set(K_OTHER, 3, p + 1);
    case 0xd6: return set(K_OTHER, 5, p + 1);
    case 0xd7: return set(K_OTHER, 9, p + 1);
    case 0xd8: return set(K_OTHER, 17, p + 1);
    case 0xc7: return set(K_OTHER, b[p + 1] + 1, p + 2);
    case 0xc8: return set(K_OTHER, b.readUInt16BE(p + 1) + 1, p + 3);
    case 0xc9: return set(K_OTHER, b.readUInt32BE(p + 1) + 1, p + 5);
    default: throw new Error(`msgpack: bad byte 0x${t.toString(16)}`);
  }
}
function set(kind, len, pos) {
  H.kind = kind;
  H.len = len;
  H.pos = pos;
  return H;
}
function skip(b, p) {
  const h = hdr(b, p);
  let q = h.pos;
  if (h.kind === K_MAP) {
    for (let i = 0, n = h.len * 2; i < n; i++) q = skip(b, q);
    return q;
  }
  if (h.kind === K_ARR) {
    for (let i = 0, n = h.len; i < n; i++) q = skip(b, q);
    return q;
  }
  return q + h.len;
}
function keyIs(b, p, len, s) {
  if (len !== s.length) return false;
  for (let i = 0; i < len; i++) if (b[p + i] !== s.charCodeAt(i)) return false;
  return true;
}

const CHAT = "chat:message";
// -> {sender, text} for a Socket.IO EVENT `chat:message`, or null for any other packet
function peekChat(b) {
  let h = hdr(b, 0);
  if (h.kind !== K_MAP) return null;
  let n = h.len;
  let p = h.pos;
  for (let i = 0; i < n; i++) {
    h = hdr(b, p);
    if (h.kind !== K_STR) return null;
    const isData = keyIs(b, h.pos, h.len, "data");
    p = h.pos + h.len;
    if (!isData) {
      p = skip(b, p);
      continue;
    }
    h = hdr(b, p);
    if (h.kind !== K_ARR || h.len < 2) return null;
    p = h.pos;
    h = hdr(b, p);
    if (h.kind !== K_STR || !keyIs(b, h.pos, h.len, CHAT)) return null;
    p = h.pos + h.len;
    h = hdr(b, p);
    if (h.kind !== K_MAP) return null;
    let m = h.len;
    p = h.pos;
    let text = null;
    let sender = null;
    for (let j = 0; j < m; j++) {
      h = hdr(b, p);
      if (h.kind !== K_STR) return null;
      const kp = h.pos, kl = h.len;
      p = kp + kl;
      if (keyIs(b, kp, kl, "text")) {
        h = hdr(b, p);
        if (h.kind !== K_STR) return null;
        text = b.toString("utf8", h.pos, h.pos + h.len);
        p = h.pos + h.len;
      } else if (keyIs(b, kp, kl, "user")) {
        h = hdr(b, p);
        if (h.kind !== K_MAP) return null;
        const u = h.len;
        p = h.pos;
        for (let k = 0; k < u; k++) {
          h = hdr(b, p);
          const isId = h.kind === K_STR && keyIs(b, h.pos, h.len, "id");
          p = h.pos + h.len;
          if (isId) {
            h = hdr(b, p);
            if (h.kind === K_STR) sender = b.toString("utf8", h.pos, h.pos + h.len);
            p = h.pos + h.len;
          } else p = skip(b, p);
        }
      } else p = skip(b, p);
    }
    return text === null ? null : { sender, text };
  }
  return null;
}

// -> the event name of a Socket.IO EVENT packet (type 2), or null for any other packet;
// the rest of the packet is not decoded (the storm benchmark only counts `presence:join`)
function peekEventName(b) {
  let h = hdr(b, 0);
  if (h.kind !== K_MAP) return null;
  const n = h.len;
  let p = h.pos;
  let type = -1;
  let name = null;
  for (let i = 0; i < n; i++) {
    h = hdr(b, p);
    if (h.kind !== K_STR) return null;
    const kp = h.pos, kl = h.len;
    p = kp + kl;
    if (keyIs(b, kp, kl, "type")) {
      type = b[p] <= 0x7f ? b[p] : -1;
      p = skip(b, p);
    } else if (keyIs(b, kp, kl, "data")) {
      h = hdr(b, p);
      if (h.kind !== K_ARR || h.len < 1) return null;
      const first = h.pos;
      const end = skip(b, p);
      h = hdr(b, first);
      if (h.kind === K_STR) name = b.toString("utf8", h.pos, h.pos + h.len);
      p = end;
    } else p = skip(b, p);
  }
  return type === 2 ? name : null;
}

// ---------------------------------------------------------------- WebSocket
function clientFrame(opcode, payload) {
  const body = typeof payload === "string" ? Buffer.from(payload) : payload;
  const n = body.length;
  let head;
  if (n < 126) head = Buffer.from([0x80 | opcode, 0x80 | n]);
  else if (n < 65536) {
    head = Buffer.alloc(4);
    head[0] = 0x80 | opcode;
    head[1] = 0x80 | 126;
    head.writeUInt16BE(n, 2);
  } else {
    head = Buffer.alloc(10);
    head[0] = 0x80 | opcode;
    head[1] = 0x80 | 127;
    head.writeBigUInt64BE(BigInt(n), 2);
  }
  const mask = crypto.randomBytes(4);
  const out = Buffer.allocUnsafe(n);
  for (let i = 0; i < n; i++) out[i] = body[i] ^ mask[i & 3];
  return Buffer.concat([head, mask, out]);
}

// opts: {url, token, room, onChat(sender, text), onEvent(name) (other events), timeoutMs}
// resolves {ok, emit(event, data, cb), close()} or {error}
function connectLean(opts) {
  return new Promise((resolve) => {
    const u = new URL(opts.url);
    const sock = net.connect(Number(u.port || 80), u.hostname);
    sock.setNoDelay(true);
    const key = crypto.randomBytes(16).toString("base64");
    const accept = crypto.createHash("sha1")
      .update(key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11").digest("base64");
    let upgraded = false;
    let acc = null;
    let frag = null;
    let fragOp = 0;
    let done = false;
    let closing = false;
    let nextId = 0;
    const acks = new Map();
    const api = {
      emit(event, data, cb) {
        const id = nextId++;
        acks.set(id, cb);
        sock.write(clientFrame(2, notepack.encode({ type: 2, data: [event, data], nsp: "/", id })));
      },
      close() {
        closing = true;
        try {
          sock.write(clientFrame(8, Buffer.alloc(0)));
        } catch {}
        sock.end();
        setTimeout(() => sock.destroy(), 1000).unref();
      },
      get closing() {
        return closing;
      },
    };
    const finish = (ok, why) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      if (!ok) {
        closing = true;
        sock.destroy();
      }
      resolve(ok ? api : { error: why });
    };
    const timer = setTimeout(() => finish(false, "connect+join: no answer within timeout"),
      opts.timeoutMs || 30000);

    const onPacket = (op, payload) => {
      if (op === 1) {
        const s = payload.toString();
        if (s === "2") sock.write(clientFrame(1, "3"));
        else if (s[0] === "0") {
          sock.write(clientFrame(2, notepack.encode({ type: 0, nsp: "/", data: { token: opts.token } })));
        } else if (s[0] === "1") sock.destroy();
        return;
      }
      if (op === 2) {
        const chat = peekChat(payload);
        if (chat) {
          opts.onChat(chat.sender, chat.text);
          return;
        }
        if (opts.onEvent) {
          const name = peekEventName(payload);
          if (name !== null) {
            opts.onEvent(name);
            return;
          }
        }
        const p = notepack.decode(payload);
        if (typeof p.type !== "number" || typeof p.nsp !== "string") throw new Error("invalid packet");
        if (p.type === 3) {
          const cb = acks.get(p.id);
          if (cb) {
            acks.delete(p.id);
            cb(...p.data);
          }
        } else if (p.type === 0) {
          api.emit("join", { room: opts.room }, (ack) => {
            if (ack && ack.ok) finish(true);
            else finish(false, `join ${JSON.stringify(ack)}`);
          });
        } else if (p.type === 4) finish(false, `connect_error ${JSON.stringify(p.data)}`);
        return;
      }
      if (op === 8) sock.end();
      else if (op === 9) sock.write(clientFrame(10, payload));
    };

    const onFrames = () => {
      while (acc && acc.length >= 2) {
        const b0 = acc[0];
        let len = acc[1] & 0x7f;
        let off = 2;
        if (len === 126) {
          if (acc.length < 4) return;
          len = acc.readUInt16BE(2);
          off = 4;
        } else if (len === 127) {
          if (acc.length < 10) return;
          len = Number(acc.readBigUInt64BE(2));
          off = 10;
        }
        if (acc[1] & 0x80) throw new Error("masked frame from server");
        if (acc.length < off + len) return;
        const payload = acc.subarray(off, off + len);
        acc = acc.length === off + len ? null : acc.subarray(off + len);
        const op = b0 & 0x0f;
        const fin = b0 & 0x80;
        if (op === 0) {
          frag.push(payload);
          if (fin) {
            const whole = Buffer.concat(frag);
            frag = null;
            onPacket(fragOp, whole);
          }
        } else if (!fin) {
          frag = [payload];
          fragOp = op;
        } else onPacket(op, payload);
      }
    };

    sock.on("data", (chunk) => {
      acc = acc ? Buffer.concat([acc, chunk]) : chunk;
      if (!upgraded) {
        const end = acc.indexOf("\r\n\r\n");
        if (end < 0) return;
        const head = acc.toString("latin1", 0, end);
        if (!/^HTTP\/1\.1 101/.test(head) || !head.includes(accept)) {
          finish(false, `upgrade refused: ${head.split("\r\n")[0]}`);
          return;
        }
        upgraded = true;
        acc = acc.length > end + 4 ? acc.subarray(end + 4) : null;
      }
      try {
        onFrames();
      } catch (e) {
        finish(false, `protocol: ${e.message}`);
        sock.destroy();
      }
    });
    sock.on("error", (e) => finish(false, `socket error ${e.message}`));
    sock.on("close", () => {
      if (!done) finish(false, "closed");
      else if (!closing && opts.onClose) opts.onClose();
    });
    sock.on("connect", () => {
      sock.write(
        `GET ${u.pathname.replace(/\/$/, "")}/socket.io/?EIO=4&transport=websocket HTTP/1.1\r\n` +
        `Host: ${u.host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
        `Sec-WebSocket-Key: ${key}\r\nSec-WebSocket-Version: 13\r\n\r\n`,
      );
    });
  });
}

module.exports = { connectLean, peekChat, peekEventName };
