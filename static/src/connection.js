// One Socket.IO connection to the service (MessagePack on the wire), apart from what is said
// over it: protocol.js names the events, this module carries them.
//
// It tracks the connection's state (connecting | online | reconnecting | offline, the browser's
// own online/offline included), turns an ack into a Promise (`{ok: true, ...}` resolves,
// anything else rejects with a LiveError carrying the code) and tells a refused token apart
// from a network failure. Every (re)connection gets a new epoch; work started for an older
// epoch checks `current(epoch)` and stops. A subclass hooks in through `resume(epoch)` (a
// connection opened) and `received(event, payload)` (the service sent an event).
//
// Sessions end with their token (docs/protocol.md "Sessions and renewal"): a while before the
// token's `exp` (60 s, or the last fifth of a shorter token's life) it dispatches
// TOKEN_EXPIRING {exp}, once per token; whoever holds a fresh token hands it to `renew` (a
// LiveClient method). When the service ends the session, `expired()` turns that into an
// AUTH_ERROR {code: 'expired'}; setting `token` afterwards connects again.

import { io } from 'socket.io-client';
import msgpackParser from 'socket.io-msgpack-parser';
import { decodeToken } from './token.js';

export const DEFAULT_TIMEOUT_MS = 10_000;
/** How long before its `exp` a token is renewed: 60 s, or the last fifth of a shorter life. */
export const RENEW_LEAD_S = 60;
export const RENEW_SHARE = 0.2;
const MAX_TIMER_MS = 2 ** 31 - 1;
const TRANSIENT_CODES = new Set(['timeout', 'disconnected', 'unavailable']);

/** What a Connection itself dispatches (protocol.js lists them with the rest as LocalEvents). */
export const ConnectionEvents = Object.freeze({
  /** `{state, previous}`: state is connecting | online | reconnecting | offline */
  STATE: 'state',
  /** `{code, message}`: the service refused the token (unauthorized | expired) */
  AUTH_ERROR: 'auth-error',
  /** `{reason}`: the service ended the connection; no automatic reconnect */
  CLOSED: 'closed',
  /** `{exp}`: the token ends soon (at `exp`, seconds since the epoch); renew it */
  TOKEN_EXPIRING: 'token-expiring',
});

/**
 * When to ask for a fresh token: milliseconds since the epoch, or null for a token without `exp`.
 * @param {Record<string, unknown> | null} claims
 */
export function renewalDue(claims) {
  if (typeof claims?.exp !== 'number') return null;
  const life = typeof claims.iat === 'number' ? claims.exp - claims.iat : Infinity;
  const lead = Math.min(RENEW_LEAD_S, Math.max(0, life) * RENEW_SHARE);
  return (claims.exp - lead) * 1000;
}

/** An error answered by the service (`ack.error.code`) or met on the way (`timeout`, `disconnected`). */
export class LiveError extends Error {
  /** @param {string} code @param {string} [message] */
  constructor(code, message) {
    super(message || code);
    this.name = 'LiveError';
    /** @type {string} */
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

function withoutUndefined(payload) {
  return Object.fromEntries(Object.entries(payload).filter(([, v]) => v !== undefined));
}

export class Connection extends EventTarget {
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
  #expiringTimer = null;
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
  /** The underlying socket.io-client Socket, for what this class does not wrap. */
  get socket() { return this.#socket; }
  get token() { return this.#token; }
  /** Whether close() ended this connection for good. */
  get closed() { return this.#closed; }

  /** Use a fresh token from the next (re)connect on; reconnects if the old one was refused. */
  set token(token) {
    this.#token = token;
    this.#watchExpiry();
    if (this.#socket && !this.#socket.active && !this.#closed) {
      this.#authError = null;
      this.#setState(this.#everConnected ? 'reconnecting' : 'connecting');
      this.#socket.connect();
    }
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
    socket.onAny((event, payload) => this.received(event, payload));
    this.#socket = socket;
    globalThis.addEventListener?.('online', this.#onBrowserOnline);
    globalThis.addEventListener?.('offline', this.#onBrowserOffline);
    this.#setState('connecting');
    this.#watchExpiry();
    socket.connect();
    return this;
  }

  /** Disconnect for good. */
  close() {
    this.#closed = true;
    this.#epoch += 1;
    clearTimeout(this.#expiringTimer);
    globalThis.removeEventListener?.('online', this.#onBrowserOnline);
    globalThis.removeEventListener?.('offline', this.#onBrowserOffline);
    const socket = this.#socket;
    this.#socket = null;
    socket?.offAny();
    socket?.disconnect();
    this.#setState('offline');
  }

  /**
   * Listen to an event of this connection; `handler` gets its payload. Returns what stops it.
   * @param {string} type
   * @param {(detail: any) => void} handler
   * @returns {() => void}
   */
  on(type, handler) {
    const listener = (event) => handler(event.detail);
    this.addEventListener(type, listener);
    return () => this.removeEventListener(type, listener);
  }

  /** Whether `epoch` is still the current connection's (nothing reconnected or closed since). */
  current(epoch) {
    return epoch === this.#epoch;
  }

  /**
   * Send one event and resolve with its `{ok: true}` ack. Rejects with a LiveError: the ack's
   * error code, or `timeout` / `disconnected`. Fields that are undefined are left out.
   * @param {string} event
   * @param {object} payload
   * @param {{timeout?: number, wait?: boolean}} [options] wait: first wait until online
   * @returns {Promise<{ok: true} & Record<string, any>>}
   */
  async ask(event, payload, { timeout = this.timeout, wait = true } = {}) {
    if (wait) await this.#whenOnline(timeout);
    const socket = this.#socket;
    if (!socket?.connected) throw new LiveError('disconnected', 'not connected');
    let ack;
    try {
      ack = await socket.timeout(timeout).emitWithAck(event, withoutUndefined(payload));
    } catch (error) {
      const code = /disconnected/.test(String(error?.message)) ? 'disconnected' : 'timeout';
      throw new LiveError(code, `${event}: ${error?.message ?? code}`);
    }
    if (ack === null || typeof ack !== 'object') {
      throw new LiveError('bad_response', `${event}: unexpected ack`);
    }
    if (ack.ok !== true) {
      const error = ack.error ?? {};
      const failure = new LiveError(typeof error.code === 'string' ? error.code : 'unknown', error.message);
      // the message filter's rules that refused or held a message (docs/protocol.md "Message filter")
      if (typeof error.reason === 'string') failure.reason = error.reason;
      throw failure;
    }
    return ack;
  }

  dispatch(type, detail) {
    this.dispatchEvent(new CustomEvent(type, { detail }));
  }

  /**
   * A connection opened (epoch `epoch`). Return a promise to stay `reconnecting` until it
   * settles (e.g. rooms are re-joined), or null to be online at once.
   * @param {number} epoch
   * @returns {Promise<unknown> | null}
   */
  resume(epoch) {
    return null;
  }

  /**
   * The service ended the session with its token (`auth:expired`): an AUTH_ERROR {code:
   * 'expired'}; a new `token` connects again.
   */
  expired() {
    this.#authError = { code: 'expired', message: 'the session has ended with its token' };
    this.dispatch(ConnectionEvents.AUTH_ERROR, this.#authError);
  }

  /** The service sent `event`: dispatched under its own name. */
  received(event, payload) {
    this.dispatch(event, payload);
  }

  #setState(state) {
    if (state === this.#state) return;
    const previous = this.#state;
    this.#state = state;
    this.dispatch(ConnectionEvents.STATE, { state, previous });
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
        this.removeEventListener(ConnectionEvents.STATE, onState);
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
      this.addEventListener(ConnectionEvents.STATE, onState);
    });
  }

  #connected() {
    this.#epoch += 1;
    const epoch = this.#epoch;
    this.#authError = null;
    this.#everConnected = true;
    const resuming = this.resume(epoch);
    if (!resuming) {
      this.#setState('online');
      return;
    }
    this.#setState('reconnecting');
    resuming.finally(() => {
      if (epoch === this.#epoch && this.#socket?.connected) this.#setState('online');
    });
  }

  #disconnected(reason) {
    this.#epoch += 1;
    if (this.#closed || reason === 'io client disconnect') {
      this.#setState('offline');
    } else if (!this.#socket?.active) {
      this.#setState('offline');
      this.dispatch(ConnectionEvents.CLOSED, { reason });
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
    this.dispatch(ConnectionEvents.AUTH_ERROR, this.#authError);
  }

  /** TOKEN_EXPIRING once, when the current token is due for renewal. */
  #watchExpiry() {
    clearTimeout(this.#expiringTimer);
    const claims = decodeToken(this.#token);
    const due = renewalDue(claims);
    if (due === null || this.#closed) return;
    const token = this.#token;
    const wait = due - Date.now();
    this.#expiringTimer = setTimeout(() => {
      if (token !== this.#token || this.#closed) return;
      if (Date.now() < due) this.#watchExpiry(); // a timer is capped at about 24 days
      else this.dispatch(ConnectionEvents.TOKEN_EXPIRING, { exp: claims.exp });
    }, Math.min(Math.max(0, wait), MAX_TIMER_MS));
  }

  #browserOffline() {
    this.#setState('offline');
  }

  #browserOnline() {
    if (this.#state !== 'offline' || this.#closed || this.#authError) return;
    if (this.#socket?.connected) this.#setState('online');
    else if (this.#socket?.active) this.#setState(this.#everConnected ? 'reconnecting' : 'connecting');
  }
}
