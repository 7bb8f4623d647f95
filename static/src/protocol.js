// The twinspace-live protocol client, apart from any UI.
//
// LiveClient wraps one Socket.IO connection (MessagePack on the wire) and turns the contract's
// acks into Promises. It keeps the rooms it joined, re-joins them after a reconnect, fetches the
// messages missed meanwhile and never dispatches the same message twice.
//
// Events dispatched (all CustomEvent, payload in `detail`):
//   state          {state, previous}  state: connecting | online | reconnecting | offline
//   auth-error     {code, message}    the service refused the token (unauthorized | expired)
//   closed         {reason}           the service ended the connection; no automatic reconnect
//   joined         {room, ack, rejoined}
//   rejoin-failed  {room, error}      a room could not be re-joined after a reconnect
//   sync-error     {room, error}      missed messages could not all be fetched after a reconnect
//   chat:message   a message, once per id (live, or missed and fetched after a reconnect)
//   any other server event under its own name (chat:deleted, presence:*, typing, poll:*, mod:*,
//   room:locked, rtc:*), payload unchanged.

import { io } from 'socket.io-client';
import msgpackParser from 'socket.io-msgpack-parser';
import { decodeToken } from './token.js';
import {
  HISTORY_PAGE_MAX, JOIN_PAGE_SIZE, RoomTrack, compareIds, isMessage, pageAfter, vanishedIds,
} from './catch-up.js';

export { HISTORY_PAGE_MAX, JOIN_PAGE_SIZE, compareIds };
export const DEFAULT_TIMEOUT_MS = 10_000;
const SEND_ATTEMPTS = 5;
const REJOIN_ATTEMPTS = 3;
const TRANSIENT_CODES = new Set(['timeout', 'disconnected', 'unavailable']);

/** An error answered by the service (`ack.error.code`) or met on the way (`timeout`, `disconnected`). */
export class LiveError extends Error {
  /** @param {string} code @param {string} [message] */
  constructor(code, message) {
    super(message || code);
    this.name = 'LiveError';
    this.code = code;
  }
}

/** Whether trying the same request again later may succeed. */
export function isTransient(error) {
  return TRANSIENT_CODES.has(error?.code);
}

/** The origin this script was loaded from: the service, wherever the page itself lives. */
export function defaultServerUrl() {
  return new URL(import.meta.url).origin;
}

/** A random UUID v4, also outside secure contexts (where crypto.randomUUID is missing). */
export function newCid() {
  if (typeof crypto.randomUUID === 'function') return crypto.randomUUID();
  const b = crypto.getRandomValues(new Uint8Array(16));
  b[6] = (b[6] & 0x0f) | 0x40;
  b[8] = (b[8] & 0x3f) | 0x80;
  const hex = Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

function withoutUndefined(payload) {
  return Object.fromEntries(Object.entries(payload).filter(([, v]) => v !== undefined));
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

export class LiveClient extends EventTarget {
  #token;
  #url;
  #path;
  #transports;
  #socket = null;
  #state = 'offline';
  #authError = null;
  #everConnected = false;
  #closed = false;
  #epoch = 0;
  /** @type {Set<string>} rooms joined, re-joined after a reconnect */
  #rooms = new Set();
  /** @type {Map<string, RoomTrack>} */
  #tracks = new Map();
  #onBrowserOnline = () => this.#browserOnline();
  #onBrowserOffline = () => this.#browserOffline();

  /**
   * @param {object} options
   * @param {string} options.token the platform's signed token
   * @param {string} [options.url] the service's origin (a path is ignored); default: this
   *   script's origin
   * @param {string} [options.path] default `/socket.io/`
   * @param {number} [options.timeout] ack timeout in milliseconds
   * @param {string[]} [options.transports] Socket.IO transports, default polling then websocket
   */
  constructor({ token, url, path = '/socket.io/', timeout = DEFAULT_TIMEOUT_MS, transports } = {}) {
    super();
    this.#token = token;
    this.#url = new URL(url || defaultServerUrl(), globalThis.location?.href).origin;
    this.#path = path;
    this.#transports = transports;
    this.timeout = timeout;
  }

  /** connecting | online | reconnecting | offline */
  get state() { return this.#state; }
  /** `{code, message}` when the service refused the token, else null. */
  get authError() { return this.#authError; }
  /** The token's (unverified) claims. */
  get identity() { return decodeToken(this.#token); }
  get userId() { return this.identity?.sub ?? null; }
  get rooms() { return [...this.#rooms]; }
  /** The underlying socket.io-client Socket, for what this class does not wrap. */
  get socket() { return this.#socket; }
  get token() { return this.#token; }

  /** Use a fresh token from the next (re)connect on; reconnects if the old one was refused. */
  set token(token) {
    this.#token = token;
    if (this.#socket && !this.#socket.active && !this.#closed) {
      this.#authError = null;
      this.#setState(this.#everConnected ? 'reconnecting' : 'connecting');
      this.#socket.connect();
    }
  }

  /** The newest message id seen in a room, or null. */
  lastMessageId(room) {
    return this.#tracks.get(room)?.lastId ?? null;
  }

  connect() {
    if (this.#socket) {
      if (!this.#socket.active) this.#socket.connect();
      return this;
    }
    this.#closed = false;
    const socket = io(this.#url, {
      path: this.#path,
      parser: msgpackParser,
      auth: (cb) => cb({ token: this.#token }),
      ...(this.#transports ? { transports: this.#transports } : {}),
      forceNew: true,
      autoConnect: false,
      reconnectionDelay: 500,
      reconnectionDelayMax: 5000,
    });
    socket.on('connect', () => this.#connected());
    socket.on('disconnect', (reason) => this.#disconnected(reason));
    socket.on('connect_error', (error) => this.#connectFailed(error));
    socket.onAny((event, payload) => this.#serverEvent(event, payload));
    this.#socket = socket;
    globalThis.addEventListener?.('online', this.#onBrowserOnline);
    globalThis.addEventListener?.('offline', this.#onBrowserOffline);
    this.#setState('connecting');
    socket.connect();
    return this;
  }

  /** Disconnect for good; the rooms are left. */
  close() {
    this.#closed = true;
    this.#epoch += 1;
    this.#rooms.clear();
    globalThis.removeEventListener?.('online', this.#onBrowserOnline);
    globalThis.removeEventListener?.('offline', this.#onBrowserOffline);
    const socket = this.#socket;
    this.#socket = null;
    socket?.offAny();
    socket?.disconnect();
    this.#setState('offline');
  }

  /**
   * Send any client-to-server event of the contract and resolve with its `{ok: true}` ack.
   * Rejects with a LiveError: the ack's error code, or `timeout` / `disconnected`.
   * @param {string} event
   * @param {object} payload fields that are undefined are left out
   * @param {{timeout?: number, wait?: boolean}} [options] wait: first wait until online
   */
  async request(event, payload = {}, { timeout = this.timeout, wait = true } = {}) {
    if (wait) await this.#whenOnline(timeout);
    return this.#emit(event, withoutUndefined(payload), timeout);
  }

  /** Join a room: `{ok, room, you, members, messages, polls, streams, locked}`. */
  async join(room) {
    const ack = await this.request('join', { room });
    const track = this.#track(room);
    for (const message of ack.messages ?? []) if (isMessage(message)) track.note(message.id);
    this.#rooms.add(room);
    this.#dispatch('joined', { room, ack, rejoined: false });
    return ack;
  }

  async leave(room) {
    this.#rooms.delete(room);
    const ack = await this.request('leave', { room });
    this.#tracks.delete(room);
    return ack;
  }

  /**
   * Send a chat message: `{ok, message}`. A timeout or a lost connection retries with the same
   * `cid`, so the service stores and delivers the message once.
   */
  async send(room, text, { cid = newCid(), attempts = SEND_ATTEMPTS } = {}) {
    for (let attempt = 1; ; attempt += 1) {
      try {
        const ack = await this.request('chat:send', { room, text, cid });
        if (isMessage(ack.message) && this.#track(ack.message.room).note(ack.message.id)) {
          this.#dispatch('chat:message', ack.message);
        }
        return ack;
      } catch (error) {
        if (!isTransient(error) || attempt >= attempts || this.#closed) throw error;
        await sleep(Math.min(500 * 2 ** (attempt - 1), 4000));
      }
    }
  }

  /**
   * A page of history: `{ok, messages, more}`, oldest first. The messages are marked as seen
   * but not dispatched: the caller renders them.
   */
  async history(room, { before, after, limit } = {}) {
    const ack = await this.request('chat:history', { room, before, after, limit });
    const track = this.#track(room);
    for (const message of ack.messages ?? []) if (isMessage(message)) track.note(message.id);
    return ack;
  }

  deleteMessage(room, id) {
    return this.request('chat:delete', { room, id });
  }

  /** Typing notices are worthless late: sent only while online, never queued. */
  typing(room, typing) {
    return this.request('typing', { room, typing: Boolean(typing) }, { wait: false });
  }

  hand(room, raised) {
    return this.request('hand', { room, raised: Boolean(raised) });
  }

  #track(room) {
    let track = this.#tracks.get(room);
    if (!track) {
      track = new RoomTrack();
      this.#tracks.set(room, track);
    }
    return track;
  }

  #dispatch(type, detail) {
    this.dispatchEvent(new CustomEvent(type, { detail }));
  }

  #setState(state) {
    if (state === this.#state) return;
    const previous = this.#state;
    this.#state = state;
    this.#dispatch('state', { state, previous });
  }

  async #emit(event, payload, timeout) {
    const socket = this.#socket;
    if (!socket?.connected) throw new LiveError('disconnected', 'not connected');
    let ack;
    try {
      ack = await socket.timeout(timeout).emitWithAck(event, payload);
    } catch (error) {
      const code = /disconnected/.test(String(error?.message)) ? 'disconnected' : 'timeout';
      throw new LiveError(code, `${event}: ${error?.message ?? code}`);
    }
    if (ack === null || typeof ack !== 'object') {
      throw new LiveError('bad_response', `${event}: unexpected ack`);
    }
    if (ack.ok !== true) {
      const error = ack.error ?? {};
      throw new LiveError(typeof error.code === 'string' ? error.code : 'unknown', error.message);
    }
    return ack;
  }

  #whenOnline(timeout) {
    const failure = () => {
      if (this.#authError) return new LiveError(this.#authError.code, this.#authError.message);
      if (this.#closed || !this.#socket?.active) return new LiveError('disconnected', 'not connected');
      return null;
    };
    if (this.#state === 'online') return Promise.resolve();
    const early = failure();
    if (early) return Promise.reject(early);
    return new Promise((resolve, reject) => {
      const cleanup = () => {
        clearTimeout(timer);
        this.removeEventListener('state', onState);
      };
      const onState = () => {
        if (this.#state === 'online') {
          cleanup();
          resolve();
          return;
        }
        const error = failure();
        if (error) {
          cleanup();
          reject(error);
        }
      };
      const timer = setTimeout(() => {
        cleanup();
        reject(new LiveError('timeout', 'not connected in time'));
      }, timeout);
      this.addEventListener('state', onState);
    });
  }

  #connected() {
    this.#epoch += 1;
    const epoch = this.#epoch;
    this.#authError = null;
    this.#everConnected = true;
    if (this.#rooms.size === 0) {
      this.#setState('online');
      return;
    }
    this.#setState('reconnecting');
    this.#resync(epoch).finally(() => {
      if (epoch === this.#epoch && this.#socket?.connected) this.#setState('online');
    });
  }

  #disconnected(reason) {
    this.#epoch += 1;
    if (this.#closed || reason === 'io client disconnect') {
      this.#setState('offline');
    } else if (!this.#socket?.active) {
      this.#setState('offline');
      this.#dispatch('closed', { reason });
    } else {
      this.#setState(globalThis.navigator?.onLine === false ? 'offline' : 'reconnecting');
    }
  }

  #connectFailed(error) {
    if (this.#socket?.active) {
      // A network or transport failure: socket.io-client keeps trying.
      if (globalThis.navigator?.onLine === false) this.#setState('offline');
      else this.#setState(this.#everConnected ? 'reconnecting' : 'connecting');
      return;
    }
    const data = error?.data !== null && typeof error?.data === 'object' ? error.data : {};
    const text = String(error?.message ?? '');
    const code = typeof data.code === 'string' ? data.code
      : /expired/i.test(text) ? 'expired' : 'unauthorized';
    this.#authError = { code, message: typeof data.message === 'string' ? data.message : text };
    this.#setState('offline');
    this.#dispatch('auth-error', this.#authError);
  }

  #browserOffline() {
    this.#setState('offline');
  }

  #browserOnline() {
    if (this.#state !== 'offline' || this.#closed || this.#authError) return;
    if (this.#socket?.connected) this.#setState('online');
    else if (this.#socket?.active) this.#setState(this.#everConnected ? 'reconnecting' : 'connecting');
  }

  #serverEvent(event, payload) {
    if (event === 'chat:message') {
      if (!isMessage(payload) || !this.#track(payload.room).note(payload.id)) return;
    } else if (event === 'mod:kicked' && payload && this.#isMe(payload.user)) {
      this.#rooms.delete(payload.room);
    }
    this.#dispatch(event, payload);
  }

  #isMe(user) {
    const id = user !== null && typeof user === 'object' ? user.id : user;
    return id !== undefined && id === this.userId;
  }

  /** After a reconnect: re-join every room, then fetch and dispatch what was missed. */
  async #resync(epoch) {
    for (const room of [...this.#rooms]) {
      if (epoch !== this.#epoch) return;
      const track = this.#track(room);
      const known = [...track.seen];
      const cursor = track.lastId;
      const ack = await this.#rejoin(room, epoch);
      if (!ack || epoch !== this.#epoch) continue;
      this.#dispatch('joined', { room, ack, rejoined: true });
      const joinPage = (ack.messages ?? []).filter(isMessage);
      for (const id of vanishedIds(known, joinPage)) this.#dispatch('chat:deleted', { room, id });
      const missed = [...joinPage];
      if (cursor !== null) {
        try {
          const emit = (event, payload) => this.#emit(event, payload, this.timeout);
          missed.push(...(await pageAfter(emit, room, cursor, () => epoch === this.#epoch)));
        } catch (error) {
          this.#dispatch('sync-error', { room, error });
        }
      }
      missed.sort((a, b) => compareIds(a.id, b.id));
      for (const message of missed) {
        if (track.note(message.id)) this.#dispatch('chat:message', message);
      }
    }
  }

  async #rejoin(room, epoch) {
    for (let attempt = 1; ; attempt += 1) {
      try {
        return await this.#emit('join', { room }, this.timeout);
      } catch (error) {
        if (epoch !== this.#epoch) return null;
        if (isTransient(error) && attempt < REJOIN_ATTEMPTS) {
          await sleep(500 * attempt);
          continue;
        }
        // A refusal (banned, forbidden, ...) ends the membership; trouble on the way leaves the
        // room for the next reconnect to try again.
        if (!isTransient(error)) this.#rooms.delete(room);
        this.#dispatch('rejoin-failed', { room, error });
        return null;
      }
    }
  }
}
