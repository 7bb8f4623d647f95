// What the teacher console and the classroom page share: their alert box (#alert), the
// screen-reader announcer (#announcer), error reasons and the connection status line
// (#status), all in the page's language `t`; and how their session goes on with a fresh token
// (docs/protocol.md "Sessions and renewal").

import { LocalEvents } from './protocol.js';
import { acceptTokens, askHost, clockTime, hostGraceMs, keepToken, tokenHost } from './session.js';

const $ = (id) => document.getElementById(id);

export function pageVoice(t) {
  /** Show a message in the page's alert box. */
  function alertText(key, params) {
    const box = $('alert');
    box.textContent = t.t(key, params);
    box.dataset.key = key;
    box.hidden = false;
  }

  /** The words for an error ack's code (or "unknown"). */
  function reason(error) {
    const code = error?.code;
    return t.has(`error.${code}`) ? t.t(`error.${code}`) : t.t('error.unknown');
  }

  /** Say something to screen readers (the announcer is emptied first so a repeat is read). */
  function announce(key, params) {
    const box = $('announcer');
    box.textContent = '';
    setTimeout(() => { box.textContent = t.t(key, params); }, 50);
  }

  /** Keep the status line and the alert box in step with the client's connection. */
  function showConnection(client) {
    client.on(LocalEvents.STATE, (detail) => { $('status').textContent = t.t(`status.${detail.state}`); });
    client.on(LocalEvents.AUTH_ERROR, (detail) => {
      alertText(detail.code === 'expired' ? 'session.ended' : 'status.unauthorized');
    });
  }

  /**
   * Keep the session going: before the token expires, ask the window that opened (or frames)
   * the page for a fresh one; renew the client with it, keep it for a reload and hand it to
   * `onToken`. With no such window, or none answering in time, say when the session ends.
   * @param {import('./protocol.js').LiveClient} client
   * @param {(token: string) => void} [onToken]
   */
  function keepSession(client, onToken = () => {}) {
    const host = tokenHost();
    let warnTimer = null;
    client.on(LocalEvents.TOKEN_EXPIRING, ({ exp }) => {
      const warn = () => {
        if (exp * 1000 > Date.now()) alertText('session.ends_at', { time: clockTime(exp, t.lang) });
      };
      clearTimeout(warnTimer);
      if (askHost(host)) warnTimer = setTimeout(warn, hostGraceMs(exp));
      else warn();
    });
    acceptTokens(host, async (token) => {
      try {
        await client.renew(token);
      } catch (error) {
        alertText('console.failed', { reason: reason(error) });
        return;
      }
      clearTimeout(warnTimer);
      keepToken(token);
      const box = $('alert');
      if (box.dataset.key === 'session.ends_at' || box.dataset.key === 'session.ended') box.hidden = true;
      onToken(token);
    });
  }

  return { alertText, reason, announce, showConnection, keepSession };
}
