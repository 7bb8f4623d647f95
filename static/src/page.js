// What the teacher console and the classroom page share: their alert box (#alert), the
// screen-reader announcer (#announcer), error reasons and the connection status line
// (#status), all in the page's language `t`.

import { LocalEvents } from './protocol.js';

const $ = (id) => document.getElementById(id);

export function pageVoice(t) {
  /** Show a message in the page's alert box. */
  function alertText(key, params) {
    const box = $('alert');
    box.textContent = t.t(key, params);
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
    client.on(LocalEvents.AUTH_ERROR, (detail) => alertText(`status.${detail.code === 'expired' ? 'expired' : 'unauthorized'}`));
  }

  return { alertText, reason, announce, showConnection };
}
