// The classroom page's feedback bar (docs/protocol.md "Feedback bar"): pupils press 👍,
// "slower please", "I didn't understand" or "louder"; teachers see, per key, how many pressed
// it in the last minute. The service sends the counts (`feedback:counts`) at each press and
// again as presses fade, so the page keeps no clock of its own.

import { FeedbackKinds, ServerEvents } from './protocol.js';
import { h } from './dom.js';

const ICONS = { thumbs: '\u{1F44D}', slower: '\u{1F422}', lost: '\u2753', louder: '\u{1F50A}' };
const SENT_MS = 4000;

export class FeedbackBar {
  #counts = {};
  #teacher = false;
  #sentTimer = null;

  /**
   * @param {object} options
   * @param {HTMLElement} options.el the (empty) section to fill
   * @param {import('./protocol.js').LiveClient} options.client
   * @param {string} options.room
   * @param {object} options.t a Translator
   * @param {(key: string, params?: object) => void} options.announce
   * @param {(promise: Promise<any>) => Promise<any>} options.act runs a request, alerting on failure
   */
  constructor({ el, client, room, t, announce, act }) {
    Object.assign(this, { el, client, room, t, announce, act });
    client.on(ServerEvents.FEEDBACK_COUNTS, (detail) => {
      if (detail?.room !== room) return;
      this.#counts = detail.counts ?? {};
      this.render();
    });
  }

  /** A join ack: who this user is, and (teachers) the counts now. */
  load(ack) {
    this.#teacher = ack?.you?.role === 'teacher';
    this.#counts = ack?.feedback ?? {};
    this.el.hidden = !['teacher', 'student'].includes(ack?.you?.role);
    this.render();
  }

  render() {
    const { t } = this;
    const title = h('h2', { id: 'feedback-title', class: 'feedback-title' },
      t.t(this.#teacher ? 'feedback.counts_title' : 'feedback.title'));
    if (this.#teacher) {
      const items = Object.values(FeedbackKinds).map((kind) => {
        const count = Number(this.#counts[kind] ?? 0);
        return h('li', { class: `feedback-count${count ? ' some' : ''}`, 'data-kind': kind },
          h('span', { 'aria-hidden': 'true' }, `${ICONS[kind]} `),
          t.t('feedback.count', { name: t.t(`feedback.${kind}`), count }));
      });
      this.el.replaceChildren(title, h('ul', { class: 'feedback-counts', 'aria-live': 'polite' }, ...items));
      return;
    }
    const sent = h('p', { class: 'feedback-sent', role: 'status' });
    const buttons = Object.values(FeedbackKinds).map((kind) => {
      const button = h('button', { type: 'button', class: 'feedback-key', 'data-kind': kind },
        h('span', { 'aria-hidden': 'true' }, `${ICONS[kind]} `), t.t(`feedback.${kind}`));
      button.addEventListener('click', async () => {
        if (!(await this.act(this.client.feedback(this.room, kind)))) return;
        clearTimeout(this.#sentTimer);
        sent.textContent = t.t('feedback.sent');
        this.#sentTimer = setTimeout(() => { sent.textContent = ''; }, SENT_MS);
      });
      return button;
    });
    this.el.replaceChildren(title, h('div', { class: 'feedback-keys', role: 'group', 'aria-labelledby': 'feedback-title' }, ...buttons), sent);
  }
}
