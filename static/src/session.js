// Keeping a session alive through the window that holds the platform's tokens
// (docs/protocol.md "Sessions and renewal").
//
// A page of the service asks the window that embeds it (`window.parent`, for /embed/chat) or
// opened it (`window.opener`, for /room/R and /console) for a fresh token with a postMessage
// `{type: 'twinspace-live:token-expiring'}`, sent only to the allowed origins: the page's own
// and LIVE_ALLOWED_ORIGINS, which the service writes into `<meta name="twinspace-live-origins">`.
// It takes `{type: 'twinspace-live:token', token}` only from that window and those origins.
//
// The pages keep their token in the tab's sessionStorage (never localStorage), under the
// page's path, so a reload keeps the session (an ended one says so again: the platform's link
// gives a new token); the URL fragment is wiped once read (dom.js).

import { takeToken } from './dom.js';

export const HostMessages = Object.freeze({
  /** page -> host: the session ends soon, send a fresh token */
  TOKEN_EXPIRING: 'twinspace-live:token-expiring',
  /** host -> page: `{type, token}` */
  TOKEN: 'twinspace-live:token',
  /** page -> host: `{type, count}`, messages arrived unseen (docs/protocol.md "The host page knows") */
  UNREAD: 'twinspace-live:unread',
  /** page -> host: `{type, id, room, from, text}`, a message naming the user */
  MENTION: 'twinspace-live:mention',
});

/** How long a host may take to answer before the user is told when the session ends. */
export const HOST_GRACE_MS = 15_000;

/** The origins a page talks to about tokens: its own and the service's allowed ones. */
export function allowedOrigins() {
  const meta = document.querySelector('meta[name="twinspace-live-origins"]');
  const listed = String(meta?.getAttribute('content') ?? '').split(/\s+/).filter(Boolean);
  return new Set([location.origin, ...listed]);
}

/** The window that holds the tokens: the parent of a framed page, else the opener (or null). */
export function tokenHost() {
  if (window.parent && window.parent !== window) return window.parent;
  const opener = window.opener;
  return opener && !opener.closed && opener !== window ? opener : null;
}

/**
 * Ask `host` for a fresh token, at each allowed origin (a window of another origin never gets
 * it). Whether there was a host to ask.
 * @param {Window | null} host
 */
export function askHost(host, origins = allowedOrigins()) {
  return tellHost(host, { type: HostMessages.TOKEN_EXPIRING }, origins);
}

/**
 * Post `message` to `host` at each allowed origin (the browser hands it over only if the host
 * is at one of them). Whether there was a host to tell.
 * @param {Window | null} host
 * @param {object} message
 */
export function tellHost(host, message, origins = allowedOrigins()) {
  if (!host || host.closed) return false;
  for (const origin of origins) {
    try {
      host.postMessage(message, origin);
    } catch {
      // an origin the browser cannot parse: nobody there to tell
    }
  }
  return true;
}

/**
 * Call `onToken(token)` for each token `host` sends from an allowed origin; anything else is
 * ignored. Returns what stops listening.
 * @param {Window | null} host
 * @param {(token: string) => void} onToken
 */
export function acceptTokens(host, onToken, origins = allowedOrigins()) {
  const listener = (event) => {
    if (!host || event.source !== host || !origins.has(event.origin)) return;
    const data = event.data;
    if (data === null || typeof data !== 'object' || data.type !== HostMessages.TOKEN) return;
    if (typeof data.token === 'string' && data.token) onToken(data.token);
  };
  window.addEventListener('message', listener);
  return () => window.removeEventListener('message', listener);
}

/** How long to wait for a host's token before warning: 15 s, or half the time left. */
export function hostGraceMs(exp, now = Date.now()) {
  return Math.max(0, Math.min(HOST_GRACE_MS, (exp * 1000 - now) / 2));
}

/** `exp` (seconds since the epoch) as a time of day in `lang`, e.g. "14:05". */
export function clockTime(exp, lang) {
  return new Intl.DateTimeFormat(lang, { hour: '2-digit', minute: '2-digit' }).format(new Date(exp * 1000));
}

const storageKey = (path = location.pathname) => `twinspace-live:token:${path}`;

/** The page's token: from the URL fragment (then kept in the tab), else the one kept before. */
export function pageToken() {
  const fresh = takeToken();
  if (fresh) {
    keepToken(fresh);
    return fresh;
  }
  try {
    return sessionStorage.getItem(storageKey());
  } catch {
    return null; // storage disabled
  }
}

/** Keep `token` for a reload of this page (or of the page at `path`) in this tab. */
export function keepToken(token, path = location.pathname) {
  try {
    sessionStorage.setItem(storageKey(path), token);
  } catch {
    // storage disabled or full: a reload will need the link again
  }
}
